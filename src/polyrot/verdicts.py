"""Judging a bar's units against the preregistered threshold, writing and gating verdicts.

Every bar (B, P, C, Pr) and every claim produces a list of *units* — each a dict with at least
``value`` and optionally ``ci95`` — and calls ``write_verdict``, which writes a ``Verdict``.
This module is the one that writes and reads verdict files (``read``); ``check`` reads them
back and decides the exit status of a gate target.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from polyrot import __version__, atomic
from polyrot.claims import KEY_COLUMNS
from polyrot.prereg import Preregistration

# the keys that tell a unit's siblings apart (another seed of the same cohort, site, ...)
REPLICATE_KEYS = ("model", "other")

_COMPARE = {"<": lambda v, t: v < t, ">": lambda v, t: v > t}


@dataclass
class Judgement:
    """What ``judge_units`` says of a set of units (see there)."""

    verdict: str
    value: float
    ci95: list[float] | None
    worst_unit: str | None
    ratio_to_threshold: float | None
    near_miss: bool
    uncertain: bool
    worst_margin: float | None
    fragile: bool
    n_units: int
    n_failing: int
    n_fragile: int

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


@dataclass
class DecoyVerdict(Judgement):
    """The decoy's units, judged against the bar's threshold beside it (never part of it)."""

    model: str = ""
    of: str = ""
    note: str = ""
    units: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        head = {"model": self.model, "of": self.of, "note": self.note}
        return head | _judgement_dict(self) | {"units": self.units}


@dataclass
class Verdict(Judgement):
    """A bar's or a claim's verdict file: what was judged, against which registered rule,
    the judgement, the rule's own entries (``extra``: a claim's table and selection, a bar's
    study-code comparison), the decoy's judgement (bars), every unit, and provenance."""

    claim: str = ""
    kind: str = "bar"
    bar: str | None = None
    name: str | None = None
    hypothesis: str | None = None
    statistic: str | None = None
    comparison: str = ""
    threshold: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)
    decoy: DecoyVerdict | None = None
    units: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    settings_hash: str = ""
    preregistration: dict[str, Any] = field(default_factory=dict)
    package_version: str = ""

    @property
    def title(self) -> str:
        return f"Bar {self.bar}" if self.kind == "bar" else f"Claim {self.claim}"

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object, its keys in the order every verdict file has them."""
        head = {
            "claim": self.claim,
            "kind": self.kind,
            "bar": self.bar,
            "name": self.name,
            "hypothesis": self.hypothesis,
            "statistic": self.statistic,
            "comparison": self.comparison,
            "threshold": self.threshold,
        }
        decoy = {} if self.decoy is None else {"decoy": self.decoy.to_dict()}
        return (
            head
            | _judgement_dict(self)
            | self.extra
            | decoy
            | {
                "units": self.units,
                "inputs": self.inputs,
                "settings_hash": self.settings_hash,
                "preregistration": self.preregistration,
                "package_version": self.package_version,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        known = {f.name for f in fields(cls)} - {"extra", "decoy"}
        data = dict(data)
        decoy = data.pop("decoy", None)
        extra = {k: data.pop(k) for k in list(data) if k not in known}
        return cls(**data, extra=extra, decoy=None if decoy is None else DecoyVerdict(**decoy))


_JUDGEMENT = [f.name for f in fields(Judgement)]


def _judgement_dict(j: Judgement) -> dict[str, Any]:
    return {k: getattr(j, k) for k in _JUDGEMENT}


def read(path: str | Path) -> Verdict:
    """A verdict file as a ``Verdict``."""
    return Verdict.from_dict(atomic.read_json(path))


def judge_value(value: float, spec: dict[str, Any], ci95: Sequence[float] | None = None) -> dict[str, Any]:
    """PASS/FAIL for one value under a bar spec (``comparison``, ``threshold``,
    ``near_miss_factor``), with the ratio to the threshold and the flags."""
    comparison, threshold = spec["comparison"], float(spec["threshold"])
    if comparison not in _COMPARE:
        raise ValueError(f"unknown comparison {comparison!r} in preregistration")
    ok = bool(math.isfinite(value) and _COMPARE[comparison](value, threshold))
    ratio = value / threshold if threshold != 0 else None
    # how far on the wrong side, > 1 when failing; only defined for positive values and thresholds
    near = False
    if not ok and threshold > 0 and value > 0:
        miss = ratio if comparison == "<" else threshold / value
        near = miss <= float(spec.get("near_miss_factor", 1.0))
    out: dict[str, Any] = {"verdict": "PASS" if ok else "FAIL", "ratio_to_threshold": ratio, "near_miss": near}
    if ci95 is not None:
        lo, hi = float(ci95[0]), float(ci95[1])
        out["uncertain"] = bool(lo <= threshold <= hi)
    return out


def sibling_group(unit: Mapping[str, Any]) -> tuple:
    """The units a unit's spread is taken over (the registered fragility rule): a bar's
    within-seed units together and its cross-seed units together; a claim's units that share
    every key column but the model and the other seed."""
    if unit.get("kind") in ("within", "cross"):
        return ("bar", unit["kind"])
    return tuple((k, str(unit[k])) for k in ("arm", *KEY_COLUMNS) if k in unit and k not in REPLICATE_KEYS)


def spread(values: Iterable[float]) -> float | None:
    """The sample standard deviation (n - 1) of the finite values; None with fewer than two."""
    finite = [float(v) for v in values if math.isfinite(v)]
    return statistics.stdev(finite) if len(finite) >= 2 else None


def sibling_spreads(units: Sequence[Mapping[str, Any]]) -> list[float | None]:
    """Each unit's spread over its sibling group (``sibling_group``)."""
    groups: dict[tuple, list[float]] = {}
    for u in units:
        groups.setdefault(sibling_group(u), []).append(u["value"])
    return [spread(groups[sibling_group(u)]) for u in units]


def margin(distance: float, spread: float | None) -> float | None:
    """A distance from a threshold (positive on the passing side) in spreads: ±inf when the
    spread is 0, None without a spread or a finite distance."""
    if spread is None or not math.isfinite(distance):
        return None
    if spread > 0:
        return distance / spread
    return math.copysign(math.inf, distance) if distance else 0.0


def fragility(
    passing: Sequence[bool], margins: Sequence[float | None], straddles: Sequence[bool]
) -> tuple[list[bool], bool, float | None]:
    """The registered fragility rule (amended 2026-11-28), the one place it is written: for
    a verdict's units against its threshold, and for a ledger row's units against the edges
    of its band.

    A unit is fragile when its margin (its distance to the edge in spreads of its sibling
    group) is under one, or its interval straddles the edge. A passing whole (every unit
    passes) is fragile when any unit is, since any of them could flip it; a failing whole
    when every failing unit is. Returns each unit's flag, the whole's, and the smallest
    margin of the units that decide it (the failing ones, or all when none fails)."""
    unit = [bool((m is not None and abs(m) < 1) or s) for m, s in zip(margins, straddles, strict=True)]
    failing = [i for i, ok in enumerate(passing) if not ok]
    deciding = failing or list(range(len(unit)))
    known = [margins[i] for i in deciding if margins[i] is not None]
    whole = all(unit[i] for i in failing) if failing else any(unit)
    return unit, whole, min(known) if known else None


def add_fragility(units: list[dict[str, Any]], spec: dict[str, Any]) -> tuple[bool, float | None]:
    """Each unit's ``margin`` (distance to the threshold, positive on the passing side, in
    sample standard deviations of its sibling group; None with fewer than two finite
    siblings), ``spread`` and ``fragile`` (``fragility``; an interval that contains the
    threshold straddles it), in place; returns the whole's flag and deciding margin."""
    threshold, sign = float(spec["threshold"]), 1.0 if spec["comparison"] == ">" else -1.0
    for u, s in zip(units, sibling_spreads(units), strict=True):
        u["spread"] = s
        u["margin"] = margin(sign * (u["value"] - threshold), s)
    flags, whole, worst = fragility(
        [u["verdict"] == "PASS" for u in units],
        [u["margin"] for u in units],
        [u.get("uncertain", False) for u in units],
    )
    for u, f in zip(units, flags, strict=True):
        u["fragile"] = f
    return whole, worst


def judge_units(units: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Judge each unit in place; the bar passes when every unit passes. The headline value
    is the worst unit's. A passing verdict is ``fragile`` when any unit is, a failing one when
    every failing unit is; its margin is the smallest of those units' (the registered
    fragility rule, amended 2026-11-28)."""
    if not units:
        raise ValueError("a bar needs at least one unit to judge")
    for u in units:
        u.update(judge_value(u["value"], spec, u.get("ci95")))
    fragile, worst_margin = add_fragility(units, spec)
    sign = 1.0 if spec["comparison"] == "<" else -1.0
    # a value that is not finite (an undefined correlation) is the worst
    worst = max(units, key=lambda u: sign * u["value"] if math.isfinite(u["value"]) else math.inf)
    failing = [u for u in units if u["verdict"] == "FAIL"]
    return {
        "verdict": "FAIL" if failing else "PASS",
        "value": worst["value"],
        "ci95": worst.get("ci95"),
        "worst_unit": worst.get("unit"),
        "ratio_to_threshold": worst["ratio_to_threshold"],
        "near_miss": bool(failing) and all(u["near_miss"] for u in failing),
        "uncertain": any(u.get("uncertain", False) for u in units),
        "worst_margin": worst_margin,
        "fragile": fragile,
        "n_units": len(units),
        "n_failing": len(failing),
        "n_fragile": sum(u["fragile"] for u in units),
    }


def write_verdict(
    path: str | Path,
    name: str,
    units: list[dict[str, Any]],
    prereg: Preregistration,
    settings_hash: str,
    inputs: Iterable[str | Path],
    extra: dict[str, Any] | None = None,
    kind: str = "bar",
    decoy: Mapping[str, str] | None = None,
) -> Verdict:
    """Judge ``units`` against bar (``kind="bar"``) or claim (``kind="claim"``) ``name`` of
    ``prereg`` and write the verdict JSON atomically.

    ``decoy`` (``model``, ``of``): the units whose ``model`` is the decoy are judged
    against the same threshold and recorded under ``decoy`` with their own verdict; they
    never enter the bar's verdict, which is about the real models."""
    spec = prereg.bar(name) if kind == "bar" else prereg.claim(name)
    judged_decoy = None
    if decoy is not None:
        decoy_units = [u for u in units if u["model"] == decoy["model"]]
        units = [u for u in units if u["model"] != decoy["model"]]
        judged_decoy = DecoyVerdict(
            **judge_units(decoy_units, spec),
            model=decoy["model"],
            of=decoy["of"],
            note="judged against the bar's threshold; not part of the bar's verdict",
            units=decoy_units,
        )
    record = Verdict(
        **judge_units(units, spec),
        claim=f"bar_{name}" if kind == "bar" else name,
        kind=kind,
        bar=name if kind == "bar" else None,
        name=spec.get("name"),
        hypothesis=spec.get("hypothesis"),
        statistic=spec.get("statistic"),
        comparison=spec["comparison"],
        threshold=float(spec["threshold"]),
        extra=dict(extra or {}),
        decoy=judged_decoy,
        units=units,
        inputs=[str(p) for p in inputs],
        # sha256 of the settings the judging job received (its params)
        settings_hash=settings_hash,
        preregistration=prereg.provenance(),
        package_version=__version__,
    )
    atomic.write_json(path, record.to_dict())
    return record


def describe(record: Verdict) -> str:
    """One human line per verdict, plus its amendments."""
    flags = [f for f in ("near_miss", "uncertain", "fragile") if getattr(record, f)]
    ratio = record.ratio_to_threshold
    line = (
        f"{record.title}: {record.verdict}  worst value {record.value:.4g} {record.comparison} "
        f"{record.threshold:.4g}?{'' if ratio is None else f' ratio {ratio:.3g}'}  "
        f"({record.n_failing}/{record.n_units} units failing{', ' + ', '.join(flags) if flags else ''})"
    )
    if record.worst_margin is not None:
        line += f"  margin {record.worst_margin:.3g} sibling spreads"
    if record.decoy is not None:
        d = record.decoy
        line += f"\n    decoy {d.model} (of {d.of}): {d.verdict}  worst value {d.value:.4g}"
    if "study_code" in record.extra:
        line += f"\n    as the study's code computes it (not judged): worst value {record.extra['study_code']['worst_value']:.4g}"
    for a in record.preregistration["amendments"]:
        line += f"\n    amended {a['date']}: {a['reason']} ({len(a['changes'])} change(s): {', '.join(a['changes'])})"
    return line


def check(paths: Iterable[str | Path], strict: bool, log: str | Path | None = None) -> int:
    """Print every verdict (and append it to ``log``); return 1 if ``strict`` and any bar
    failed, else 0."""
    records = [read(p) for p in paths]
    lines = [describe(r) for r in records]
    failed = [r.claim for r in records if not r.passed]
    status = 1 if failed and strict else 0
    if status:
        lines.append(f"strict_bars=true: failing {', '.join(failed)}")
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    if log is not None:
        with open(log, "a") as fh:
            fh.write("\n".join(lines) + "\n")
    return status
