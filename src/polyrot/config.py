"""Configuration: schema validation with messages that name the key, and typed access.

``load(raw)`` validates a config dict (as Snakemake or ``yaml.safe_load`` produced it)
against ``config.schema.yaml``, checks the cross-field rules the schema cannot express,
and returns a frozen ``Config``.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml


class ConfigError(ValueError):
    """A config that the schema or a cross-field rule refuses; the message names the key."""


@dataclass(frozen=True)
class TaskConfig:
    """Dyck-3 sampling (SPEC §2)."""

    train_min_len: int = 2
    """Shortest training content length."""
    train_max_len: int = 62
    """Longest training content length."""
    p_valid: float = 0.5
    """Probability that a sequence's content is a valid Dyck string."""
    p_open: float = 0.55
    """Probability of opening a bracket while depth allows."""
    analysis_n: int = 1024
    """Sequences in the fixed analysis batch."""
    analysis_seed: int = 20260501
    """Generator seed of the analysis batch (identical for every model)."""
    heldout_n: int = 512
    """Sequences per held-out set (compositional, long)."""
    heldout_seed: int = 20260502
    """Generator seed of the held-out sets."""


@dataclass(frozen=True)
class CohortConfig:
    """One cohort of independently seeded models."""

    name: str
    """One capital letter; model names are ``name + seed``."""
    seeds: tuple[int, ...]
    """Training seeds."""
    anchor: int
    """Reference seed (cross-seed comparisons are against it)."""
    shared_io: bool
    """Non-anchor seeds take the anchor's trained W_E and unembeddings, frozen."""

    def model(self, seed: int) -> str:
        return f"{self.name}{seed}"

    @property
    def models(self) -> list[str]:
        return [self.model(s) for s in self.seeds]

    @property
    def anchor_model(self) -> str:
        return self.model(self.anchor)


@dataclass(frozen=True)
class EarlyStop:
    """Stop ``patience`` steps after the min held-out accuracy first reaches ``threshold``."""

    threshold: float = 0.9999
    """Min held-out accuracy (over heads and sets) that starts the countdown."""
    patience: int = 10_000
    """Steps trained after the threshold is first reached."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of the toy transformer (SPEC §4)."""

    steps: int = 60_000
    """Maximum optimiser steps."""
    batch_size: int = 512
    """Sequences per step."""
    lr: float = 3e-3
    """Peak learning rate."""
    warmup_steps: int = 500
    """Linear warm-up steps."""
    final_lr_fraction: float = 0.02
    """The cosine decays to this fraction of the peak at ``steps``."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay."""
    grad_clip: float = 1.0
    """Maximum global gradient norm."""
    checkpoint_every: int = 200
    """Steps between checkpoints; held-out evaluation runs at each checkpoint."""
    keep_all_checkpoints: bool = True
    """Keep every checkpoint, or only the latest and the best."""
    log_every: int = 50
    """Steps between training-loss log rows."""
    early_stop: EarlyStop | None = field(default_factory=EarlyStop)
    """The early-stop rule, or None to always train ``steps`` steps."""
    length_bucketing: bool = False
    """Sort each data chunk by length so each batch is trimmed to its longest row."""
    chunk_steps: int = 50
    """Batches generated (and bucketed) together."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto``."""
    amp: bool = True
    """bf16 autocast on CUDA."""
    threads: int = 1
    """CPU threads per training job."""


@dataclass(frozen=True)
class BarBConfig:
    """Sampling for Bar B (its threshold and epsilon live in preregistration.md)."""

    n_samples: int = 10_000_000
    """Sequences drawn from the training mixture."""
    batch_size: int = 4096
    """Sequences per forward pass."""
    seed: int = 20260503
    """Generator seed of the Bar B samples (identical for every model)."""
    checkpoint: str = "best"
    """Which checkpoint of each model is judged."""


@dataclass(frozen=True)
class SAESettings:
    """SAE hyper-parameters of one arm (SPEC §6)."""

    expansions: tuple[int, ...] = (8, 32)
    """Dictionary sizes as multiples of d."""
    l1: float = 1e-3
    """L1 coefficient in the paper's normalisation (MSE averaged over every element, L1 summed
    over features and averaged over rows); see ``polyrot.sae``."""
    lr: float = 5e-4
    """Adam learning rate."""
    batch_size: int = 4096
    """Rows per step."""
    steps: int = 4000
    """Optimiser steps."""
    seed: int = 0
    """Init and batch-order seed."""
    shared_init: bool = False
    """Same seed (so identical initial dictionaries) for every model's SAE; otherwise
    ``sae_seed(seed, model)`` gives each model its own."""
    stacked: bool = True
    """Train one site's SAEs for all models in one batched process."""


@dataclass(frozen=True)
class DriftConfig:
    """Checkpoint drift (SPEC §9): one model's earlier checkpoints against its audited one."""

    model: str
    """The model whose checkpoints are compared."""
    checkpoints: tuple[str, ...]
    """Earlier checkpoints (toy ``stepNNNNNN`` directories; GPT-NeoX revisions ``stepN``)."""
    early: str
    """The checkpoint the drift claims judge (the paper's single point, Pythia ``step3000``)."""


@dataclass(frozen=True)
class ArmAudit:
    """What the audit covers in one arm."""

    sites: tuple[str, ...]
    """Residual sites, in forward order; the first is the embedding site."""
    sae: SAESettings
    """SAE hyper-parameters."""
    drift: DriftConfig | None = None
    """Checkpoint drift of one model, or None."""

    @property
    def internal_sites(self) -> tuple[str, ...]:
        return self.sites[1:]


@dataclass(frozen=True)
class AuditConfig:
    """The rotation audit (SPEC §6, §12)."""

    checkpoint: str = "best"
    """Which checkpoint of each toy model is audited."""
    heldout_n: int = 512
    """Sequences in the held-out batch."""
    heldout_seed: int = 20260504
    """Generator seed of the held-out batch."""
    controls_seed: int = 20260505
    """Seed of the row permutation and the Gaussian baseline."""
    gaussian_n: int = 8192
    """Samples of the Gaussian baseline."""
    arms: dict[str, ArmAudit] = field(default_factory=dict)
    """Per-arm sites and SAE settings."""


@dataclass(frozen=True)
class NeoxCorpusConfig:
    """The text the GPT-NeoX arm's activations are read on (SPEC §5)."""

    source: str = "pile-10k"
    """``python-docs`` (offline), ``pile-10k`` (hub) or ``file`` (a local .jsonl)."""
    seq_len: int = 256
    """Tokens per analysis sequence."""
    fit_sequences: int = 256
    """Sequences the SAEs and rotations are fitted on."""
    heldout_sequences: int = 128
    """Sequences every reported number is evaluated on (from later documents)."""
    windows_per_document: int = 1
    """Consecutive ``seq_len`` windows per document with at least that many tokens."""
    path: str | None = None
    """``file``: the .jsonl path (one ``{"text": ...}`` per line)."""
    heldout_fraction: float = 0.25
    """``python-docs``: fraction of documents held out of the family's training."""


@dataclass(frozen=True)
class NeoxExtractConfig:
    """How activations are extracted."""

    batch_size: int = 32
    """Sequences per forward pass."""
    dtype: str = "float32"
    """Weights' dtype during extraction; caches are float32."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto``."""
    threads: int = 1
    """CPU threads per extraction job."""


@dataclass(frozen=True)
class FamilyConfig:
    """The offline GPT-NeoX family: Pythia's architecture at laptop size."""

    vocab_size: int = 1024
    """BPE vocabulary, trained on the corpus's training documents."""
    hidden_size: int = 64
    """d of the residual stream."""
    layers: int = 4
    """Transformer layers."""
    heads: int = 4
    """Attention heads."""
    intermediate_size: int = 256
    """MLP width."""
    rotary_pct: float = 0.25
    """Fraction of head dimensions with rotary embeddings."""
    steps: int = 400
    """Optimiser steps; ``step{steps}`` is the final revision."""
    batch_size: int = 32
    """Sequences per step."""
    lr: float = 3e-3
    """Peak AdamW learning rate."""
    warmup_steps: int = 40
    """Linear warm-up steps."""
    final_lr_fraction: float = 0.1
    """Cosine floor as a fraction of ``lr``."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay."""
    grad_clip: float = 1.0
    """Maximum global gradient norm."""
    save_steps: tuple[int, ...] = (400,)
    """Steps saved as revisions ``step{N}``."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto``."""
    threads: int = 1
    """CPU threads per training job."""


@dataclass(frozen=True)
class NeoxConfig:
    """The GPT-NeoX arm (SPEC §5)."""

    source: str
    """``family`` (trained here), ``local`` (``local_dir``) or ``hub``."""
    models: tuple[str, ...]
    """Model names (hub repositories or local folders)."""
    anchor: str
    """The reference model."""
    revision: str
    """The audited revision."""
    corpus: NeoxCorpusConfig
    """Analysis text."""
    extract: NeoxExtractConfig
    """Extraction settings."""
    local_dir: Path | None = None
    """Where ``local`` (and ``family``) models live: ``<local_dir>/<model>/<revision>/``."""
    hub_org: str | None = None
    """``hub``: the repositories' organisation."""
    family: FamilyConfig | None = None
    """``family``: the offline family's architecture and training."""

    def seed_of(self, model: str) -> int:
        """A family model's training seed, from its ``-seed<N>`` suffix."""
        m = re.search(r"-seed(\d+)$", model)
        if m is None:
            raise ValueError(f"GPT-NeoX family model {model!r} does not end in -seed<N>")
        return int(m.group(1))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(anchor, other) for every other model."""
        return [(self.anchor, m) for m in self.models if m != self.anchor]


@dataclass(frozen=True)
class HaarConfig:
    """Haar statistics (SPEC §7, §12.2)."""

    alpha: float = 0.05
    """Test level."""
    seed: int = 20260506
    """Seed of every Haar sample drawn."""
    n_null: int = 200
    """Haar samples behind the Frobenius and permutation-distance nulls."""
    n_reference: int = 10
    """Haar matrices in the paper's pooled two-sample test."""
    power: tuple[tuple[int, int], ...] = ((64, 200), (512, 50))
    """(d, matrices per alternative) of the size/power table."""
    rank_variance: float = 0.99
    """Variance that defines the well-determined subspace of R."""
    min_determined_fraction: float = 0.5
    """Below this fraction of d, no Haar reading is offered."""


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    results_dir: Path
    """Where every output goes."""
    preregistration: Path
    """The preregistration document."""
    preregistration_lock: Path
    """Its lock file (hashes of registered and amendment blocks)."""
    task: TaskConfig
    cohorts: dict[str, CohortConfig]
    train: TrainConfig
    bar_b: BarBConfig
    audit: AuditConfig
    haar: HaarConfig
    strict_bars: bool
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The validated dict, for hashing and for Snakemake params."""
    neox: NeoxConfig | None = None
    """The GPT-NeoX arm, or None when the config has no ``neox`` section."""

    @property
    def models(self) -> list[str]:
        return [m for c in self.cohorts.values() for m in c.models]

    def cohort_of(self, model: str) -> CohortConfig:
        for c in self.cohorts.values():
            if model in c.models:
                return c
        raise KeyError(f"model {model!r} is in no cohort of the config (models: {self.models})")

    def seed_of(self, model: str) -> int:
        return int(model[1:])

    def model_dir(self, model: str) -> Path:
        return self.results_dir / "toy" / "models" / model


@cache
def schema() -> dict[str, Any]:
    text = resources.files("polyrot").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: Any) -> str:
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        unknown = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        prefix = "" if where == "<top level>" else where + "."
        names = ", ".join(f"'{prefix}{k}'" for k in unknown)
        hint = f" (allowed: {', '.join(sorted(known))})" if known else ""
        return f"unknown config key {names}{hint}"
    if error.validator == "required":
        return f"config key '{where}': {error.message}"
    if error.validator == "oneOf":
        return f"config key '{where}': {error.instance!r} must be null or an object with threshold and patience"
    return f"config key '{where}': {error.message}"


def _coerce_booleans(raw: Any, node: dict[str, Any]) -> Any:
    """``--config key=true`` reaches us as the string 'true': make it a bool where the
    schema says boolean (and nowhere else)."""
    if node.get("type") == "boolean" and isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if isinstance(raw, dict):
        props = node.get("properties", {})
        pattern_nodes = list(node.get("patternProperties", {}).values())
        for k, v in raw.items():
            child = props.get(k) or (pattern_nodes[0] if pattern_nodes else None)
            if child is not None:
                raw[k] = _coerce_booleans(v, child)
    return raw


def validate(raw: dict[str, Any]) -> None:
    """Raise ``ConfigError`` listing every schema violation and cross-field problem."""
    import jsonschema  # only validation needs it

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _cross_field_problems(raw)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def _cross_field_problems(raw: dict[str, Any]) -> list[str]:
    out = []
    task, train = raw["task"], raw["train"]
    if task["train_min_len"] > task["train_max_len"]:
        out.append(
            f"config key 'task.train_min_len' ({task['train_min_len']}) exceeds "
            f"'task.train_max_len' ({task['train_max_len']})"
        )
    for name, c in raw["cohorts"].items():
        if c["anchor"] not in c["seeds"]:
            out.append(
                f"config key 'cohorts.{name}.anchor' ({c['anchor']}) is not one of 'cohorts.{name}.seeds' {c['seeds']}"
            )
    if train["warmup_steps"] >= train["steps"]:
        out.append(
            f"config key 'train.warmup_steps' ({train['warmup_steps']}) must be smaller than 'train.steps' ({train['steps']})"
        )
    from polyrot.toy_model import SITES

    unknown = [site for site in raw["audit"]["toy"]["sites"] if site not in SITES]
    if unknown:
        out.append(f"config key 'audit.toy.sites' names unknown site(s) {unknown} (known: {list(SITES)})")
    if train["checkpoint_every"] > train["steps"]:
        out.append(
            f"config key 'train.checkpoint_every' ({train['checkpoint_every']}) exceeds 'train.steps' ({train['steps']})"
        )
    toy_models = [f"{name}{seed}" for name, c in raw["cohorts"].items() for seed in c["seeds"]]
    drift = raw["audit"]["toy"].get("drift")
    if drift is not None:
        out += _drift_problems("toy", drift, toy_models)
        for ckpt in drift["checkpoints"]:
            step = int(ckpt[4:])
            if not re.fullmatch(r"step\d{6,}", ckpt):
                out.append(
                    f"config key 'audit.toy.drift.checkpoints': {ckpt!r} is not a toy checkpoint name (stepNNNNNN)"
                )
            elif step % train["checkpoint_every"] or not 0 < step <= train["steps"]:
                out.append(
                    f"config key 'audit.toy.drift.checkpoints': {ckpt} is never written "
                    f"(checkpoints are every {train['checkpoint_every']} steps up to {train['steps']})"
                )
        if not train["keep_all_checkpoints"]:
            out.append(
                "config key 'audit.toy.drift' needs 'train.keep_all_checkpoints: true' (earlier checkpoints are pruned)"
            )
    return out + _neox_problems(raw)


def _drift_problems(arm: str, drift: dict[str, Any], models: list[str]) -> list[str]:
    out = []
    if drift["model"] not in models:
        out.append(f"config key 'audit.{arm}.drift.model' ({drift['model']!r}) is not one of the arm's models {models}")
    if drift["early"] not in drift["checkpoints"]:
        out.append(f"config key 'audit.{arm}.drift.early' ({drift['early']!r}) is not one of its checkpoints")
    return out


def _neox_problems(raw: dict[str, Any]) -> list[str]:
    neox, audit = raw.get("neox"), raw["audit"].get("neox")
    if (neox is None) != (audit is None):
        return ["config sections 'neox' and 'audit.neox' must be given together (or both left out)"]
    if neox is None:
        return []
    out = []
    if neox["anchor"] not in neox["models"]:
        out.append(f"config key 'neox.anchor' ({neox['anchor']!r}) is not one of 'neox.models' {neox['models']}")
    for key, source in (("local_dir", "local"), ("hub_org", "hub"), ("family", "family")):
        if neox["source"] == source and key not in neox:
            out.append(f"config key 'neox.{key}' is required when 'neox.source' is {source}")
    if neox["corpus"]["source"] == "file" and "path" not in neox["corpus"]:
        out.append("config key 'neox.corpus.path' is required when 'neox.corpus.source' is file")
    bad_sites = [s for s in audit["sites"] if not re.fullmatch(r"resid_pre_0|resid_post_\d+", s)]
    if bad_sites:
        out.append(
            f"config key 'audit.neox.sites' names unknown site(s) {bad_sites} "
            "(GPT-NeoX sites: resid_pre_0, the embeddings, and resid_post_<i>, the output of layer i)"
        )
    drift = audit.get("drift")
    if drift is not None:
        out += _drift_problems("neox", drift, neox["models"])
    family = neox.get("family")
    if neox["source"] == "family" and family is not None:
        unnamed = [m for m in neox["models"] if not re.search(r"-seed\d+$", m)]
        if unnamed:
            out.append(f"config key 'neox.models': family models must end in -seed<N> (the training seed): {unnamed}")
        seeds = [re.search(r"(\d+)$", m).group(1) for m in neox["models"] if m not in unnamed]
        if len(set(map(int, seeds))) != len(seeds):
            out.append("config key 'neox.models': two family models share a seed")
        if family["steps"] not in family["save_steps"]:
            out.append(f"config key 'neox.family.save_steps' must include the final step {family['steps']}")
        if any(s > family["steps"] for s in family["save_steps"]):
            out.append(f"config key 'neox.family.save_steps' has steps beyond 'neox.family.steps' ({family['steps']})")
        saved = {f"step{s}" for s in family["save_steps"]}
        wanted = [neox["revision"], *(drift["checkpoints"] if drift else [])]
        missing = [r for r in wanted if r not in saved]
        if missing:
            out.append(f"revision(s) {missing} (neox.revision, audit.neox.drift) are not in 'neox.family.save_steps'")
        if family["hidden_size"] % family["heads"]:
            out.append(
                f"config key 'neox.family.heads' ({family['heads']}) must divide hidden_size ({family['hidden_size']})"
            )
        too_deep = [s for s in audit["sites"] if s.startswith("resid_post_") and int(s[11:]) >= family["layers"]]
        if too_deep:
            out.append(f"config key 'audit.neox.sites': {too_deep} but the family has {family['layers']} layers")
    return out


def load(raw: dict[str, Any]) -> Config:
    """Validate ``raw`` and return the typed config."""
    raw = _coerce_booleans(json.loads(json.dumps(raw)), schema())  # plain, detached copy
    validate(raw)
    t = raw["train"]
    es = t["early_stop"]
    train = TrainConfig(
        **{k: v for k, v in t.items() if k not in ("early_stop", "betas")},
        betas=(float(t["betas"][0]), float(t["betas"][1])),
        early_stop=None if es is None else EarlyStop(**es),
    )
    cohorts = {
        name: CohortConfig(name=name, seeds=tuple(c["seeds"]), anchor=c["anchor"], shared_io=c["shared_io"])
        for name, c in raw["cohorts"].items()
    }
    return Config(
        results_dir=Path(raw["results_dir"]),
        preregistration=Path(raw["preregistration"]["document"]),
        preregistration_lock=Path(raw["preregistration"]["lock"]),
        task=TaskConfig(**raw["task"]),
        cohorts=cohorts,
        train=train,
        bar_b=BarBConfig(**raw["bars"]["B"]),
        audit=_audit(raw["audit"]),
        haar=HaarConfig(
            **{k: v for k, v in raw["haar"].items() if k != "power"},
            power=tuple((p["d"], p["n"]) for p in raw["haar"]["power"]),
        ),
        strict_bars=raw["strict_bars"],
        raw=raw,
        neox=_neox(raw.get("neox"), Path(raw["results_dir"])),
    )


ARM_NAMES = ("toy", "neox")


def _audit(raw: dict[str, Any]) -> AuditConfig:
    arms = {}
    for arm in ARM_NAMES:
        if arm not in raw:
            continue
        a = raw[arm]
        sae = a["sae"]
        drift = a.get("drift")
        arms[arm] = ArmAudit(
            sites=tuple(a["sites"]),
            sae=SAESettings(**{**sae, "expansions": tuple(sae["expansions"])}),
            drift=None if drift is None else DriftConfig(drift["model"], tuple(drift["checkpoints"]), drift["early"]),
        )
    return AuditConfig(**{k: v for k, v in raw.items() if k not in ARM_NAMES}, arms=arms)


def _neox(raw: dict[str, Any] | None, results_dir: Path) -> NeoxConfig | None:
    if raw is None:
        return None
    family = raw.get("family")
    if raw["source"] == "family":
        local_dir = results_dir / "neox" / "models"
    else:
        local_dir = Path(raw["local_dir"]) if "local_dir" in raw else None
    return NeoxConfig(
        source=raw["source"],
        models=tuple(raw["models"]),
        anchor=raw["anchor"],
        revision=raw["revision"],
        corpus=NeoxCorpusConfig(**raw["corpus"]),
        extract=NeoxExtractConfig(**raw["extract"]),
        local_dir=local_dir,
        hub_org=raw.get("hub_org"),
        family=None
        if family is None
        else FamilyConfig(**{**family, "save_steps": tuple(sorted(family["save_steps"]))}),
    )


def load_file(path: str | Path) -> Config:
    """Read a YAML config file and ``load`` it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    return load(yaml.safe_load(path.read_text()) or {})


def sae_seed(seed: int, model: str, shared_init: bool) -> int:
    """The SAE seed of ``model``: ``seed`` if shared, else a stable per-model derivation."""
    if shared_init:
        return seed
    return int(np.random.SeedSequence([seed, zlib.crc32(model.encode())]).generate_state(1)[0])


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def as_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain dict (for hashing and sidecars)."""
    return asdict(obj)
