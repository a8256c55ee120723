"""Every setting of the workflow, in one place: its type, default, bounds, documentation and
cross-field checks, as documented dataclasses (pydantic dataclasses, in the manner of
EleutherAI/sparsify's config classes).

- The defaults are the offline default run (what ``snakemake --cores 2`` runs); each docstring
  gives the paper's value where it differs. ``config/config.yaml`` writes them out in full
  (``python -m polyrot.settings yaml``); ``config/paper.yaml`` and ``config/test.yaml`` are
  overlays that hold only what they change, and ``null`` switches a section off.
- Bounds are pydantic ``Field`` constraints; unknown keys are refused (``extra="forbid"``).
- Cross-field checks live in each class's ``__post_init__`` (within the class) or in
  ``Settings.__post_init__`` (across sections). They raise ``Problems``, each naming its key
  relative to the class; ``polyrot.config`` adds the section's path.
- A setting that cannot change any output carries ``no_output`` (why) in its field's
  ``json_schema_extra``: no rule declares it, so changing it reruns nothing.
- The JSON schema for editors is generated (``python -m polyrot.settings schema``), and the
  command lines take their options and defaults from these classes (``add_options``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import sys
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True)

Device = Literal["auto", "cpu", "cuda"]
Checkpoint = Literal["best", "final"]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
Name = Annotated[str, Field(min_length=1)]


class Problems(ValueError):
    """Cross-field problems of one settings class: (key relative to the class, message).

    A message refers to another key of the class as ``@key``; ``polyrot.config`` writes both
    with the class's path (``cohorts.A.anchor``)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))
        self.problems = problems


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise Problems(problems)


def _no_output(why: str) -> dict[str, str]:
    return {"no_output": why}


# ----------------------------------------------------------------------------------- the task
@dataclass(frozen=True, config=_CONFIG)
class TaskConfig:
    """The Dyck-3 task (docs/methods.md §2): training mixture, analysis batch and held-out sets."""

    train_min_len: int = Field(2, ge=1, le=62)
    """Shortest training content."""
    train_max_len: int = Field(62, ge=1, le=62)
    """Longest training content (context 64 = BOS + 62 + EOS)."""
    p_valid: float = Field(0.5, ge=0, le=1)
    """Probability that a sequence's content is a valid Dyck string."""
    p_open: float = Field(0.55, gt=0, lt=1)
    """Probability of opening while depth allows."""
    analysis_n: int = Field(1024, ge=1)
    """Sequences in the fixed analysis batch (paper 1024)."""
    analysis_seed: int = Field(20260501, ge=0)
    """Generator seed of the analysis batch."""
    heldout_n: int = Field(512, ge=1)
    """Sequences per held-out evaluation set (paper.yaml 2048)."""
    heldout_seed: int = Field(20260502, ge=0)
    """Generator seed of the held-out sets."""

    def __post_init__(self) -> None:
        if self.train_min_len > self.train_max_len:
            _raise([("train_min_len", f"({self.train_min_len}) exceeds '@train_max_len' ({self.train_max_len})")])


@dataclass(frozen=True, config=_CONFIG)
class Cohort:
    """One cohort of independently seeded toy models; model names are cohort + seed (A0, B100)."""

    seeds: Annotated[tuple[NonNegInt, ...], Field(min_length=1)]
    """Training seeds."""
    anchor: NonNegInt
    """The reference seed of the cohort (one of seeds): rotations map the others into its frame."""
    shared_io: bool
    """Other seeds start from the anchor's trained W_E and unembeddings, frozen."""

    def __post_init__(self) -> None:
        problems = []
        if len(set(self.seeds)) != len(self.seeds):
            problems.append(("seeds", f"{list(self.seeds)} repeats a seed"))
        if self.anchor not in self.seeds:
            problems.append(("anchor", f"({self.anchor}) is not one of '@seeds' {list(self.seeds)}"))
        _raise(problems)


def _default_cohorts() -> dict[str, Cohort]:
    return {"A": Cohort((0, 1, 2), 0, True), "B": Cohort((100, 101, 102), 100, False)}


# ------------------------------------------------------------------------------- toy training
@dataclass(frozen=True, config=_CONFIG)
class EarlyStop:
    """Stop ``patience`` steps after the min held-out accuracy first reaches ``threshold``."""

    threshold: float = Field(0.9999, gt=0, le=1)
    """Min held-out accuracy (over heads and sets) that starts the countdown."""
    patience: int = Field(10000, ge=0)
    """Steps trained after the threshold is first reached."""


@dataclass(frozen=True, config=_CONFIG)
class TrainConfig:
    """Toy training (docs/methods.md §4). The default trains 2500 steps x 64 sequences (~95-125 s
    per model on one core); the paper up to 60,000 x 512. Longer costs what it buys in time, not
    in verdicts (seed 0, one thread, python benchmarks/default_training_options.py): 2500x64 depth
    0.9963, Bar B 1.05e-2; 4000x64 (1.55x the time) 0.9985, 5.2e-3; 5000x64 (2.0x) 0.9979,
    9.5e-3; 4000x128 (3.0x) 0.9964, 7.9e-3; Bar B's threshold is 1e-4, and training is ~40% of
    the run."""

    steps: int = Field(2500, ge=1)
    """Maximum optimiser steps (paper 60000)."""
    batch_size: int = Field(64, ge=1)
    """Sequences per step (paper 512)."""
    lr: float = Field(3e-3, gt=0)
    """Peak learning rate (paper 3e-3)."""
    warmup_steps: int = Field(150, ge=0)
    """Linear warm-up steps (paper 500)."""
    final_lr_fraction: float = Field(0.02, ge=0, le=1)
    """Cosine decays to this fraction of the peak (paper 0.02)."""
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.95)
    """AdamW betas (paper 0.9, 0.95)."""
    weight_decay: float = Field(1e-4, ge=0)
    """AdamW decoupled weight decay (paper 1e-4)."""
    grad_clip: float = Field(1.0, gt=0)
    """Max global gradient norm."""
    checkpoint_every: int = Field(250, ge=1)
    """Steps between checkpoints; held-out evaluation runs at each (paper 200)."""
    keep_all_checkpoints: bool = True
    """Keep every checkpoint (needed for drift analyses) or only the latest and the best."""
    log_every: int = Field(50, ge=1)
    """Steps between training-loss log rows."""
    early_stop: EarlyStop | None = EarlyStop()
    """Early stopping (the paper: 10,000 steps after 99.99%); null disables."""
    length_bucketing: bool = True
    """Sort each data chunk by length and trim each batch to its longest row: ~1.8x fewer tokens
    computed on a CPU; batches are then length-homogeneous (paper.yaml: false)."""
    chunk_steps: int = Field(50, ge=1)
    """Batches generated together (and bucketed together)."""
    device: Device = "auto"
    """auto = cuda if available."""
    amp: bool = True
    """bf16 autocast on CUDA (ignored on CPU)."""
    threads: int = Field(
        1,
        ge=1,
        json_schema_extra=_no_output(
            "CPU threads of a training job: how fast, not what (Snakemake may lower it to --cores)"
        ),
    )
    """CPU threads per training job."""
    stack: int = Field(1, ge=1)
    """Models trained together as one stacked model per job (weights with a leading model axis;
    each model keeps its own data, clipping and early stop). Faster on a GPU; no faster on a CPU,
    where one model per job already keeps the cores busy (benchmarks/train_stacked.py)."""
    data_workers: int = Field(
        0,
        ge=0,
        json_schema_extra=_no_output(
            "processes generating a training job's data: how fast, not what (the same function of seed and step)"
        ),
    )
    """Processes generating a job's training data; 0 = one background thread per model (enough
    on a CPU). A GPU training a stack needs several."""

    def __post_init__(self) -> None:
        problems = []
        if self.warmup_steps >= self.steps:
            problems.append(("warmup_steps", f"({self.warmup_steps}) must be smaller than '@steps' ({self.steps})"))
        if self.checkpoint_every > self.steps:
            problems.append(("checkpoint_every", f"({self.checkpoint_every}) exceeds '@steps' ({self.steps})"))
        _raise(problems)


# ----------------------------------------------------------------------------------- the bars
@dataclass(frozen=True, config=_CONFIG)
class Decoy:
    """The decoy (docs/methods.md §8): a toy model with its depth unembedding's classes averaged
    in adjacent pairs, judged by every bar beside the real models."""

    model: str = "A0"
    """The cohort anchor the decoy is made from and stands in for (the paper: cohort A's anchor)."""


@dataclass(frozen=True, config=_CONFIG)
class BarB:
    """Bar B, behavioural equivalence on samples of the training mixture."""

    n_samples: int = Field(4096, ge=2)
    """Sequences sampled from the training mixture (paper 1e7)."""
    batch_size: int = Field(1024, ge=1)
    """Sequences per forward pass."""
    seed: int = Field(20260503, ge=0)
    """Generator seed of the Bar B samples (the same for every model)."""


@dataclass(frozen=True, config=_CONFIG)
class BarP:
    """Bar P's registered search (~3 s per pair on one core at the default; paper.yaml runs more
    restarts)."""

    restarts: int = Field(3, ge=1)
    """Starts of the coordinate descent: the invariant-circuit R, then that R times ever larger
    random rotations; the best by max per-tensor MSE is refined."""
    iterations: int = Field(20, ge=1)
    """Most coordinate-descent rounds per start (heads, neurons, R); a round that lowers the
    summed MSE by less than 1e-10 relative ends it."""
    refine_steps: int = Field(300, ge=0)
    """Adam steps of the continuous refinement of R on O(d) (Cayley map) against the max
    per-tensor MSE; 0 skips it."""
    seed: int = Field(20260506, ge=0)
    """Seed of the restarts' random rotations."""


@dataclass(frozen=True, config=_CONFIG)
class StudySearch:
    """Bar P as the study's code searches for it (polyrot.bars.study_search: 16 starts x {R step,
    R = I} x 6 rounds, then 400 Adam steps of a Cayley R), reported beside the registered
    statistic under ``study_search`` and never judged; its own job, which the default's budget
    fits whole."""

    starts: int = Field(16, ge=1)
    """Head-permutation starts (the first the identity), each run with and without the
    residual-rotation step (the study: 16)."""
    rounds: int = Field(6, ge=1)
    """Coordinate-descent rounds per start (the study: 6)."""
    refine_steps: int = Field(400, ge=1)
    """Adam steps of the study's Cayley refinement of R on the total MSE, for cross-seed units
    (the study: 400)."""
    refine_lr: float = Field(0.05, gt=0)
    """Adam learning rate of the refinement (the study: 0.05)."""
    seed: int = Field(0, ge=0)
    """Seed of Python's random.Random that draws the starts (the study: 0)."""


@dataclass(frozen=True, config=_CONFIG)
class Causal:
    """Bars C and Pr (one computation serves both). Integrated gradients cost 33 forward-backward
    passes per component: ~11 s per model at 64 sequences."""

    mean_n: int = Field(256, ge=2)
    """Sequences of the analysis distribution whose per-position mean of each component's output
    is the ablation value (paper.yaml 1024)."""
    eval_n: int = Field(64, ge=2)
    """Held-out sequences (none in the mean batch) on which the effects are measured and
    predicted (paper.yaml 512)."""
    seed: int = Field(20260507, ge=0)
    """Generator seed of the mean batch (the held-out batch uses seed + 1)."""


@dataclass(frozen=True, config=_CONFIG)
class Bars:
    """The four bars (docs/methods.md §8)."""

    checkpoint: Checkpoint = "best"
    """Which checkpoint of each toy model every bar judges (and the decoy is built from)."""
    decoy: Decoy = Decoy()
    """Cohort A's anchor with its depth classes averaged in pairs."""
    B: BarB = BarB()
    """Bar B."""
    P: BarP = BarP()
    """Bar P."""
    study_search: StudySearch = StudySearch()
    """The study's Bar P search."""
    causal: Causal = Causal()
    """Bars C and Pr."""


# ---------------------------------------------------------------------------------- the audit
@dataclass(frozen=True, config=_CONFIG)
class SAESettings:
    """An arm's SAEs (docs/methods.md §6). The default's 1600 steps x 256 rows cost half of
    800 x 1024 and train further (A0, measured with python -m polyrot.sae: held-out EV
    0.980 -> 0.989 and L0 95 -> 70 at resid_mid_0; 0.970 -> 0.985, L0 223 -> 206 at
    resid_post_1; tiny-neox-seed1 resid_post_2: 0.948 -> 0.971, L0 166 -> 141)."""

    expansions: tuple[PosInt, ...] = Field((8,), min_length=1)
    """d_sae / d (paper: 8 and 32)."""
    l1: float = Field(1e-3, ge=0)
    """L1 coefficient in the paper's normalisation: loss = MSE averaged over every element
    (rows x dimensions) + l1 * sum_features |f| averaged over rows (paper: toy 1e-3, Pythia 1e-5)."""
    lr: float = Field(5e-4, gt=0)
    """Adam learning rate (paper 5e-4)."""
    batch_size: int = Field(256, ge=1)
    """Rows per step (paper 4096)."""
    steps: int = Field(1600, ge=1)
    """Optimiser steps (paper 4000)."""
    seed: int = Field(0, ge=0)
    """Init and batch-order seed."""
    shared_init: bool = False
    """Give every model's registered SAE the same seed (identical initial dictionaries); false
    derives one seed per model. The paper comparison's SAEs (the study's recipe, *_study_recipe
    tables) always share one seed, as the study's code."""
    stacked: bool = True
    """Train the SAEs of one site for all models in one batched process (slower at d = 512)."""

    def __post_init__(self) -> None:
        if len(set(self.expansions)) != len(self.expansions):
            _raise([("expansions", f"{list(self.expansions)} repeats an expansion")])


StepName = Annotated[str, Field(pattern=r"^step[0-9]+$")]


@dataclass(frozen=True, config=_CONFIG)
class Drift:
    """Checkpoint drift (docs/methods.md §9): one model's earlier checkpoints against its audited
    one."""

    model: str
    """The model whose checkpoints are compared (the anchor in the paper)."""
    checkpoints: Annotated[tuple[StepName, ...], Field(min_length=1)]
    """Earlier checkpoints (toy: step000500 style, every train.checkpoint_every; GPT-NeoX:
    revisions such as step3000)."""
    early: str
    """The checkpoint that the drift claims judge (one of checkpoints; Pythia step3000; the
    default: the first kept checkpoint past warm-up)."""
    early_sae_l1: float = Field(1e-3, ge=0)
    """l1 of the SAE trained on the early checkpoint for the drift in the paper's direction (the
    early SAE applied to the audited checkpoint; the study's recipe, the arm's other SAE
    settings): the paper's 1e-3 at Pythia, where its cross-seed SAEs use 1e-5."""

    def __post_init__(self) -> None:
        problems = []
        if len(set(self.checkpoints)) != len(self.checkpoints):
            problems.append(("checkpoints", f"{list(self.checkpoints)} repeats a checkpoint"))
        if self.early not in self.checkpoints:
            problems.append(("early", f"({self.early!r}) is not one of its checkpoints"))
        _raise(problems)


@dataclass(frozen=True, config=_CONFIG)
class ArmAudit:
    """One arm's audit: its sites, SAEs and drift."""

    sites: Annotated[tuple[str, ...], Field(min_length=2)]
    """Residual sites audited (the first is the embedding site, left out of 'internal' claims)."""
    sae: SAESettings = SAESettings()
    """The arm's SAEs."""
    drift: Drift | None = None
    """Checkpoint drift; null for none."""

    def __post_init__(self) -> None:
        if len(set(self.sites)) != len(self.sites):
            _raise([("sites", f"{list(self.sites)} repeats a site")])


def _toy_audit() -> ArmAudit:
    # The five distinct residual sites: resid_pre_1 and resid_pre_2 are exact copies of
    # resid_post_0 and resid_post_1 (paper.yaml lists all seven names, as the paper does).
    return ArmAudit(
        sites=("resid_pre_0", "resid_mid_0", "resid_post_0", "resid_mid_1", "resid_post_1"),
        drift=Drift("A0", ("step000250", "step000500", "step001000", "step002000"), "step000250"),
    )


def _neox_audit() -> ArmAudit:
    # the embeddings, the output of each of the family's 4 layers (pre final norm), and the final
    # norm's output (resid_final: the study's last site; the paper comparison's)
    return ArmAudit(
        sites=("resid_pre_0", "resid_post_0", "resid_post_1", "resid_post_2", "resid_post_3", "resid_final"),
        drift=Drift("tiny-neox-seed1", ("step25", "step50", "step100", "step200"), "step50"),
    )


@dataclass(frozen=True, config=_CONFIG)
class Audit:
    """The held-out Procrustes audit (docs/methods.md §7)."""

    checkpoint: Checkpoint = "best"
    """Which checkpoint of each toy model is audited (the GPT-NeoX arm audits ``neox.revision``)."""
    heldout_n: int = Field(512, ge=1)
    """Sequences in the held-out batch (disjoint from the analysis batch)."""
    heldout_seed: int = Field(20260504, ge=0)
    """Generator seed of the held-out batch."""
    controls_seed: int = Field(20260505, ge=0)
    """Seed of the row permutation and the Gaussian baseline."""
    gaussian_n: int = Field(8192, ge=2)
    """Samples of the Gaussian baseline."""
    bootstrap_n: int = Field(1000, ge=0)
    """Resamplings of the held-out sequences behind the 95% interval of every held-out EV column
    a claim judges (``<column>_ci95_lo/_hi``, read by the fragility rule; polyrot.bootstrap); 0
    for none."""
    temp_caches: bool = Field(
        False,
        json_schema_extra=_no_output("whether activation caches are deleted after use, not what any output holds"),
    )
    """Delete each activation cache once every job of the run that reads it has finished
    (Snakemake temp()); for paper-scale disks (Pythia: tens of GB). A later change to an analysis
    setting then extracts again, and reruns what reads the new caches."""
    toy: ArmAudit = Field(default_factory=_toy_audit)
    """The toy arm's audit."""
    neox: ArmAudit | None = Field(default_factory=_neox_audit)
    """The GPT-NeoX arm's audit (given exactly when the ``neox`` section is)."""


# ------------------------------------------------------------------------------------- Haar
@dataclass(frozen=True, config=_CONFIG)
class PowerCell:
    """One cell of the size/power table."""

    d: Annotated[int, Field(ge=4)]
    """Dimension of the matrices."""
    n: PosInt
    """Matrices drawn per alternative."""


@dataclass(frozen=True, config=_CONFIG)
class Haar:
    """Haar tests with demonstrated power (docs/methods.md §8)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    """Test level."""
    seed: int = Field(20260506, ge=0)
    """Seed of every Haar sample drawn."""
    n_null: int = Field(200, ge=10)
    """Haar samples behind the Frobenius and permutation-distance nulls."""
    n_reference: int = Field(10, ge=1)
    """Haar matrices in the paper's pooled two-sample test (paper 10)."""
    power: tuple[PowerCell, ...] = Field((PowerCell(64, 100), PowerCell(512, 5)), min_length=1)
    """Size/power table: matrices drawn per alternative at each d (d = 512 costs ~1.2 s per
    matrix, two eigendecompositions; paper.yaml draws 200 per cell)."""
    rank_variance: float = Field(0.99, gt=0, le=1)
    """Variance that defines the well-determined subspace."""
    min_determined_fraction: float = Field(0.5, ge=0, le=1)
    """Below this fraction of d, no Haar reading is offered."""


# --------------------------------------------------------------------------------- steering
Dose = Annotated[float, Field(gt=0)]

_STUDY_ALPHAS = (0.125, 0.1767767, 0.25, 0.3535534, 0.5, 0.7071068, 1, 1.4142136, 2, 2.8284271, 4, 5.6568542, 8)


@dataclass(frozen=True, config=_CONFIG)
class SteeringToy:
    """The toy arm's steering: three vectors per cohort anchor (~12 ms per dose on 128
    sequences)."""

    site: str = "resid_mid_1"
    """Residual site the toy vectors are built and added at (the paper: resid_mid_1); must be an
    audited site (``audit.toy.sites``), where each pair's R is fitted."""
    eval_n: int = Field(128, ge=1)
    """Sequences of the audit's held-out batch the effects are measured on (the first eval_n; at
    most audit.heldout_n)."""
    study_alphas: tuple[Dose, ...] = Field(_STUDY_ALPHAS, min_length=2)
    """The paper comparison's fine dose grid (steering_study_toy: held-out and the study's
    same-batch setup, never judged), fine enough to resolve the paper's ~4x dose factor (1/8 to 8
    in steps of sqrt 2)."""

    def __post_init__(self) -> None:
        if len(set(self.study_alphas)) != len(self.study_alphas):
            _raise([("study_alphas", f"{list(self.study_alphas)} repeats a dose")])


@dataclass(frozen=True, config=_CONFIG)
class SteeringNeox:
    """The GPT-NeoX arm's steering: three vectors at one layer output (~14 ms per dose on 8 x 64
    tokens)."""

    site: str = "resid_post_2"
    """Layer output resid_post_<i> the vectors are built and added at (the paper: Pythia's
    resid_post_3, the output of gpt_neox.layers[3]; the default: the family's layers[2] of 4);
    must be an audited site (``audit.neox.sites``)."""
    eval_n: int = Field(8, ge=1)
    """Sequences of the corpus' held-out split the KL is averaged over (the first eval_n; paper
    64 x 256 tokens)."""
    batch_size: int = Field(8, ge=1)
    """Sequences per forward pass."""
    contrasts: Name = "config/steering_contrasts.yaml"
    """YAML file of contrast sentences (sentiment, name, magnitude)."""


@dataclass(frozen=True, config=_CONFIG)
class Steering:
    """Steering (docs/methods.md §9, H4; amendment 2026-11-28): difference-of-means vectors on each
    cohort's (arm's) anchor, added as alpha * v at every position of one site, within-seed, on
    the other seeds unrotated and mapped through the pair's R, against norm-matched random
    directions (~1,000 doses per arm at the default)."""

    alphas: tuple[Dose, ...] = Field((0.5, 1, 2, 4), min_length=2)
    """Doses alpha (paper 0.5, 1, 2, 4). The registered claims read alpha 1 and 2, so both must be
    here."""
    random_draws: int = Field(20, ge=20)
    """Random directions of the control (at least 20, registered); the same draws on every model,
    vector and dose."""
    seed: int = Field(20260508, ge=0)
    """Seed of the random directions."""
    toy: SteeringToy = SteeringToy()
    """The toy arm's steering."""
    neox: SteeringNeox | None = SteeringNeox()
    """The GPT-NeoX arm's steering (given exactly when the ``neox`` section is)."""

    def __post_init__(self) -> None:
        problems = []
        if len(set(self.alphas)) != len(self.alphas):
            problems.append(("alphas", f"{list(self.alphas)} repeats a dose"))
        missing = [a for a in (1, 2) if a not in self.alphas]
        if missing:
            problems.append(("alphas", f"must include {missing}: the registered steering claims read alpha 1 and 2"))
        _raise(problems)


# ------------------------------------------------------------------------------- the GPT-NeoX arm
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


@dataclass(frozen=True, config=_CONFIG)
class CorpusConfig:
    """The GPT-NeoX arm's analysis text (docs/methods.md §5)."""

    source: Literal["python-docs", "pile-10k", "file"] = "python-docs"
    """python-docs: the documentation shipped with Python (pydoc topics and standard-library
    docstrings), offline; pile-10k: NeelNanda/pile-10k from the hub (needs ``datasets``); file:
    ``path``."""
    path: str | None = Field(None, min_length=1)
    """source file: a .jsonl file with one {"text": ...} document per line."""
    seq_len: int = Field(64, ge=2)
    """Tokens per analysis sequence (paper 256)."""
    fit_sequences: int = Field(256, ge=1)
    """Sequences the SAEs and rotations are fitted on (paper 256)."""
    heldout_sequences: int = Field(128, ge=1)
    """Sequences every reported number is evaluated on (from later documents)."""
    windows_per_document: int = Field(4, ge=1)
    """Consecutive seq_len windows taken from each document with at least that many tokens (paper
    1: the first seq_len tokens)."""
    heldout_fraction: float = Field(0.25, gt=0, lt=1)
    """python-docs: fraction of documents held out from the family's training (the analysis
    sequences come from them)."""

    def __post_init__(self) -> None:
        if self.source == "file" and self.path is None:
            _raise([("path", "is required when '@source' is file")])


@dataclass(frozen=True, config=_CONFIG)
class Extract:
    """GPT-NeoX activation extraction."""

    batch_size: int = Field(64, ge=1)
    """Sequences per forward pass."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Model weights' dtype during extraction (activations are stored as float32)."""
    device: Device = "auto"
    """auto = cuda if available."""
    threads: int = Field(1, ge=1, json_schema_extra=_no_output("CPU threads of an extraction job"))
    """CPU threads per extraction job."""


@dataclass(frozen=True, config=_CONFIG)
class FamilyConfig:
    """The offline GPT-NeoX family (rotary, parallel residual, untied embeddings, as Pythia): at
    the default 331k parameters, ~40 s per model on one CPU core (15k tokens/s)."""

    vocab_size: int = Field(1024, ge=260)
    """BPE vocabulary trained on the corpus's training documents (byte-level, so at least 256 +
    specials)."""
    hidden_size: int = Field(64, ge=4)
    """d of the residual stream (Pythia-70m 512)."""
    layers: int = Field(4, ge=1)
    """Transformer layers (Pythia-70m 6)."""
    heads: int = Field(4, ge=1)
    """Attention heads (must divide hidden_size)."""
    intermediate_size: int = Field(256, ge=1)
    """MLP width (Pythia 4 x hidden)."""
    rotary_pct: float = Field(0.25, gt=0, le=1)
    """Fraction of each head's dimensions that get rotary embeddings (Pythia 0.25)."""
    steps: int = Field(300, ge=1)
    """Optimiser steps; step<steps> is the final revision."""
    batch_size: int = Field(32, ge=1)
    """Sequences of seq_len tokens per step."""
    lr: float = Field(3e-3, gt=0)
    """Peak AdamW learning rate."""
    warmup_steps: int = Field(40, ge=0)
    """Linear warm-up steps."""
    final_lr_fraction: float = Field(0.1, ge=0, le=1)
    """Cosine decay floor as a fraction of lr."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW decoupled weight decay (not on biases and norms)."""
    grad_clip: float = Field(1.0, gt=0)
    """Max global gradient norm."""
    save_steps: tuple[NonNegInt, ...] = Field((25, 50, 100, 200, 300), min_length=1)
    """Steps saved as revisions step<N> (must include ``steps``, the final one)."""
    device: Device = "auto"
    """auto = cuda if available."""
    threads: int = Field(1, ge=1, json_schema_extra=_no_output("CPU threads of a family training job"))
    """CPU threads per training job."""

    def __post_init__(self) -> None:
        problems = []
        if len(set(self.save_steps)) != len(self.save_steps):
            problems.append(("save_steps", f"{list(self.save_steps)} repeats a step"))
        if self.steps not in self.save_steps:
            problems.append(("save_steps", f"must include the final step {self.steps}"))
        if any(s > self.steps for s in self.save_steps):
            problems.append(("save_steps", f"has steps beyond '@steps' ({self.steps})"))
        if self.hidden_size % self.heads:
            problems.append(("heads", f"({self.heads}) must divide hidden_size ({self.hidden_size})"))
        _raise(problems)


@dataclass(frozen=True, config=_CONFIG)
class Neox:
    """The GPT-NeoX arm (docs/methods.md §5): Pythia seeds from the hub, a local copy, or an
    offline family the pipeline trains (the default: four small models trained here on Python's
    own documentation, each from its own seed and data order)."""

    source: Literal["family", "local", "hub"] = "family"
    """family: train the offline family below into results/neox/models; local: read
    ``local_dir``; hub: download from the Hugging Face hub (``hub_org``/model)."""
    local_dir: str | None = Field(None, min_length=1)
    """source local: a directory laid out as <local_dir>/<model>/<revision>/ with config.json,
    weights and tokenizer files."""
    hub_org: str | None = Field(None, min_length=1)
    """source hub: the organisation of the model repositories (EleutherAI)."""
    models: tuple[ModelName, ...] = Field(
        ("tiny-neox-seed1", "tiny-neox-seed2", "tiny-neox-seed3", "tiny-neox-seed4"), min_length=2
    )
    """Model names (hub repository or local folder names; family models end in -seed<N>, N the
    training seed)."""
    anchor: str = "tiny-neox-seed1"
    """The reference model (one of models): rotations map every other model into its frame."""
    revision: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "step300"
    """The audited revision (Pythia: step143000, the final one)."""
    corpus: CorpusConfig = CorpusConfig()
    """The analysis text."""
    extract: Extract = Extract()
    """Activation extraction."""
    family: FamilyConfig | None = FamilyConfig()
    """source family: the family's architecture and training."""

    def __post_init__(self) -> None:
        import re

        problems = []
        if len(set(self.models)) != len(self.models):
            problems.append(("models", f"{list(self.models)} repeats a model"))
        if self.anchor not in self.models:
            problems.append(("anchor", f"({self.anchor!r}) is not one of '@models' {list(self.models)}"))
        for key, source in (("local_dir", "local"), ("hub_org", "hub"), ("family", "family")):
            if self.source == source and getattr(self, key) is None:
                problems.append((key, f"is required when '@source' is {source}"))
        if self.source == "family":
            if self.corpus.source != "python-docs":
                problems.append(
                    (
                        "corpus.source",
                        "must be python-docs when '@source' is family (the family's tokenizer and training "
                        "text are the documentation's training documents)",
                    )
                )
            unnamed = [m for m in self.models if not re.search(r"-seed\d+$", m)]
            if unnamed:
                problems.append(("models", f"family models must end in -seed<N> (the training seed): {unnamed}"))
            seeds = [int(re.search(r"(\d+)$", m).group(1)) for m in self.models if m not in unnamed]
            if len(set(seeds)) != len(seeds):
                problems.append(("models", "two family models share a seed"))
        _raise(problems)


# ------------------------------------------------------------------------------------ the whole
@dataclass(frozen=True, config=_CONFIG)
class Preregistration:
    """The registered document and its lock."""

    document: Name = "preregistration.md"
    """The preregistration (thresholds live only here)."""
    lock: Name = "preregistration.lock"
    """Hashes of its registered and amendment blocks."""


@dataclass(frozen=True, config=_CONFIG)
class Settings:
    """The whole workflow configuration (config/config.yaml writes every default out)."""

    results_dir: Name = "results"
    """Directory that receives every output of the workflow."""
    preregistration: Preregistration = Preregistration()
    """The preregistration."""
    strict_bars: bool = False
    """If true, a failing bar makes its target (and ``all``) fail with a non-zero exit."""
    task: TaskConfig = TaskConfig()
    """The Dyck-3 task."""
    cohorts: dict[Annotated[str, Field(pattern=r"^[A-Z]$")], Cohort] = Field(
        default_factory=_default_cohorts, min_length=1
    )
    """The toy cohorts by name (one capital letter): A with shared frozen I/O, B independent."""
    train: TrainConfig = TrainConfig()
    """Toy training."""
    bars: Bars = Bars()
    """The four bars."""
    audit: Audit = Audit()
    """The held-out audit."""
    haar: Haar = Haar()
    """The Haar tests."""
    steering: Steering = Steering()
    """Steering."""
    neox: Neox | None = Neox()
    """The GPT-NeoX arm; null for none (then also ``audit.neox`` and ``steering.neox``)."""

    def __post_init__(self) -> None:
        _raise(_toy_problems(self) + _neox_problems(self) + _steering_problems(self))


# Cross-section checks of Settings (keys are absolute).
def _toy_problems(s: Settings) -> list[tuple[str, str]]:
    from polyrot.toy.transformer import SITES

    out = []
    unknown = [site for site in s.audit.toy.sites if site not in SITES]
    if unknown:
        out.append(("audit.toy.sites", f"names unknown site(s) {unknown} (known: {list(SITES)})"))
    models = [f"{name}{seed}" for name, c in s.cohorts.items() for seed in c.seeds]
    anchors = [f"{name}{c.anchor}" for name, c in s.cohorts.items()]
    if s.bars.decoy.model not in anchors:
        out.append(
            (
                "bars.decoy.model",
                f"({s.bars.decoy.model!r}) is not a cohort anchor (anchors: {anchors}); the decoy stands in for an "
                "anchor, as in the paper",
            )
        )
    drift, train = s.audit.toy.drift, s.train
    if drift is None:
        return out
    if drift.model not in models:
        out.append(("audit.toy.drift.model", f"({drift.model!r}) is not one of the arm's models {models}"))
    for ckpt in drift.checkpoints:
        step = int(ckpt[4:])
        if not re.fullmatch(r"step\d{6,}", ckpt):
            out.append(("audit.toy.drift.checkpoints", f"{ckpt!r} is not a toy checkpoint name (stepNNNNNN)"))
        elif step % train.checkpoint_every or not 0 < step <= train.steps:
            out.append(
                (
                    "audit.toy.drift.checkpoints",
                    f"{ckpt} is never written (checkpoints are every {train.checkpoint_every} steps up to "
                    f"{train.steps})",
                )
            )
        elif train.early_stop is not None and step > train.early_stop.patience:
            out.append(
                (
                    "audit.toy.drift.checkpoints",
                    f"{ckpt} is later than 'train.early_stop.patience' ({train.early_stop.patience}), so early "
                    "stopping could end training before it is written",
                )
            )
    if not train.keep_all_checkpoints:
        out.append(("audit.toy.drift", "needs 'train.keep_all_checkpoints: true' (earlier checkpoints are pruned)"))
    return out


def _neox_problems(s: Settings) -> list[tuple[str, str]]:
    neox, audit = s.neox, s.audit.neox
    if (neox is None) != (audit is None):
        return [("neox", "and 'audit.neox' must be given together (or both null)")]
    if neox is None:
        return []
    from polyrot import hooks  # the site registry

    out = []
    bad = [site for site in audit.sites if not hooks.names_a_site("gpt_neox", site)]
    if bad:
        out.append(
            (
                "audit.neox.sites",
                f"names unknown site(s) {bad} (GPT-NeoX sites: resid_pre_0, the embeddings, resid_post_<i>, the "
                "output of layer i, and resid_final, the final layer norm's output)",
            )
        )
    if "resid_final" in audit.sites and audit.sites[-1] != "resid_final":
        out.append(("audit.neox.sites", "resid_final (after the final norm) must be the last site"))
    drift = audit.drift
    if drift is not None and drift.model not in neox.models:
        out.append(("audit.neox.drift.model", f"({drift.model!r}) is not one of the arm's models {list(neox.models)}"))
    family = neox.family
    if neox.source == "family" and family is not None:
        saved = {f"step{step}" for step in family.save_steps}
        wanted = [neox.revision, *(drift.checkpoints if drift else [])]
        if drift and neox.revision in drift.checkpoints:
            out.append(("audit.neox.drift.checkpoints", f"includes the audited revision {neox.revision!r}"))
        missing = [r for r in wanted if r not in saved]
        if missing:
            out.append(
                (
                    "neox.revision",
                    f"revision(s) {missing} (neox.revision, audit.neox.drift) are not in 'neox.family.save_steps'",
                )
            )
        too_deep = [x for x in audit.sites if x.startswith("resid_post_") and int(x[11:]) >= family.layers]
        if too_deep:
            out.append(("audit.neox.sites", f"{too_deep} but the family has {family.layers} layers"))
    return out


def _steering_problems(s: Settings) -> list[tuple[str, str]]:
    steering, out = s.steering, []
    if steering.toy.site not in s.audit.toy.sites:
        out.append(
            (
                "steering.toy.site",
                f"({steering.toy.site!r}) is not an audited site {list(s.audit.toy.sites)}: transfer through R "
                "needs the pair's R fitted there",
            )
        )
    if steering.toy.eval_n > s.audit.heldout_n:
        out.append(
            (
                "steering.toy.eval_n",
                f"({steering.toy.eval_n}) exceeds 'audit.heldout_n' ({s.audit.heldout_n}), the held-out batch it "
                "is taken from",
            )
        )
    neox = steering.neox
    if (neox is None) != (s.neox is None):
        out.append(("steering.neox", "and 'neox' must be given together (or both null)"))
    elif neox is not None:
        import re

        sites = list(s.audit.neox.sites) if s.audit.neox else []
        if not re.fullmatch(r"resid_post_\d+", neox.site):
            out.append(("steering.neox.site", f"({neox.site!r}) must be a layer's output, resid_post_<i>"))
        elif neox.site not in sites:
            out.append(
                (
                    "steering.neox.site",
                    f"({neox.site!r}) is not an audited site {sites}: transfer through R needs the pair's R "
                    "fitted there",
                )
            )
        if neox.eval_n > s.neox.corpus.heldout_sequences:
            out.append(
                (
                    "steering.neox.eval_n",
                    f"({neox.eval_n}) exceeds 'neox.corpus.heldout_sequences' ({s.neox.corpus.heldout_sequences})",
                )
            )
    return out


# ------------------------------------------------------------------------------ introspection
@dataclasses.dataclass(frozen=True)
class Leaf:
    """One setting: its dotted key (``*`` for a cohort name or a list index), the class that
    holds it, its type, default, bounds, choices and documentation."""

    key: str
    owner: type
    annotation: Any
    default: Any
    doc: str
    bounds: dict[str, float]
    choices: tuple[Any, ...] | None
    no_output: str | None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the non-null type, whether null is allowed) of a field annotation."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _settings_class(annotation: Any) -> type | None:
    inner, _ = _unwrap(annotation)
    return inner if dataclasses.is_dataclass(inner) else None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=False)


def leaves(cls: type = Settings, prefix: str = "") -> Iterator[Leaf]:
    """Every setting below ``cls``, depth first in field order."""
    hints = _hints(cls)
    for name, info in cls.__pydantic_fields__.items():
        key = f"{prefix}{name}"
        annotation = hints[name]
        inner, _ = _unwrap(annotation)
        origin = typing.get_origin(inner)
        if (sub := _settings_class(annotation)) is not None:
            yield from leaves(sub, key + ".")
            continue
        if origin is dict and dataclasses.is_dataclass(typing.get_args(inner)[1]):
            yield from leaves(typing.get_args(inner)[1], key + ".*.")
            continue
        if origin is tuple and typing.get_args(inner) and dataclasses.is_dataclass(typing.get_args(inner)[0]):
            yield from leaves(typing.get_args(inner)[0], key + ".*.")
            continue
        bounds = {}
        for m in info.metadata:
            for attr in ("ge", "gt", "le", "lt"):
                if getattr(m, attr, None) is not None:
                    bounds[attr] = getattr(m, attr)
        choices = typing.get_args(inner) if typing.get_origin(inner) is Literal else None
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = info.get_default(call_default_factory=True)
        yield Leaf(key, cls, annotation, default, info.description or "", bounds, choices, extra.get("no_output"))


@functools.cache
def no_output() -> Mapping[str, str]:
    """Settings that cannot change any output: dotted key -> why (read-only; every rule's
    params are built without them, so it is computed once)."""
    return types.MappingProxyType({leaf.key: leaf.no_output for leaf in leaves() if leaf.no_output})


def dump(obj: Any) -> Any:
    """A settings object as plain JSON-able data (tuples as lists, nested classes as dicts)."""
    return TypeAdapter(type(obj)).dump_python(obj, mode="json")


def parse(cls: type, data: Any) -> Any:
    """An instance of settings class ``cls`` from plain data (a config section), validated."""
    return TypeAdapter(cls).validate_python(data)


def defaults() -> dict[str, Any]:
    """Every default, as a config dict."""
    return dump(Settings())


def schema() -> dict[str, Any]:
    """The JSON schema of a complete config (generated; for editors and documentation)."""
    out = TypeAdapter(Settings).json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "polyrot workflow configuration"
    return out


# ------------------------------------------------------------------------------- command lines
def add_options(parser: argparse.ArgumentParser, cls: type, fields: Sequence[str], defaults: Any | None = None) -> None:
    """Add ``--field-name`` options for ``fields`` of settings class ``cls``: type, default and
    help from the class (``defaults``, an instance, overrides the class's defaults)."""
    hints = _hints(cls)
    for name in fields:
        info = cls.__pydantic_fields__[name]
        kind, _ = _unwrap(hints[name])
        default = getattr(defaults, name) if defaults is not None else info.get_default(call_default_factory=True)
        doc = " ".join((info.description or "").split())
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind if kind in (int, float, str) else str,
            default=default,
            help=f"{doc} (default {default})".replace("%", "%%"),
        )


# ------------------------------------------------------------------------ the documented default
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")


def _comment(text: str, indent: str) -> list[str]:
    text = " ".join(text.split())
    return [f"{indent}# {line}" for line in textwrap.wrap(text, 96 - len(indent))] if text else []


def _yaml_lines(cls: type, data: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    hints = _hints(cls)
    for name, info in cls.__pydantic_fields__.items():
        value, sub = data[name], _settings_class(hints[name])
        if sub is not None and value is not None and not _flat(sub):
            lines += _comment(sub.__doc__ or "", indent)  # a section: its class's documentation
            lines.append(f"{indent}{name}:")
            lines += _yaml_lines(sub, value, indent + "  ")
        else:
            lines += _comment(info.description or "", indent)
            lines.append(f"{indent}{name}: {_flow(value)}")
    return lines


def _flat(cls: type) -> bool:
    """Small classes are written on one line."""
    return len(cls.__pydantic_fields__) <= 2 or cls in (Drift, SAESettings, BarP, StudySearch, Causal, Cohort)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        keyword = value.lower() in ("null", "true", "false", "yes", "no", "on", "off", "y", "n")
        return value if _PLAIN.match(value) and not keyword else json.dumps(value)
    return repr(value)


def default_yaml() -> str:
    """config/config.yaml: every default, documented (``python -m polyrot.settings yaml``)."""
    head = [
        "# The offline default: the whole study at reduced scale on a 2-core laptop CPU, in minutes.",
        "# GENERATED from src/polyrot/settings.py (python -m polyrot.settings yaml > config/config.yaml):",
        "# every setting with its default and documentation. For a run of your own, write an overlay",
        "# that holds only what you change (as config/paper.yaml and config/test.yaml do) and pass it",
        "# with --configfile, or change single keys with --config key=value.",
        "# yaml-language-server: $schema=schema.json",
    ]
    return "\n".join(head + _yaml_lines(Settings, defaults(), "")) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m polyrot.settings yaml|schema|keys``: the documented default config, the JSON
    schema, or one line per setting."""
    parser = argparse.ArgumentParser(prog="python -m polyrot.settings", description=main.__doc__.splitlines()[0])
    parser.add_argument("what", choices=["yaml", "schema", "keys"])
    args = parser.parse_args(argv)
    if args.what == "yaml":
        sys.stdout.write(default_yaml())
    elif args.what == "schema":
        sys.stdout.write(json.dumps(schema(), indent=1) + "\n")
    else:
        for leaf in leaves():
            sys.stdout.write(f"{leaf.key}\t{leaf.default!r}\t{' '.join(leaf.doc.split())}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
