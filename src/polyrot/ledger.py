"""The claims ledger: every headline number of the paper beside ours, judged by a registered rule.

The paper's numbers live in ``paper_values.yaml`` (package data); the tolerance that judges
each, and the comparison rule, in preregistration.md (``ledger``, amendment of 2026-11-28).
This module says where in this run's results our value of each number is (``SOURCES``, one
entry per paper value, in the paper's convention with ours beside it), and turns the three
into one row per number: the paper's statement, our value (point, or range over units, with
an interval where one exists), the matched negative control, the judge, the verdict, how
fragile it is and why it differs.

The ledger reports: it never gates and never hides a row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from polyrot import atomic, verdicts

KINDS = ("point", "range", "at_least", "at_most", "per_unit")
REPRODUCED = "reproduced"
DIFFERS = "differs"
NOT_AT_SCALE = "not computed at this scale"
NOT_OFFLINE = "not computable offline"
NOT_COMPUTED = "not computed by this pipeline"
VERDICTS = (REPRODUCED, DIFFERS, NOT_AT_SCALE, NOT_OFFLINE, NOT_COMPUTED)
# the ledger's columns, in order: what a reader looks for first (the number, ours, the
# verdict and why), then how it was computed
COLUMNS = (
    "id",
    "paper",
    "ours",
    "band",
    "verdict",
    "fragile",
    "margin",
    "reason",
    "ours_interval",
    "n_units",
    "ours_preferred",
    "control",
    "convention",
    "judge",
    "quantity",
    "unit",
    "where",
    "arm",
)


# ---------------------------------------------------------------- the paper's values
@dataclass(frozen=True)
class PaperValue:
    """One headline number as the paper states it."""

    id: str
    quantity: str
    stated: str
    kind: str
    value: Any
    unit: str
    where: str


def _check_value(entry: Mapping[str, Any]) -> None:
    kind, value, ident = entry["kind"], entry["value"], entry["id"]
    if kind not in KINDS:
        raise ValueError(f"paper value {ident}: kind {kind!r} is not one of {KINDS}")
    if kind == "range":
        ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
        if not ok or value[0] > value[1]:
            raise ValueError(f"paper value {ident}: a range is [lo, hi] with lo <= hi, got {value!r}")
    elif kind == "per_unit":
        if not isinstance(value, dict) or not value or not all(isinstance(v, (int, float)) for v in value.values()):
            raise ValueError(f"paper value {ident}: per_unit values are a mapping of unit to number, got {value!r}")
    elif not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"paper value {ident}: a {kind} value is one number, got {value!r}")


def load_paper_values(path: str | os.PathLike[str] | None = None) -> list[PaperValue]:
    """The paper's headline numbers (``paper_values.yaml`` beside this module by default),
    checked: every field present, ids distinct, values of the shape their kind says."""
    if path is None:
        text = resources.files("polyrot").joinpath("paper_values.yaml").read_text()
    else:
        text = Path(path).read_text()
    data = yaml.safe_load(text)
    fields = ("id", "quantity", "stated", "kind", "value", "unit", "where")
    out = []
    for i, entry in enumerate(data["values"]):
        missing = [f for f in fields if f not in entry]
        if missing:
            raise ValueError(f"paper value {i} ({entry.get('id', '?')}) lacks {missing}")
        _check_value(entry)
        out.append(PaperValue(**{f: entry[f] for f in fields}))
    ids = [v.id for v in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"paper value ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return out


# ---------------------------------------------------------------- where our value of each is
@dataclass(frozen=True)
class TableSource:
    """Our units of a number from one results table of one arm.

    ``column`` is the value in the paper's convention (compared), ``preferred`` ours (shown);
    ``sites`` selects rows by site: "all", "internal" (all but the embedding), "middle"
    (internal but the last), "last", or "layer3" (the paper's layer 3: the GPT-NeoX steering
    site); ``cohort`` selects a toy cohort; ``where`` more equalities; ``agg`` "each" keeps
    every row a unit, "mean" averages them into one, "min" keeps the lowest.
    ``control`` is (column, where) of the matched negative control in the same table, or
    (table, column, where) in another table of the arm (or of arm "all")."""

    arm: str
    table: str
    column: str
    convention: str
    preferred: str | None = None
    sites: str = "all"
    cohort: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    agg: str = "each"
    control: tuple | None = None
    control_name: str | None = None


@dataclass(frozen=True)
class BarSource:
    """Our units of a number from a bar's verdict: ``kind`` within or cross units of ``models``
    ("anchor": cohort A's anchor; "cohort:X": cohort X's models; "decoy"), their ``value`` or
    their per-head values (``per_head``); the decoy's matching unit is the control."""

    bar: str
    kind: str
    models: str
    per_head: bool = False
    convention: str = ""


_EV_PAPER = "EV with the global scalar variance (the paper's code)"
_EV_ROT = "EV with the global scalar variance, R evaluated on the batch it was fitted on (the paper's code)"
_PREF_EV = "centred EV, held-out tokens (ours): "
_COS = "max-cosine of SAEs trained from one shared seed and batch order (the paper's code)"
_PREF_COS = "independent SAEs (ours): "
_NULL = ("null_permuted_ev_scalar", {})


def _ev(arm: str, column: str, cohort: str | None = None, sites: str = "internal", **kw: Any) -> TableSource:
    rotated = column.startswith("rotated")
    return TableSource(
        arm,
        kw.pop("table", "ev"),
        f"{'rotated_insample' if rotated else column}_ev_scalar",
        _EV_ROT if rotated else _EV_PAPER,
        preferred=f"{column}_ev_centred",
        sites=sites,
        cohort=cohort,
        control=kw.pop("control", _NULL),
        control_name=kw.pop("control_name", "permuted-rows null EV"),
        **kw,
    )


def _cos(arm: str, column: str, cohort: str | None, sites: str, agg: str = "each") -> TableSource:
    return TableSource(
        arm,
        "decoder_cosine_shared_init",
        column,
        _COS,
        preferred=column,
        sites=sites,
        cohort=cohort,
        where={"frame": "raw"},
        agg=agg,
        control=(column, {"frame": "chance_span"}),
        control_name="random directions in the data span (chance_span)",
    )


def _frob(arm: str, cohort: str | None, agg: str = "each") -> TableSource:
    return TableSource(
        arm,
        "haar_rotations",
        "frobenius",
        "|R - I|_F of the R fitted on the analysis batch",
        sites="internal",
        cohort=cohort,
        agg=agg,
        control=("frobenius_haar_mean", {}),
        control_name="Haar mean of |R - I|_F",
    )


def _firing(arm: str, frame: str) -> TableSource:
    return TableSource(
        arm,
        "firing",
        "mean_r",
        "mean per-feature Pearson r over held-out tokens",
        sites="internal",
        where={"frame": frame},
    )


def _steer(arm: str, column: str, where: Mapping[str, Any], table: str = "steering_transfer") -> TableSource:
    control = ("random_acc", where) if column.endswith("_acc") and table == "steering_transfer" else None
    return TableSource(
        arm,
        table,
        column,
        "effects on held-out sequences, unrotated (the paper's transfer)",
        where=where,
        control=control,
        control_name="norm-matched random direction's accuracy drop" if control else None,
    )


def _drift(column: str, **kw: Any) -> TableSource:
    return _ev("neox", column, sites="layer3", table="drift", where={"role": "early"}, **kw)


SOURCES: dict[str, TableSource | BarSource | None] = {
    "toy_A_decoder_cosine_frac": _cos("toy", "maxcos_frac", "A", "internal"),
    "toy_A_decoder_cosine_mean": _cos("toy", "maxcos_mean", "A", "internal", agg="mean"),
    "toy_A_naive_ev_negative": _ev("toy", "naive", "A"),
    "toy_A_naive_ev_resid_mid_0_x32": _ev("toy", "naive", "A", sites="resid_mid_0", where={"expansion": 32}, agg="min"),
    "toy_A_gaussian_ev": _ev("toy", "gaussian", "A", control=None),
    "toy_A_rotated_ev": _ev("toy", "rotated", "A"),
    "toy_A_frobenius": _frob("toy", "A"),
    "toy_B_naive_ev": _ev("toy", "naive", "B"),
    "toy_B_rotated_ev": _ev("toy", "rotated", "B"),
    "toy_B_frobenius": _frob("toy", "B"),
    "toy_B_bar_P": BarSource("P", "cross", "cohort:B"),
    "pythia_decoder_cosine_frac_middle": _cos("neox", "maxcos_frac", None, "middle"),
    "pythia_decoder_cosine_mean_middle": _cos("neox", "maxcos_mean", None, "middle"),
    "pythia_decoder_cosine_frac_last": _cos("neox", "maxcos_frac", None, "last", agg="mean"),
    "pythia_naive_ev": _ev("neox", "naive"),
    "pythia_rotated_ev": _ev("neox", "rotated"),
    "pythia_frobenius_mean": _frob("neox", None, agg="mean"),
    "pythia_pooled_ks_p": TableSource(
        "neox",
        "haar_pooled",
        "ks_p",
        "the paper's pooled two-sample KS of all |angles| (conjugates twice) against sampled Haar matrices",
        control=("haar_power", "rejection_rate", {"test": "ks_pooled_paper", "alternative": "planes_at_pi"}),
        control_name="the pooled test's rejection rate of non-Haar rotations of the same |R - I|_F (power)",
    ),
    "pythia_per_matrix_ks": None,
    "pythia_perm_distance": TableSource(
        "neox",
        "haar_rotations",
        "perm_distance",
        "distance to the nearest signed permutation (Hungarian on |R|)",
        sites="internal",
        agg="mean",
        control=("perm_haar_mean", {}),
        control_name="Haar mean of |R - P_best|_F",
    ),
    "toy_firing_raw": _firing("toy", "raw"),
    "toy_firing_rotated": _firing("toy", "rotated"),
    "pythia_firing_raw": _firing("neox", "raw"),
    "pythia_firing_rotated": _firing("neox", "rotated"),
    "steering_toy_depth_ratio": _steer("toy", "ratio_unrotated_acc", {"cohort": "A", "vector": "depth", "alpha": 2}),
    "steering_toy_sticky_dose": _steer(
        "toy", "dose_factor_unrotated", {"cohort": "A", "vector": "sticky_invalid"}, table="steering_dose"
    ),
    "steering_toy_closers_ratio": _steer(
        "toy", "ratio_unrotated_acc", {"cohort": "A", "vector": "closers", "alpha": 1}
    ),
    "steering_pythia_ratios": _steer("neox", "ratio_unrotated_kl", {"alpha": 2}),
    "bar_B_seed0": BarSource("B", "within", "anchor"),
    "bar_B_seed0_per_head": BarSource("B", "within", "anchor", per_head=True),
    "bar_P_seed0": BarSource("P", "within", "anchor"),
    "bar_C_seed0": BarSource("C", "within", "anchor"),
    "bar_Pr_seed0": BarSource("Pr", "within", "anchor"),
    "bar_B_cross_A": BarSource("B", "cross", "cohort:A"),
    "bar_P_cross_A": BarSource("P", "cross", "cohort:A"),
    "bar_C_cross_A": BarSource("C", "cross", "cohort:A"),
    "bar_Pr_cross_A": BarSource("Pr", "cross", "cohort:A"),
    "decoy_bar_B": BarSource("B", "within", "decoy"),
    "decoy_bar_B_real": BarSource("B", "within", "anchor"),
    "decoy_bar_P": BarSource("P", "cross", "decoy"),
    "pythia_checkpoint_self_ev": _drift("self", control=None),
    "pythia_checkpoint_naive_ev": _drift("naive"),
    "pythia_checkpoint_rotated_ev": _drift("rotated"),
    "pythia_checkpoint_frobenius": TableSource(
        "neox",
        "drift",
        "frobenius_to_identity",
        "|R - I|_F of the R fitted on the analysis batch",
        sites="layer3",
        where={"role": "early"},
        agg="mean",
        control=("sqrt_2d", {"role": "early"}),
        control_name="sqrt(2d), the Haar value",
    ),
}


# ---------------------------------------------------------------- this run
@dataclass(frozen=True)
class RunContext:
    """What the ledger knows of this run: its tables, verdicts and configuration.

    ``tables`` maps (arm, table) to a TSV (arm "all" for arm-free tables); ``bars`` bar to
    its verdict JSON; ``sites`` arm to its audited sites (the first is the embedding);
    ``cohorts`` cohort name to (anchor, models);
    ``neox_is_pythia`` whether the GPT-NeoX arm is Pythia from the hub; ``neox_layer3``
    the GPT-NeoX site standing for the paper's layer 3."""

    tables: Mapping[tuple[str, str], str]
    bars: Mapping[str, str]
    sites: Mapping[str, Sequence[str]]
    cohorts: Mapping[str, tuple[str, Sequence[str]]]
    neox_is_pythia: bool
    neox_layer3: str | None = None


@dataclass
class Units:
    """Our units of one number: labels, values (compared), preferred values (shown) and
    intervals, and each unit's spread: the standard deviation of its siblings (the fragility
    rule of preregistration.md), None without two of them."""

    labels: list[str]
    values: list[float]
    preferred: list[float] = field(default_factory=list)
    intervals: list[tuple[float, float] | None] = field(default_factory=list)
    control: list[float] = field(default_factory=list)
    spreads: list[float | None] = field(default_factory=list)


def _read(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", comment="#")


def _site_filter(frame: pd.DataFrame, sites: Sequence[str], which: str, layer3: str | None) -> pd.DataFrame:
    if which == "all" or "site" not in frame:
        return frame
    chosen = {
        "internal": list(sites[1:]),
        "middle": list(sites[1:-1]),
        "last": list(sites[-1:]),
        "layer3": [layer3] if layer3 else [],
    }.get(which, [which])
    return frame[frame["site"].isin(chosen)]


def _where(frame: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    for key, value in where.items():
        if key not in frame:
            return frame.iloc[0:0]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            frame = frame[pd.to_numeric(frame[key], errors="coerce") == value]
        else:
            frame = frame[frame[key].astype(str) == str(value)]
    return frame


def _label(row: pd.Series) -> str:
    keys = ("cohort", "other", "model", "checkpoint", "site", "expansion", "vector", "alpha")
    return ":".join(str(row[k]) for k in keys if k in row and pd.notna(row[k]))


def _sibling_spreads(rows: pd.DataFrame, column: str) -> list[float | None]:
    """Each row's spread over its siblings, as a verdict's units get theirs (the rows sharing
    every key column but the model and the other seed)."""
    return verdicts.sibling_spreads([{**r, "value": float(r[column])} for r in rows.to_dict("records")])


def table_units(src: TableSource, ctx: RunContext) -> Units | None:
    """Our units from a table, or None when this run has no such table or no such rows."""
    path = ctx.tables.get((src.arm, src.table))
    if path is None or not Path(path).exists():
        return None
    frame = _read(path)
    base = _site_filter(frame, ctx.sites.get(src.arm, []), src.sites, ctx.neox_layer3)
    if src.cohort is not None and "cohort" in base:
        base = base[base["cohort"].astype(str) == src.cohort]
    rows = _where(base, src.where)
    if rows.empty or src.column not in rows:
        return None
    values = rows[src.column].astype(float).tolist()
    preferred = rows[src.preferred].astype(float).tolist() if src.preferred and src.preferred in rows else []
    intervals: list[tuple[float, float] | None] = [None] * len(values)
    lo, hi = f"{src.column}_ci95_lo", f"{src.column}_ci95_hi"
    if lo in rows and hi in rows:
        intervals = [(float(a), float(b)) for a, b in zip(rows[lo], rows[hi], strict=True)]
    control: list[float] = []
    if src.control is not None:
        if len(src.control) == 3:  # another table: (table, column, where)
            table, column, where = src.control
            other = ctx.tables.get((src.arm, table)) or ctx.tables.get(("all", table))
            if other is not None and Path(other).exists():
                sel = _where(_read(other), where)
                control = sel[column].astype(float).tolist() if column in sel else []
        else:
            column, where = src.control
            sel = _where(base, {**{k: v for k, v in src.where.items() if k not in where}, **where})
            control = sel[column].astype(float).tolist() if column in sel else []
    labels = [_label(r) for _, r in rows.iterrows()]
    spreads = _sibling_spreads(rows, src.column)
    if src.agg == "mean":
        n = len(values)
        return Units(
            [f"mean of {n}"],
            [float(np.mean(values))],
            [float(np.mean(preferred))] if preferred else [],
            [None],
            control,
            # the mean's own spread, each unit varying by its siblings' spread independently
            [math.sqrt(sum(x * x for x in spreads)) / n if None not in spreads else None],
        )
    if src.agg == "min":
        i = int(np.argmin(values))
        return Units([labels[i]], [values[i]], preferred[i : i + 1], [intervals[i]], control, [spreads[i]])
    return Units(labels, values, preferred, intervals, control, spreads)


def bar_units(src: BarSource, ctx: RunContext) -> Units | None:
    """Our units from a bar's verdict JSON (the decoy's units live under ``decoy``)."""
    path = ctx.bars.get(src.bar)
    if path is None or not Path(path).exists():
        return None
    record = atomic.read_json(path)
    anchor = ctx.cohorts["A"][0] if "A" in ctx.cohorts else None
    decoy_units = record.get("decoy", {}).get("units", [])
    if src.models == "decoy":
        units = [u for u in decoy_units if u["kind"] == src.kind]
    else:
        if src.models == "anchor":
            models = [anchor]
        else:
            cohort = src.models.split(":", 1)[1]
            if cohort not in ctx.cohorts:
                return None
            models = list(ctx.cohorts[cohort][1])
        units = [u for u in record["units"] if u["kind"] == src.kind and u["model"] in models]
    if not units:
        return None
    siblings = [u["value"] for u in record["units"] if u["kind"] == src.kind]
    control = [u["value"] for u in decoy_units if u["kind"] == src.kind] if src.models != "decoy" else []
    if src.per_head:
        u = units[0]
        heads = sorted(u["per_head"])
        per = [u["per_head"][h] for h in heads]
        return Units(
            heads,
            [float(p["value"]) for p in per],
            [],
            [tuple(p["ci95"]) if p.get("ci95") else None for p in per],
            [],
            [None] * len(heads),
        )
    return Units(
        [u["model"] for u in units],
        [float(u["value"]) for u in units],
        [],
        [tuple(u["ci95"]) if u.get("ci95") else None for u in units],
        control,
        [verdicts.spread(siblings)] * len(units),
    )


# ---------------------------------------------------------------- judging one row
def band(kind: str, value: Any, tolerance: Mapping[str, Any]) -> tuple[float, float]:
    """The interval our units must lie in: the paper's statement widened by the tolerance."""
    if "band" in tolerance:
        lo, hi = tolerance["band"]
        return float(lo), float(hi)
    if kind in ("point", "at_least", "at_most"):
        lo = hi = float(value)
    elif kind == "range":
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError(f"no single band for a {kind} value")
    if "abs" in tolerance:
        lo, hi = lo - float(tolerance["abs"]), hi + float(tolerance["abs"])
    elif "rel" in tolerance:
        r = float(tolerance["rel"])
        lo, hi = lo - r * abs(lo), hi + r * abs(hi)
    elif "factor" in tolerance:
        f = float(tolerance["factor"])
        if lo < 0:
            raise ValueError("a factor tolerance needs non-negative bounds")
        lo, hi = lo / f, hi * f
    else:
        raise ValueError(f"tolerance {dict(tolerance)} has none of abs, rel, factor, band, claim")
    if kind == "at_least":
        hi = math.inf
    if kind == "at_most":
        lo = -math.inf
    return lo, hi


def _margins(
    values: Sequence[float], bands: Sequence[tuple[float, float]], spreads: Sequence[float | None]
) -> list[float | None]:
    """Signed distance of each value to the nearer edge of its band (positive inside), in
    its spread; None without a spread."""
    return [
        verdicts.margin(min(v - lo, hi - v), spread) for v, (lo, hi), spread in zip(values, bands, spreads, strict=True)
    ]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _fmt_units(units: Units, listed: bool, named: bool) -> str:
    """Each unit by name (``named``: per-unit paper values; ``listed``: a bar's or steering's
    few units, when there are several), one value, or the range over the units."""
    if named or (listed and len(units.values) > 1):
        return ", ".join(f"{lab} {_fmt(v)}" for lab, v in zip(units.labels, units.values, strict=True))
    if len(units.values) == 1:
        return _fmt(units.values[0])
    finite = [v for v in units.values if math.isfinite(v)]
    rng = f"{_fmt(min(finite))} … {_fmt(max(finite))}" if finite else "nan"
    return rng if len(finite) == len(units.values) else f"{rng} ({len(units.values) - len(finite)} not finite)"


def _fmt_range(values: Sequence[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    return _fmt(lo) if lo == hi else f"{_fmt(lo)} … {_fmt(hi)}"


def _fmt_band(lo: float, hi: float) -> str:
    if lo == -math.inf:
        return f"<= {_fmt(hi)}"
    if hi == math.inf:
        return f">= {_fmt(lo)}"
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _claim_band(claim: Mapping[str, Any]) -> tuple[float, float, str]:
    t = float(claim["threshold"])
    return (-math.inf, t, "<") if claim["comparison"] == "<" else (t, math.inf, ">")


def judge_row(
    pv: PaperValue,
    tolerance: Mapping[str, Any],
    ctx: RunContext,
    claims: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One ledger row: the paper's number, ours, the judge and the verdict."""
    src = SOURCES[pv.id]
    arm = getattr(src, "arm", "toy") if src is not None else "neox" if pv.id.startswith("pythia") else "toy"
    row: dict[str, Any] = {c: "" for c in COLUMNS}
    row.update(id=pv.id, quantity=pv.quantity, paper=pv.stated, unit=pv.unit, where=pv.where, arm=arm)
    if "not_computed" in tolerance:
        row.update(verdict=NOT_COMPUTED, judge="registered: not compared", reason=str(tolerance["not_computed"]))
        return row
    units = table_units(src, ctx) if isinstance(src, TableSource) else bar_units(src, ctx)
    if units is None:
        why = (
            "the GPT-NeoX arm is not configured"
            if arm == "neox" and not any(a == "neox" for a, _ in ctx.tables)
            else ""
        )
        row.update(verdict=NOT_AT_SCALE, reason=why or "this configuration computes no unit of it")
        return row
    row.update(
        ours=_fmt_units(units, isinstance(src, BarSource) or src.table.startswith("steering"), pv.kind == "per_unit"),
        n_units=len(units.values),
        ours_preferred=_fmt_range(units.preferred) if units.preferred else "",
        convention=getattr(src, "convention", "") or f"Bar {getattr(src, 'bar', '')} as registered",
        control=f"{getattr(src, 'control_name', None) or 'decoy'} {_fmt_range(units.control)}" if units.control else "",
    )
    if len(units.values) == 1 and units.intervals and units.intervals[0] is not None:
        row["ours_interval"] = f"[{_fmt(units.intervals[0][0])}, {_fmt(units.intervals[0][1])}]"
    # the bands each unit is judged against
    values, labels, intervals = list(units.values), list(units.labels), list(units.intervals)
    if "claim" in tolerance:
        claim = claims[tolerance["claim"]]
        lo, hi, cmp = _claim_band(claim)
        judged = _claim_values(src, claim, ctx)
        spreads = list(units.spreads)
        if judged is not None:
            values, intervals, spreads = judged.values, judged.intervals, judged.spreads
        bands = [(lo, hi)] * len(values)
        row["judge"] = f"claim {tolerance['claim']}: {claim['column']} {cmp} {claim['threshold']:g}"
        row["band"] = f"{claim['column']} {cmp} {claim['threshold']:g}"
    elif pv.kind == "per_unit":
        paper = {str(k): v for k, v in pv.value.items()}
        keep = [i for i, lab in enumerate(units.labels) if lab in paper]
        missing = sorted(set(paper) - set(units.labels))
        if not keep:
            row.update(verdict=NOT_AT_SCALE, reason=f"this configuration has none of {sorted(paper)}")
            return row
        values = [units.values[i] for i in keep]
        labels = [units.labels[i] for i in keep]
        intervals = [units.intervals[i] for i in keep]
        bands = [band("point", paper[units.labels[i]], tolerance) for i in keep]
        row["judge"] = f"registered tolerance {_fmt_tol(tolerance)} per unit"
        row["band"] = ", ".join(f"{units.labels[i]} {_fmt_band(*b)}" for i, b in zip(keep, bands, strict=True))
        if missing:
            row["reason"] = f"not computed at this scale: {', '.join(missing)}"
        spreads = [units.spreads[i] for i in keep]
    else:
        lo, hi = band(pv.kind, pv.value, tolerance)
        bands = [(lo, hi)] * len(values)
        row["judge"] = f"registered tolerance {_fmt_tol(tolerance)}"
        row["band"] = _fmt_band(lo, hi)
        spreads = list(units.spreads)
    inside = [math.isfinite(v) and lo <= v <= hi for v, (lo, hi) in zip(values, bands, strict=True)]
    margins = _margins(values, bands, spreads)
    row["verdict"] = REPRODUCED if all(inside) else DIFFERS
    row.update(_fragility(inside, margins, intervals if len(intervals) == len(values) else None, bands))
    if not all(inside):
        n_out = inside.count(False)
        worst = min(
            range(len(values)), key=lambda i: margins[i] if margins[i] is not None else _dist(values[i], bands[i])
        )
        label = labels[worst] if len(labels) == len(values) else str(worst)
        reason = f"{n_out} of {len(values)} unit(s) outside the band; furthest {label} = {_fmt(values[worst])}"
        row["reason"] = f"{reason}; {row['reason']}" if row["reason"] else reason
    if arm == "neox" and not ctx.neox_is_pythia:
        row["reason"] = (
            f"the offline GPT-NeoX family stands in for Pythia (not judged; its verdict would be: {row['verdict']})"
            + (f"; {row['reason']}" if row["reason"] else "")
        )
        row["verdict"] = NOT_OFFLINE
    return row


def _dist(v: float, b: tuple[float, float]) -> float:
    if not math.isfinite(v):
        return -math.inf
    return min(v - b[0], b[1] - v)


def _fmt_tol(tolerance: Mapping[str, Any]) -> str:
    (key, value), *_ = tolerance.items()
    if key == "band":
        return f"band [{value[0]:g}, {value[1]:g}]"
    return {"abs": f"± {value:g}", "rel": f"± {100 * value:g}%", "factor": f"within a factor {value:g}"}[key]


def _claim_values(src: TableSource, claim: Mapping[str, Any], ctx: RunContext) -> Units | None:
    """The claim's own column on the row's rows (e.g. |ratio - 1| beside the ratio shown)."""
    judged = TableSource(src.arm, src.table, claim["column"], "", sites=src.sites, cohort=src.cohort, where=src.where)
    return table_units(judged, ctx)


def _fragility(
    inside: Sequence[bool],
    margins: Sequence[float | None],
    intervals: Sequence[tuple[float, float] | None] | None,
    bands: Sequence[tuple[float, float]],
) -> dict[str, Any]:
    """The registered fragility rule applied to a row's units against the edges of its band."""
    straddles = [
        iv is not None and any(iv[0] <= edge <= iv[1] for edge in b if math.isfinite(edge))
        for iv, b in zip(intervals or [None] * len(inside), bands, strict=True)
    ]
    near = [m is not None and abs(m) < 1 for m in margins]
    unit_fragile = [a or b for a, b in zip(near, straddles, strict=True)]
    if all(inside):  # any unit could flip the row (the same rule as a verdict's)
        known = [m for m in margins if m is not None]
        worst = min(known) if known else None
        fragile = any(unit_fragile)
    else:
        outside = [i for i, ok in enumerate(inside) if not ok]
        known = [margins[i] for i in outside if margins[i] is not None]
        worst = min(known) if known else None
        fragile = all(unit_fragile[i] for i in outside)
    return {"fragile": bool(fragile), "margin": "" if worst is None else _fmt(worst)}


def ledger(
    values: Sequence[PaperValue],
    tolerances: Mapping[str, Mapping[str, Any]],
    ctx: RunContext,
    claims: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """Every paper value's row, in the paper file's order. Every value needs a registered
    tolerance and a source: a number that cannot be judged is an error, not a silent gap."""
    unregistered = [v.id for v in values if v.id not in tolerances]
    if unregistered:
        raise KeyError(
            f"paper values with no registered tolerance (preregistration.md ledger.tolerances): {unregistered}"
        )
    unsourced = [v.id for v in values if v.id not in SOURCES]
    if unsourced:
        raise KeyError(f"paper values with no source in polyrot.ledger.SOURCES: {unsourced}")
    rows = [judge_row(v, tolerances[v.id], ctx, claims) for v in values]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write(frame: pd.DataFrame, tsv: str | os.PathLike[str], html: str | os.PathLike[str], header: str) -> None:
    """The ledger as a TSV (``header`` as # comments) and as one self-contained HTML table."""
    atomic.write_tsv(tsv, frame, header=header)
    counts = frame["verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    table = frame.to_html(index=False, escape=True, na_rep="", classes="ledger", table_id="ledger", border=0)
    notes = "".join(f"<p>{_escape(line)}</p>" for line in header.splitlines())
    atomic.write_text(
        html,
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Claims ledger</title><style>"
        "body{font-family:sans-serif;font-size:13px;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#eee}"
        "tr.differs td{background:#fde2e1}tr.reproduced td{background:#e3f4e1}"
        "</style></head><body><h1>Claims ledger</h1>"
        f"{notes}<p><b>{len(frame)} rows:</b> {summary}.</p>{_mark_rows(table, frame)}</body></html>\n",
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mark_rows(table: str, frame: pd.DataFrame) -> str:
    """Give each body row a class by verdict (colour only; the verdict column says it too)."""
    head, _, body = table.partition("<tbody>")
    parts = body.split("<tr>")
    out = [parts[0]]
    for verdict, part in zip(frame["verdict"], parts[1:], strict=True):
        out.append(f'<tr class="{str(verdict).split(" ")[0]}">{part}')
    return f"{head}<tbody>{''.join(out)}"
