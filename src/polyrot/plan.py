"""The run plan: what one run of the workflow is, as typed objects built from the validated
config and the preregistration, importable and testable without Snakemake.

``workflow/rules/common.smk`` builds one ``Plan`` and the rules iterate over it: the arms and
what each audits (``Arm``: models, pairs, sites, the audited checkpoint, SAE and drift
settings), the toy training stacks, the bars with their decoy and references, the claims and
which judge takes each, and the registry of results tables that claims and the ledger read
(``TABLES``: name -> the artefact that produces it, ``polyrot.paths``).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyrot import audit, paths
from polyrot.config import Config
from polyrot.prereg import Preregistration

ARM_LABELS = {"toy": "toy", "neox": "GPT-NeoX"}
# The four bars, each judged by its own rule; Figure 4 draws them in this order.
BARS = ["B", "P", "C", "Pr"]
# The SAE sets: the registered SAEs (our recipe), and the paper comparison's (the study's
# recipe, polyrot.sae.RECIPES) on the same activations at the same settings.
SAE_RECIPES = ["ours", "study"]
# The steering tables every arm's steering writes (the steering claims' tables).
STEERING_TABLES = ["transfer", "dose", "control"]
SPLITS = ("fit", "heldout")


@dataclass(frozen=True)
class TableSpec:
    """A results table by the name claims and the ledger give it: the artefact that holds it
    and that artefact's ``table``/``name`` wildcard; ``per`` "arm" (one per arm), "drift" (one
    per drift arm), "steering" (one per steering arm), "toy" (the toy arm only) or "run" (one
    per run, arm "all"); ``judge`` the rule that judges claims on it."""

    artefact: str
    key: str | None
    per: str = "arm"
    judge: str = "judge_claims"


# The registry of tables that claims and the ledger read.
TABLES: dict[str, TableSpec] = {
    "ev": TableSpec("audit", "ev"),
    "ev_study_recipe": TableSpec("audit", "ev_study_recipe"),
    "decoder_cosine": TableSpec("audit", "decoder_cosine"),
    "decoder_cosine_study_recipe": TableSpec("audit", "decoder_cosine_study_recipe"),
    "decoder_cosine_all_pairs_study_recipe": TableSpec("audit", "decoder_cosine_all_pairs_study_recipe"),
    "firing": TableSpec("audit", "firing"),
    "firing_study_recipe": TableSpec("audit", "firing_study_recipe"),
    "haar_rotations": TableSpec("haar", "rotations"),
    "haar_pooled": TableSpec("haar", "pooled_paper_test"),
    "drift": TableSpec("drift", "drift", per="drift"),
    "drift_paper_direction": TableSpec("drift", "paper_direction", per="drift"),
    "haar_power": TableSpec("haar_power", "power", per="run"),
    "decoy": TableSpec("decoy_table", None, per="run"),
    **{
        f"steering_{t}": TableSpec("steering_table", t, per="steering", judge="judge_steering_claims")
        for t in STEERING_TABLES
    },
    **{f"steering_study_{t}": TableSpec("steering_table", f"study_{t}", per="toy") for t in ("ratios", "doses")},
}
# What claims may read, and what the ledger reads (only what a run makes), in input order.
CLAIM_TABLES = [
    "ev",
    "decoder_cosine",
    "firing",
    "haar_rotations",
    "drift",
    "haar_power",
    "decoy",
    *(f"steering_{t}" for t in STEERING_TABLES),
]
LEDGER_TABLES = [
    "ev",
    "ev_study_recipe",
    "decoder_cosine",
    "decoder_cosine_study_recipe",
    "decoder_cosine_all_pairs_study_recipe",
    "firing",
    "firing_study_recipe",
    "haar_rotations",
    "haar_pooled",
    "drift",
    "haar_power",
    "drift_paper_direction",
    "steering_transfer",
    "steering_dose",
    "steering_study_ratios",
    "steering_study_doses",
]


class Pair(tuple):
    """Two models compared, ``other`` aligned to ``anchor`` within ``cohort``: the tuple
    (cohort, anchor, other) that the scripts receive, with names."""

    def __new__(cls, cohort: str, anchor: str, other: str) -> Pair:
        return super().__new__(cls, (cohort, anchor, other))

    def __getnewargs__(self) -> tuple[str, str, str]:
        return tuple(self)

    cohort = property(operator.itemgetter(0))
    anchor = property(operator.itemgetter(1))
    other = property(operator.itemgetter(2))


@dataclass(frozen=True)
class Arm:
    """What one arm (toy or GPT-NeoX) audits."""

    name: str
    models: list[str]
    # each non-anchor model against its cohort's anchor
    pairs: list[Pair]
    # every pair of models within a cohort (the paper's Pythia decoder cosine: all 36 pairs)
    all_pairs: list[Pair]
    sites: list[str]
    checkpoint: str
    sae: dict[str, Any]
    drift: dict[str, Any] | None
    steering_cohorts: list[str]

    @property
    def label(self) -> str:
        return ARM_LABELS[self.name]

    def drift_checkpoints(self, model: str) -> list[str]:
        """The checkpoints of ``model`` that the drift analysis reads besides the audited one."""
        return list(self.drift["checkpoints"]) if self.drift is not None and self.drift["model"] == model else []

    def null_site(self, site: str) -> str:
        return audit.null_site_for(self.sites, site)

    def rotation_keys(self) -> list[dict[str, str]]:
        """(cohort, anchor, other, site) of every fitted R, in one fixed order."""
        return [
            {"cohort": p.cohort, "anchor": p.anchor, "other": p.other, "site": s}
            for s in self.sites
            for p in self.pairs
        ]

    def drift_caches(self) -> list[dict[str, str]]:
        """(checkpoint, site, split) of every cache the drift reads, in input order: the
        audited checkpoint's, then each earlier checkpoint's."""
        if self.drift is None:
            raise ValueError(f"arm {self.name} has no drift analysis (audit.{self.name}.drift)")
        return [
            {"checkpoint": c, "site": s, "split": split}
            for c in [self.checkpoint, *self.drift["checkpoints"]]
            for s in self.sites
            for split in SPLITS
        ]

    def sae_keys(self) -> list[dict[str, Any]]:
        """(site, expansion) of every SAE per model."""
        return [{"site": s, "expansion": e} for s in self.sites for e in self.sae["expansions"]]


@dataclass(frozen=True)
class Table:
    """One results table of this run: ``arm`` ("all" for a run's arm-free table), its
    registered name and its path."""

    arm: str
    table: str
    path: str

    def row(self) -> dict[str, str]:
        return {"arm": self.arm, "table": self.table, "path": self.path}


@dataclass(frozen=True)
class Plan:
    """One run: its arms, training stacks, bars, claims and tables."""

    arms: dict[str, Arm]
    toy_stacks: dict[str, list[str]]
    bars: list[str]
    decoy: str
    decoy_of: str
    # each non-anchor toy model's cross-seed reference in every bar (its cohort's anchor);
    # the decoy's: the model it is made from
    bar_references: dict[str, str]
    shared_io_anchors: set[str]
    # claim name -> the table it reads
    claims: dict[str, str]
    files: paths.Results = field(repr=False)

    @property
    def drift_arms(self) -> list[str]:
        return [a for a, arm in self.arms.items() if arm.drift is not None]

    @property
    def steering_cohorts(self) -> dict[str, list[str]]:
        return {a: arm.steering_cohorts for a, arm in self.arms.items() if arm.steering_cohorts}

    def arm_label(self, arms: list[str] | None = None) -> str:
        """The arms a result is drawn from, in words ("toy and GPT-NeoX")."""
        return " and ".join(ARM_LABELS[a] for a in (self.arms if arms is None else arms))

    def claims_judged_by(self, judge: str) -> list[str]:
        """The claims a judging rule takes: by the registry entry of each claim's table."""
        return [c for c, t in sorted(self.claims.items()) if _spec(t).judge == judge]

    def table_path(self, arm: str, name: str) -> Path:
        spec = _spec(name)
        wildcards: dict[str, str] = {} if spec.per == "run" else {"arm": arm}
        if spec.key is not None:
            wildcards["name" if spec.artefact == "steering_table" else "table"] = spec.key
        if spec.artefact == "steering_table":
            wildcards["ext"] = "tsv"
        return self.files(spec.artefact, **wildcards)

    def tables(self, names: list[str]) -> list[Table]:
        """Every table of ``names`` this run makes, in the order of ``names``: a run of
        consecutive names of one kind (``TableSpec.per``) arm by arm, each arm's in name order
        (the per-arm ones for every arm, drift ones for each drift arm, steering ones for each
        steering arm, the toy arm's, and the run's arm-free ones under arm "all")."""
        arms_of = {
            "arm": list(self.arms),
            "drift": self.drift_arms,
            "steering": list(self.steering_cohorts),
            "toy": [a for a in self.arms if a == "toy"],
            "run": ["all"],
        }
        out: list[Table] = []
        for per, group in itertools.groupby(names, key=lambda n: _spec(n).per):
            chosen = list(group)
            out += [Table(arm, n, str(self.table_path(arm, n))) for arm in arms_of[per] for n in chosen]
        return out

    def claim_tables(self, judge: str) -> list[Table]:
        """The tables a judging rule reads: those of ``CLAIM_TABLES`` it judges claims on."""
        return self.tables([n for n in CLAIM_TABLES if _spec(n).judge == judge])


def _spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise KeyError(f"no results table {name!r} (registered: {sorted(TABLES)})")
    return TABLES[name]


def _arm(cfg: Config, name: str) -> Arm:
    audited = cfg.raw["audit"][name]
    if name == "toy":
        groups = {n: list(c.models) for n, c in cfg.cohorts.items()}
        pairs = [Pair(c.name, c.anchor_model, m) for c in cfg.cohorts.values() for m in c.models if m != c.anchor_model]
        models, checkpoint, steering = cfg.models, cfg.audit.checkpoint, list(cfg.cohorts)
    else:
        neox = cfg.neox
        models, checkpoint, steering = list(neox.models), neox.revision, ["neox"]
        groups = {"neox": models}
        pairs = [Pair("neox", a, b) for a, b in cfg.neox_pairs]
    return Arm(
        name=name,
        models=models,
        pairs=pairs,
        all_pairs=[Pair(n, a, b) for n, g in groups.items() for i, a in enumerate(g) for b in g[i + 1 :]],
        sites=list(audited["sites"]),
        checkpoint=checkpoint,
        sae=cfg.params(f"audit.{name}.sae"),
        drift=cfg.params(f"audit.{name}.drift") if audited.get("drift") is not None else None,
        steering_cohorts=steering,
    )


def build(cfg: Config, prereg: Preregistration) -> Plan:
    """The plan of the run ``cfg`` configures, judged against ``prereg``."""
    claims = {c: prereg.claim(c)["table"] for c in sorted(prereg.effective.get("claims", {}))}
    for claim, table in claims.items():
        _spec(table)  # a claim on an unregistered table is refused before any job runs
        if table not in CLAIM_TABLES:
            raise ValueError(f"claim {claim} reads table {table!r}, which claims may not read")
    decoy_of = cfg.bars.decoy.model
    decoy = f"{decoy_of}-decoy"
    return Plan(
        arms={a: _arm(cfg, a) for a in cfg.arms},
        toy_stacks=cfg.toy_stacks,
        bars=list(BARS),
        decoy=decoy,
        decoy_of=decoy_of,
        bar_references={
            **{m: c.anchor_model for c in cfg.cohorts.values() for m in c.models if m != c.anchor_model},
            decoy: decoy_of,
        },
        shared_io_anchors={c.anchor_model for c in cfg.cohorts.values() if c.shared_io},
        claims=claims,
        files=paths.Results(cfg.results_dir),
    )


def ledger_scale(cfg: Config) -> str:
    """What the ledger says of this run's scale."""
    neox = cfg.get("neox")
    return (
        f"toy {cfg.train.steps} steps x {cfg.train.batch_size}, cohorts "
        + ", ".join(f"{n} {len(c.models)} models" for n, c in cfg.cohorts.items())
        + (f"; GPT-NeoX {neox.source} {len(neox.models)} models" if neox is not None else "; no GPT-NeoX arm")
    )


def as_rows(tables: list[Table]) -> list[Mapping[str, str]]:
    return [t.row() for t in tables]
