"""The claims ledger: every headline number of the paper beside ours, on the paper's subset,
aggregated as the paper aggregates it, in the paper's convention, judged by a registered band.

The paper's numbers live in ``paper_values.yaml`` (package data: the statement, the section
and line of the paper's ``main.tex``, the resolution it is stated to); the band rule and each
row's band kind in preregistration.md (``ledger``, amendments of 2026-11-28 and 2026-12-01).
This module says where our value of each number is (``SOURCES``: a table of this run, the
rows the paper's subset selects, how they are aggregated, and ours beside it), and turns the
three into one row per number: the paper's statement, our value (point, or range over units,
with an interval where one exists), the matched negative control, the band, the verdict, how
fragile it is, why it differs, and the row's subset, aggregation and direction in words.

*The band* of a unit: the paper's statement widened by its rounding (half the unit of its
last stated digit) and by ``z`` times the sampling spread of the statistic, in the
statistic's natural scale (``linear``; ``log`` for ratios, KL and weight MSE; Fisher's ``z``
for Pearson r): the spread of the unit's siblings (the other seeds at the same site) for a
unit, their standard error for a mean; a Haar statistic's simulated Haar spread at its d; 1 /
sqrt(k - 3) for a Pearson r over k components; the binomial spread of a fraction of pairs. A
row whose statement the paper says is Haar's also admits Haar's own central range. One-sided
statements widen their bound only; a sign ("negative") is not widened.

The ledger reports: it never gates and never hides a row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from polyrot import atomic, selection, verdicts

KINDS = ("point", "range", "at_least", "at_most", "per_unit")
REPRODUCED = "reproduced"
DIFFERS = "differs"
BY_CONSTRUCTION = "holds by construction"
NOT_AT_SCALE = "not computed at this scale"
NOT_OFFLINE = "not computable offline"
NOT_COMPUTED = "not computed by this pipeline"
VERDICTS = (REPRODUCED, DIFFERS, BY_CONSTRUCTION, NOT_AT_SCALE, NOT_OFFLINE, NOT_COMPUTED)
SCALES = ("linear", "log", "fisher")
SPREADS = ("siblings", "interval", "haar", "fisher", "binomial", "column", "none")
UNDEFINED = "undefined (the within-seed effect is 0)"
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
    "comparison",
    "ours_interval",
    "n_units",
    "ours_preferred",
    "alternative",
    "control",
    "convention",
    "judge",
    "quantity",
    "unit",
    "where",
    "reading",
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
    resolution: Any = 0
    reading: str = ""

    def numbers(self) -> list[float]:
        if self.kind == "per_unit":
            return [float(v) for v in self.value.values()]
        return [float(v) for v in (self.value if self.kind == "range" else [self.value])]


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
    res = entry.get("resolution", 0)
    if not (isinstance(res, (int, float)) and res >= 0) and not (
        isinstance(res, dict) and len(res) == 1 and next(iter(res)) in ("significant", "factor")
    ):
        raise ValueError(f"paper value {ident}: resolution is a number >= 0, {{significant: n}} or {{factor: f}}")


def load_paper_values(path: str | os.PathLike[str] | None = None) -> list[PaperValue]:
    """The paper's headline numbers (``paper_values.yaml`` beside this module by default),
    checked: every field present, ids distinct, values of the shape their kind says."""
    if path is None:
        text = resources.files("polyrot").joinpath("paper_values.yaml").read_text()
    else:
        text = Path(path).read_text()
    data = yaml.safe_load(text)
    required = ("id", "quantity", "stated", "kind", "value", "unit", "where")
    out = []
    for i, entry in enumerate(data["values"]):
        missing = [f for f in required if f not in entry]
        if missing:
            raise ValueError(f"paper value {i} ({entry.get('id', '?')}) lacks {missing}")
        _check_value(entry)
        out.append(PaperValue(**{f: entry[f] for f in (*required, "resolution", "reading") if f in entry}))
    ids = [v.id for v in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"paper value ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return out


def rounding(pv: PaperValue, value: float) -> tuple[float, float]:
    """How far the true value may lie below and above ``value`` by the paper's rounding alone."""
    res = pv.resolution
    if isinstance(res, dict) and "factor" in res:
        f = math.sqrt(float(res["factor"]))
        return value - value / f, value * f - value
    if isinstance(res, dict):
        if value == 0:
            return 0.0, 0.0
        r = 0.5 * 10 ** (math.floor(math.log10(abs(value))) - int(res["significant"]) + 1)
        return r, r
    return float(res) / 2, float(res) / 2


# ---------------------------------------------------------------- where our value of each is
Column = str | tuple[str, Callable[[pd.DataFrame], pd.Series]]
"""A table's column, or (name, function of the selected rows) for a derived one."""


@dataclass(frozen=True)
class Source:
    """Our units of a number: rows of one table of one arm, selected and aggregated as the
    paper states the number.

    ``sites``: "all", "internal" (residual sites but the embedding), "paper" (the paper's sites,
    ``audit.paper_sites``), "middle" (the paper's sites but the first and the last), "last",
    "late" (resid_post_1, resid_pre_2), "layer3" (the paper's layer 3: the GPT-NeoX steering
    site), "from_layer2" (the paper's sites from layer 2's output on), "study_firing" (the
    study's firing sites) or a tuple of names; ``cohort`` a toy cohort; ``where`` more
    equalities. ``agg``: "each" (every row a unit), "mean" (one unit), "mean_by:<k>[,<k>]"
    (one unit per group), "min", "max", "p10", "p90", "fraction_below:<t>" (the fraction of
    rows below t). ``preferred``: ours beside, (table, column, where changes) on the same
    selection; ``control``: (table, column, where changes) of the matched negative control;
    ``alternative``: (label, table, column, where changes), another reading of the paper's
    words; ``compare``: (label, table, column, where changes), a value the paper says ours
    exceeds, unit by unit (rotated EV above naive); ``haar``: (mean, sd) columns of the
    statistic under Haar; ``se``: the column of a unit's standard error (spread "column")."""

    arm: str
    table: str
    column: Column
    convention: str
    direction: str = ""
    sites: str | tuple[str, ...] = "all"
    cohort: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    agg: str = "each"
    preferred: tuple | None = None
    control: tuple | None = None
    control_name: str | None = None
    alternative: tuple | None = None
    compare: tuple | None = None
    haar: tuple[Column, Column] | None = None
    se: Column | None = None
    label: str | None = None


_SCALAR = "EV with the global scalar variance (the paper's code)"
_INSAMPLE = "R fitted and evaluated on the fit split (the paper's); the SAE also trained on it"
_STUDY_SAE = "the study's SAE recipe"
_OURS_EV = "centred EV, held-out tokens, registered SAEs"


def _ev(arm: str, column: str, cohort: str | None, sites: str, agg: str, **kw: Any) -> Source:
    """An EV row on the study-recipe SAEs in the paper's convention, ours beside."""
    insample = column.endswith("insample") or column.startswith("rotated")
    paper_col = "rotated_insample" if column == "rotated" else column
    conv = f"{_SCALAR}; {_STUDY_SAE}" + (f"; {_INSAMPLE}" if insample else "; held-out tokens")
    return Source(
        arm,
        kw.pop("table", "ev_study_recipe"),
        f"{paper_col}_ev_scalar",
        conv,
        direction=kw.pop("direction", "the anchor's SAE on the other model"),
        sites=sites,
        cohort=cohort,
        agg=agg,
        preferred=("ev", f"{column.removesuffix('_insample')}_ev_centred", {}),
        control=kw.pop("control", ("ev_study_recipe", "null_permuted_ev_scalar", {})),
        control_name=kw.pop("control_name", "permuted-rows null EV"),
        **kw,
    )


def _cos(table: str, column: str, sites: str, agg: str, cohort: str | None, where: Mapping | None = None) -> Source:
    all_pairs = table.startswith("decoder_cosine_all_pairs")
    arm = "neox" if all_pairs else "toy"
    return Source(
        arm,
        table,
        column,
        f"max decoder cosine, {_STUDY_SAE}, raw frame",
        direction="each feature of the other model's SAE against every feature of the anchor's"
        if not all_pairs
        else "each pair of seeds, the second's features against the first's",
        sites=sites,
        cohort=cohort,
        where={"frame": "raw", **(where or {})},
        agg=agg,
        preferred=None if all_pairs else ("decoder_cosine", column, {}),
        control=None if all_pairs else ("decoder_cosine_study_recipe", column, {"frame": "chance_span"}),
        control_name=None if all_pairs else "random directions in the data span (chance_span)",
    )


def _frob(arm: str, cohort: str | None, sites: str, agg: str, column: str = "frobenius") -> Source:
    return Source(
        arm,
        "haar_rotations",
        column,
        "|R - I|_F of the R fitted on the analysis batch",
        direction="R maps the other model into the anchor's frame",
        sites=sites,
        cohort=cohort,
        agg=agg,
        control=("haar_rotations", "frobenius_haar_mean", {}),
        control_name="Haar mean of |R - I|_F at this d",
        haar=("frobenius_haar_mean", "frobenius_haar_sd"),
    )


def _firing(arm: str, frame: str, column: str, sites: str, agg: str, cohort: str | None = None) -> Source:
    paper_frame = "rotated_insample_uncentred" if frame == "rotated" else frame
    return Source(
        arm,
        "firing_study_recipe",
        column,
        f"Pearson r per feature across held-out tokens, {_STUDY_SAE}, every feature (a dead one counts 0)"
        + ("; R fitted on these tokens, x R not re-centred (the study's)" if frame == "rotated" else ""),
        direction="the anchor's SAE's codes on the anchor against its codes on the other model",
        sites=sites,
        cohort=cohort,
        where={"frame": paper_frame, "expansion": 8},
        agg=agg,
        preferred=("firing", column.removesuffix("_all"), {"frame": frame}),
        compare=("raw", "firing_study_recipe", column, {"frame": "raw"}) if frame == "rotated" else None,
    )


def _study_steer(
    vector: str, alpha: float | None, column: str, se: str, table: str = "steering_study_ratios"
) -> Source:
    where: dict[str, Any] = {"setup": "study", "vector": vector, "target": "study", "cohort": "A"}
    if alpha is not None:
        where["alpha"] = alpha
    return Source(
        "toy",
        table,
        column,
        "accuracy drop of the targeted head, the vector built and its effect measured on the analysis batch, at "
        "the study's target positions (the study's exp2_steering.py)",
        direction="the anchor's vector added unrotated to every other seed; the other seeds' mean over the anchor's",
        where=where,
        preferred=(table, column, {"setup": "heldout", "target": "ours"}),
        se=se,
    )


def _drift(column: str, sites: str = "layer3", arm: str = "neox", agg: str = "each", **kw: Any) -> Source:
    return _ev(
        arm,
        column,
        None,
        sites,
        agg,
        table="drift_paper_direction",
        direction="the early checkpoint's SAE (the study's recipe, the drift's l1) on the audited checkpoint",
        **{"control": ("drift_paper_direction", "null_permuted_ev_scalar", {}), **kw},
    )


def _drift_frobenius(arm: str, sites: str | tuple[str, ...], **kw: Any) -> Source:
    """|R - I|_F between the checkpoints (the same R either way round); its Haar sd ~ 1/sqrt(2d)."""
    return replace(
        _drift("rotated", sites, arm, control=None, **kw),
        column="frobenius_to_identity",
        convention="|R - I|_F of the R fitted between the checkpoints",
        preferred=("drift", "frobenius_to_identity", {"role": "early"}),
        haar=("sqrt_2d", ("Haar sd ~ 1/sqrt(2d)", lambda f: 1.0 / f["sqrt_2d"])),
    )


def _bar(
    bar: str,
    column: str,
    convention: str,
    kind: str,
    cohort: str,
    role: str | None = None,
    preferred: str | None = "value",
    agg: str = "each",
    table: str | None = None,
) -> Source:
    where: dict[str, Any] = {"kind": kind}
    if role is not None:
        where["role"] = role
    return Source(
        "toy",
        table or f"bar_{bar}",
        column,
        convention,
        direction="within-seed" if kind == "within" else "each other seed aligned to / predicted by its cohort anchor",
        cohort=cohort,
        where=where,
        agg=agg,
        preferred=(table or f"bar_{bar}", preferred, {}) if preferred else None,
        control=(table or f"bar_{bar}", column, {"role": "decoy"}) if role != "decoy" else None,
        control_name="the decoy" if role != "decoy" else None,
        label="head" if table == "bar_B_per_head" else "model",
    )


_B = "Bar B as registered (the exact labels smoothed, the training mixture); the study's mix beside"
_P_STUDY = "the study's own search (polyrot.bars.study_search): every parameter and the positional buffer compared"
_C_STUDY = (
    "the study's C = Pr: IG of the loss on the reference against the measured loss change, one global ablation "
    "mean, heads matched by the study's search"
)


_ABOVE_NAIVE = ("naive", "ev_study_recipe", "naive_ev_scalar", {})
_POOLED = "every R of the paper's sites pooled, each mapping the other model into the anchor's frame"


def _ks_sd(n: str, n_reference: str) -> Column:
    """The sampling sd of a two-sample KS statistic of independent samples of sizes n and m
    under the null, 0.2603 sqrt((n + m) / (n m)) (the Kolmogorov distribution's sd)."""

    def sd(f: pd.DataFrame) -> pd.Series:
        return 0.2603 * np.sqrt((f[n] + f[n_reference]) / (f[n] * f[n_reference]))

    return ("two-sample KS sd under the null", sd)


def _refinement(f: pd.DataFrame) -> pd.Series:
    return 1.0 - f["study_search.refined.max_tensor_mse"] / f["study_search.baseline.max_tensor_mse"]


def _within_gap(f: pd.DataFrame) -> pd.Series:
    return f["self_insample_ev_scalar"] - f["rotated_insample_ev_scalar"]


def _mean_cos(f: pd.DataFrame) -> pd.Series:
    return f["trace"] / f["d"]


SOURCES: dict[str, Source | None] = {
    # toy, cohort A
    "toy_A_decoder_cosine_frac": _cos(
        "decoder_cosine_study_recipe", "maxcos_frac", "late", "each", "A", {"expansion": 8}
    ),
    "toy_A_decoder_cosine_mean": _cos(
        "decoder_cosine_study_recipe", "maxcos_mean", "late", "mean", "A", {"expansion": 8}
    ),
    "toy_A_naive_ev_negative": _ev("toy", "naive", "A", "internal", "mean_by:site", where={"expansion": 8}),
    "toy_A_naive_ev_resid_mid_0_x32": _ev("toy", "naive", "A", ("resid_mid_0",), "mean", where={"expansion": 32}),
    "toy_A_gaussian_ev": _ev("toy", "gaussian", "A", "internal", "mean_by:site", where={"expansion": 8}, control=None),
    "toy_A_rotated_ev": _ev(
        "toy", "rotated", "A", "internal", "mean_by:site", where={"expansion": 8}, compare=_ABOVE_NAIVE
    ),
    "toy_A_within_0025": replace(
        _ev("toy", "rotated", "A", "internal", "mean_by:site", where={"expansion": 8}, control=None),
        column=("self_insample - rotated_insample EV (scalar)", _within_gap),
        preferred=("ev", "self_minus_rotated_ev_centred", {}),
    ),
    "toy_A_frobenius": _frob("toy", "A", "internal", "each"),
    "steering_toy_depth_ratio": _study_steer("depth", 2.0, "ratio_unrotated", "ratio_unrotated_log_se"),
    "steering_toy_sticky_dose": _study_steer(
        "sticky_invalid", None, "dose_factor_unrotated", "dose_factor_unrotated_log_se", "steering_study_doses"
    ),
    "steering_toy_closers_ratio": _study_steer("closers", 1.0, "ratio_unrotated", "ratio_unrotated_log_se"),
    "steering_toy_closers_within_half": _study_steer("closers", 0.5, "within", ""),
    "steering_toy_closers_cross_half": _study_steer("closers", 0.5, "unrotated_mean", "unrotated_se"),
    # toy, cohort B
    "toy_B_naive_ev": _ev("toy", "naive", "B", "all", "mean_by:site", where={"expansion": 8}),
    "toy_B_rotated_ev": _ev("toy", "rotated", "B", "all", "mean_by:site", where={"expansion": 8}, compare=_ABOVE_NAIVE),
    "toy_B_frobenius": _frob("toy", "B", "all", "mean_by:site"),
    "toy_B_bar_P": _bar("P", "study_search.baseline.max_tensor_mse", _P_STUDY + ", before refinement", "cross", "B"),
    "toy_B_bar_B_pass_fraction": _bar("B", "value", _B, "cross", "B", role="other", agg="fraction_below:0.0001"),
    "toy_B_bar_B_failing": _bar("B", "value", _B, "cross", "B", role="other", agg="max"),
    # Pythia
    "pythia_decoder_cosine_frac_middle": _cos(
        "decoder_cosine_all_pairs_study_recipe", "maxcos_frac", "middle", "mean_by:site", None
    ),
    "pythia_decoder_cosine_mean_middle": _cos(
        "decoder_cosine_all_pairs_study_recipe", "maxcos_mean", "middle", "mean_by:site", None
    ),
    "pythia_decoder_cosine_frac_last": _cos(
        "decoder_cosine_all_pairs_study_recipe", "maxcos_frac", "last", "mean", None
    ),
    "pythia_naive_ev": replace(
        _ev("neox", "naive", None, "paper", "mean_by:site"),
        column="act_bothcentred_naive_ev_scalar",
        convention=f"{_SCALAR}; activation level, no SAE, each side centred by its own mean (the study's "
        "panel_c_fast); held-out tokens",
        direction="the other model's activations against the anchor's, unmapped",
        alternative=("SAE-level naive EV (the study's SAE)", "ev_study_recipe", "naive_ev_scalar", {}),
    ),
    "pythia_naive_negative_late": replace(
        _ev("neox", "naive", None, "from_layer2", "mean_by:site"),
        column="act_bothcentred_naive_ev_scalar",
        convention=f"{_SCALAR}; activation level, each side centred by its own mean; held-out tokens",
    ),
    "pythia_rotated_ev": _ev("neox", "rotated", None, "paper", "mean_by:site", compare=_ABOVE_NAIVE),
    "pythia_frobenius_mean": _frob("neox", None, "paper", "mean"),
    "pythia_frobenius_p10": _frob("neox", None, "paper", "p10"),
    "pythia_frobenius_p90": _frob("neox", None, "paper", "p90"),
    "pythia_pooled_ks_stat": Source(
        "neox",
        "haar_pooled",
        "ks_stat",
        "the paper's pooled two-sample KS of every |angle| (conjugates twice) against its sampled Haar pool",
        direction=_POOLED,
        where={"sites": "paper"},
        se=_ks_sd("n_angles", "n_reference_angles"),
        control=("haar_power", "rejection_rate", {"test": "ks_pooled_paper", "alternative": "planes_at_pi"}),
        control_name="the pooled test's rejection rate of non-Haar rotations of the same |R - I|_F (power)",
    ),
    "pythia_pooled_ks_p": Source(
        "neox",
        "haar_pooled",
        "ks_p",
        "the paper's pooled two-sample KS: its p-value",
        direction=_POOLED,
        where={"sites": "paper"},
    ),
    "pythia_pooled_n_matrices": Source(
        "neox", "haar_pooled", "n_matrices", "count", direction=_POOLED, where={"sites": "paper"}
    ),
    "pythia_pooled_n_angles": Source(
        "neox", "haar_pooled", "n_angles", "count", direction=_POOLED, where={"sites": "paper"}
    ),
    "pythia_per_matrix_ks": Source(
        "neox",
        "haar_rotations",
        "ks_paper_stat",
        "the paper's per-matrix two-sample KS of all |angles| against its pooled Haar sample",
        direction="R maps the other model into the anchor's frame",
        sites="paper",
        preferred=("haar_rotations", "ks_stat", {}),
        se=_ks_sd("ks_paper_n", "ks_paper_n_reference"),
    ),
    "pythia_mean_cos": replace(
        _frob("neox", None, "paper", "mean"),
        column=("tr R / d", _mean_cos),
        convention="mean cos of every eigen-angle, tr R / d",
        control=None,
        haar=(("Haar mean 0", lambda f: 0.0 * f["d"]), ("Haar sd 1/d", lambda f: 1.0 / f["d"])),
    ),
    "pythia_perm_distance": replace(
        _frob("neox", None, "paper", "mean", "perm_distance"),
        convention="distance to the nearest signed permutation (Hungarian on |R|)",
        control=("haar_rotations", "perm_haar_mean", {}),
        control_name="Haar mean of |R - P_best|_F at this d",
        haar=("perm_haar_mean", "perm_haar_sd"),
    ),
    # firing
    "toy_firing_raw": _firing("toy", "raw", "mean_r_all", "study_firing", "each", "A"),
    "toy_firing_rotated": _firing("toy", "rotated", "mean_r_all", "study_firing", "each", "A"),
    "pythia_firing_raw": _firing("neox", "raw", "mean_r_all", "paper", "mean_by:site"),
    "pythia_firing_rotated": _firing("neox", "rotated", "mean_r_all", "paper", "mean_by:site"),
    "pythia_firing_frac_raw": _firing("neox", "raw", "frac_above_all", "paper", "mean_by:site"),
    "pythia_firing_frac_rotated": _firing("neox", "rotated", "frac_above_all", "paper", "mean_by:site"),
    "steering_pythia_ratios": Source(
        "neox",
        "steering_transfer",
        "ratio_unrotated_kl",
        "KL(unsteered || steered) on held-out sequences, unrotated (the paper's transfer)",
        direction="the anchor's vector added to every other seed; the other seeds' mean over the anchor's",
        agg="mean_by:vector,alpha",
        preferred=("steering_transfer", "ratio_rotated_kl", {}),
    ),
    # the bars, cohort A within-seed
    "bar_B_seed0": _bar("B", "value", _B, "within", "A", role="anchor", preferred="study_code.value"),
    "bar_B_seed0_per_head": _bar("B", "value", _B, "within", "A", role="anchor", table="bar_B_per_head"),
    "bar_B_within_A": _bar("B", "value", _B, "within", "A", role="other", preferred="study_code.value"),
    "bar_P_seed0": _bar("P", "study_search.baseline.max_tensor_mse", _P_STUDY, "within", "A", role="anchor"),
    "bar_C_seed0": _bar("C", "study_convention.r_ig", _C_STUDY, "within", "A", role="anchor"),
    "bar_Pr_seed0": _bar("Pr", "study_convention.r_ig", _C_STUDY, "within", "A", role="anchor"),
    "bar_C_within_A": _bar("C", "study_convention.r_ig", _C_STUDY, "within", "A", role="other"),
    "bar_Pr_within_A": _bar("Pr", "study_convention.r_ig", _C_STUDY, "within", "A", role="other"),
    "bar_AP_within_A": _bar(
        "Pr",
        "study_convention.r_attribution_patching",
        "attribution patching as the study computes it: the loss's gradient at the clean run times (mean - clean), "
        "one global ablation mean, against the measured loss change",
        "within",
        "A",
        preferred="r_attribution_patching",
    ),
    # the bars, cohort A cross-seed
    "bar_B_cross_A": _bar("B", "value", _B, "cross", "A", role="other"),
    "bar_B_cross_A_pass_fraction": _bar("B", "value", _B, "cross", "A", role="other", agg="fraction_below:0.0001"),
    "bar_P_cross_A": _bar(
        "P",
        "study_search.refined.max_tensor_mse",
        _P_STUDY + ", then its Cayley refinement",
        "cross",
        "A",
        role="other",
    ),
    "bar_P_cross_A_baseline": _bar(
        "P", "study_search.baseline.max_tensor_mse", _P_STUDY + ", before refinement", "cross", "A", role="other"
    ),
    "bar_P_cross_A_refinement": replace(
        _bar("P", "value", _P_STUDY, "cross", "A", role="other", preferred=None),
        column=("1 - refined / baseline", _refinement),
        control=None,
        control_name=None,
    ),
    "bar_C_cross_A": _bar("C", "study_convention.r_ig", _C_STUDY, "cross", "A", role="other"),
    "bar_Pr_cross_A": _bar("Pr", "study_convention.r_ig", _C_STUDY, "cross", "A", role="other"),
    # the decoy
    "decoy_bar_B": _bar("B", "value", _B + "; the paper's 100k samples", "within", "A", role="decoy"),
    "decoy_bar_B_real": _bar("B", "value", _B + "; the paper's 100k samples", "within", "A", role="anchor"),
    "decoy_bar_P": _bar("P", "study_search.baseline.max_tensor_mse", _P_STUDY, "cross", "A", role="decoy"),
    # checkpoints
    "toy_checkpoint_naive_ev": _drift("naive", "all", "toy", where={"expansion": 8}),
    "toy_checkpoint_rotated_ev": _drift("rotated", "all", "toy", where={"expansion": 8}),
    "toy_checkpoint_frobenius_embedding": _drift_frobenius("toy", ("resid_pre_0",), where={"expansion": 8}),
    "toy_checkpoint_frobenius_late": _drift_frobenius("toy", "late", where={"expansion": 8}),
    "pythia_checkpoint_self_ev": replace(
        _drift("self_insample", control=None), preferred=("drift", "self_ev_centred", {"role": "early"})
    ),
    "pythia_checkpoint_naive_ev": replace(_drift("naive"), preferred=("drift", "naive_ev_centred", {"role": "early"})),
    "pythia_checkpoint_rotated_ev": replace(
        _drift("rotated"),
        preferred=("drift", "rotated_ev_centred", {"role": "early"}),
        compare=("naive", "drift_paper_direction", "naive_ev_scalar", {}),
    ),
    "pythia_checkpoint_frobenius": _drift_frobenius("neox", "layer3"),
}


# ---------------------------------------------------------------- this run
@dataclass(frozen=True)
class RunContext:
    """What the ledger knows of this run: its tables, verdicts and configuration.

    ``tables`` maps (arm, table) to a TSV (arm "all" for arm-free tables); ``bars`` bar to
    its verdict JSON; ``sites`` arm to its audited sites (the first is the embedding);
    ``cohorts`` cohort name to (anchor, models); ``neox_is_pythia`` whether the GPT-NeoX arm
    is Pythia; ``neox_layer3`` the GPT-NeoX site standing for the paper's layer 3."""

    tables: Mapping[tuple[str, str], str]
    bars: Mapping[str, str]
    sites: Mapping[str, Sequence[str]]
    cohorts: Mapping[str, tuple[str, Sequence[str]]]
    neox_is_pythia: bool
    neox_layer3: str | None = None


def bar_table(path: str | os.PathLike[str], cohorts: Mapping[str, tuple[str, Sequence[str]]]) -> pd.DataFrame:
    """A bar verdict's units (and the decoy's) as a table: every nested field flattened
    (``study_search.baseline.max_tensor_mse``), ``cohort``, ``role`` (anchor, other, decoy) and
    ``value_ci95_lo/_hi`` from each unit's interval."""
    record = verdicts.read(path)
    decoy = record.decoy
    units = [{**u, "role": None} for u in record.units] + [
        {**u, "role": "decoy", "decoy_of": decoy.of} for u in (decoy.units if decoy is not None else [])
    ]
    rows = []
    for u in units:
        model = u["decoy_of"] if u["role"] == "decoy" else u["model"]
        cohort = next((c for c, (_, models) in cohorts.items() if model in models), None)
        role = u["role"] or ("anchor" if cohort is not None and cohorts[cohort][0] == model else "other")
        flat = {k: v for k, v in u.items() if k not in ("components", "per_head", "role", "decoy_of")}
        row = {**pd.json_normalize(flat, sep=".").iloc[0].to_dict(), "cohort": cohort, "role": role}
        ci = u.get("ci95")
        row["value_ci95_lo"], row["value_ci95_hi"] = (ci[0], ci[1]) if ci else (np.nan, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def bar_head_table(path: str | os.PathLike[str], cohorts: Mapping[str, tuple[str, Sequence[str]]]) -> pd.DataFrame:
    """Bar B's per-head values: one row per (unit, head)."""
    base = bar_table(path, cohorts).set_index("unit")
    rows = []
    for u in verdicts.read(path).units:
        for head, h in u.get("per_head", {}).items():
            ci = h.get("ci95")
            rows.append(
                {
                    **{k: base.loc[u["unit"], k] for k in ("kind", "model", "cohort", "role")},
                    "unit": u["unit"],
                    "head": head,
                    "value": h["value"],
                    "value_ci95_lo": ci[0] if ci else np.nan,
                    "value_ci95_hi": ci[1] if ci else np.nan,
                }
            )
    columns = ["kind", "model", "cohort", "role", "unit", "head", "value", "value_ci95_lo", "value_ci95_hi"]
    return pd.DataFrame(rows, columns=columns)


def read_table(ctx: RunContext, arm: str, table: str) -> pd.DataFrame | None:
    """One of this run's tables by name (a bar's units for ``bar_*``), or None."""
    if table.startswith("bar_"):
        bar = table.removeprefix("bar_").removesuffix("_per_head")
        path = ctx.bars.get(bar)
        if path is None or not Path(path).exists():
            return None
        return bar_head_table(path, ctx.cohorts) if table.endswith("_per_head") else bar_table(path, ctx.cohorts)
    path = ctx.tables.get((arm, table)) or ctx.tables.get(("all", table))
    if path is None or not Path(path).exists():
        return None
    return pd.read_csv(path, sep="\t", comment="#")


def _values(rows: pd.DataFrame, column: Column) -> pd.Series:
    if isinstance(column, tuple):
        return column[1](rows).astype(float)
    return selection.column(rows, column, "a ledger row")


def _column_name(column: Column) -> str:
    return column[0] if isinstance(column, tuple) else column


@dataclass
class Units:
    """Our units of one number: labels, values (compared), preferred values (shown),
    intervals, and per unit the spread (in the band's scale), the Haar (mean, sd) and, for a
    comparison, whether it holds."""

    labels: list[str]
    values: list[float]
    spreads: list[float | None]
    preferred: list[float] = field(default_factory=list)
    intervals: list[tuple[float, float] | None] = field(default_factory=list)
    control: list[float] = field(default_factory=list)
    haar: list[tuple[float, float] | None] = field(default_factory=list)
    compare: list[bool] = field(default_factory=list)
    undefined: list[bool] = field(default_factory=list)
    alternative: list[float] = field(default_factory=list)


LABEL_KEYS = ("cohort", "other", "model", "checkpoint", "head", "site", "expansion", "vector", "alpha")


def _label(row: Mapping[str, Any], keys: Sequence[str] = LABEL_KEYS) -> str:
    return ":".join(str(row[k]) for k in keys if k in row and pd.notna(row[k])) or "ours"


def _transform(scale: str) -> Callable[[np.ndarray], np.ndarray]:
    if scale == "log":
        return lambda x: np.log(np.where(np.asarray(x, float) > 0, x, np.nan))
    if scale == "fisher":
        return lambda x: np.arctanh(np.clip(np.asarray(x, float), -1 + 1e-12, 1 - 1e-12))
    return lambda x: np.asarray(x, float)


def _inverse(scale: str) -> Callable[[float], float]:
    return {"log": math.exp, "fisher": math.tanh}.get(scale, lambda x: x)


def _sd(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1)) if len(finite) >= 2 else None


def _selected(src: Source, ctx: RunContext, siblings: bool = False) -> pd.DataFrame | None:
    """The rows of the source's table its subset selects; with ``siblings``, the rows its
    units' siblings are among (the same selection but a bar unit's role: every seed of the
    cohort, the decoy only with the decoy)."""
    frame = read_table(ctx, src.arm, src.table)
    if frame is None:
        return None
    what = f"ledger source {src.table}"
    if src.sites != "all":
        frame = selection.select_sites(
            frame, selection.site_set(src.sites, ctx.sites.get(src.arm, []), ctx.neox_layer3), what
        )
    if src.cohort is not None:
        if "cohort" not in frame:
            raise KeyError(f"a ledger row selects cohort {src.cohort}, but {src.table} has no cohort column")
        frame = frame[frame["cohort"].astype(str) == src.cohort]
    where = dict(src.where)
    if siblings and "role" in where:
        role = where.pop("role")
        frame = frame[(frame["role"] == "decoy") == (role == "decoy")]
    return selection.select(frame, where, what)


def _groups(rows: pd.DataFrame, agg: str) -> list[pd.DataFrame]:
    """The rows each unit of ``agg`` is made of."""
    if agg.startswith("mean_by:"):
        keys = agg.split(":", 1)[1].split(",")
        return [g for _, g in rows.groupby(keys, sort=False)]
    if agg == "each":
        return [rows.iloc[[i]] for i in range(len(rows))]
    return [rows]


def table_units(src: Source, ctx: RunContext, band: Mapping[str, Any], paper: PaperValue) -> Units | None:
    """Our units from a table, aggregated as ``src.agg`` says; None when this run has no
    such table or no such rows. Spreads are in the scale of the row's ``band``."""
    rows = _selected(src, ctx)
    if rows is None or rows.empty:
        return None
    rows = rows.assign(value=_values(rows, src.column))
    scale, kind = band.get("scale", "linear"), band.get("spread", "siblings")
    if kind not in SPREADS or scale not in SCALES:
        raise ValueError(f"ledger band {dict(band)}: spread must be one of {SPREADS}, scale one of {SCALES}")
    T = _transform(scale)
    z_values = T(rows["value"].to_numpy())
    # each row's spread over its siblings, the registered fragility rule's (in the band's scale)
    pool = _selected(src, ctx, siblings=True)
    pool = pool.assign(_z=T(_values(pool, src.column).to_numpy()))
    spreads = verdicts.sibling_spreads([{**r, "value": float(r["_z"])} for r in pool.to_dict("records")])
    sib = pd.Series(spreads, index=pool.index, dtype=object).reindex(rows.index)
    rows = rows.assign(_z=z_values, _sib=sib.tolist())
    agg = src.agg
    out = Units([], [], [])

    def haar_of(g: pd.DataFrame, stat: str) -> tuple[float, float] | None:
        if src.haar is None:
            return None
        mean, sd = (float(_values(g, c).mean()) for c in src.haar)
        n = len(g)
        if stat == "mean":
            return mean, sd / math.sqrt(n)
        if stat in ("p10", "p90"):  # a sample quantile of n normal draws (its large-n sd)
            q = 0.1 if stat == "p10" else 0.9
            zq = 1.2815515655446004 * (1 if q > 0.5 else -1)
            return mean + zq * sd, 1.7094 * sd / math.sqrt(n)
        return mean, sd

    def spread_of(g: pd.DataFrame, stat: str, haar: tuple[float, float] | None, p: float | None) -> float | None:
        n = len(g)
        if kind == "none":
            return 0.0
        if kind == "haar":
            return haar[1] if haar is not None else None
        if kind == "fisher":
            return 1.0 / math.sqrt(float(band.get("components", 10)) - 3)
        if kind == "binomial":
            return math.sqrt(p * (1 - p) / n) if p is not None else None
        if kind == "column":
            if not src.se:
                return None
            se = float(_values(g, src.se).iloc[0])
            return se if math.isfinite(se) else None
        if kind == "interval":  # the unit's own 95% interval, in the band's scale
            lo, hi = f"{_column_name(src.column)}_ci95_lo", f"{_column_name(src.column)}_ci95_hi"
            if len(g) != 1 or lo not in g or pd.isna(g[lo].iloc[0]):
                return None
            t_lo, t_hi = T(np.array([g[lo].iloc[0], g[hi].iloc[0]], dtype=float))
            return float((t_hi - t_lo) / (2 * 1.959963984540054)) if np.isfinite(t_hi - t_lo) else None
        # siblings: a unit's own siblings; a mean's standard error; an extreme's whole spread
        if stat == "each":
            s = g["_sib"].iloc[0]
            return None if s is None or (isinstance(s, float) and math.isnan(s)) else float(s)
        s = _sd(g["_z"].to_numpy())
        return None if s is None else (s / math.sqrt(n) if stat == "mean" else s)

    for g in _groups(rows, agg):
        stat = agg if agg in ("min", "max", "p10", "p90") else ("each" if agg == "each" else "mean")
        if agg.startswith("fraction_below:"):
            t = float(agg.split(":", 1)[1])
            value = float((g["value"] < t).mean())
            p = float(paper.value) if paper.kind == "point" else None
            label, chosen = f"{int((g['value'] < t).sum())} of {len(g)} below {t:g}", g
        elif stat in ("min", "max"):
            i = int(np.nanargmin(g["value"]) if stat == "min" else np.nanargmax(g["value"]))
            chosen = g.iloc[[i]]
            value, label, p = float(chosen["value"].iloc[0]), _label(chosen.iloc[0]), None
        elif stat in ("p10", "p90"):
            value = float(np.quantile(g["value"], 0.1 if stat == "p10" else 0.9))
            label, chosen, p = f"{stat} of {len(g)}", g, None
        else:
            value = float(g["value"].mean())
            chosen, p = g, None
            keys = agg.split(":", 1)[1].split(",") if agg.startswith("mean_by:") else []
            if keys:
                label = f"{_label(g.iloc[0], keys)}: mean of {len(g)}"
            elif len(g) == 1:
                label = _label(g.iloc[0], (src.label,)) if src.label else _label(g.iloc[0])
            else:
                label = f"mean of {len(g)}"
        haar = haar_of(g, stat)
        out.labels.append(label)
        out.values.append(value)
        out.haar.append(haar)
        out.spreads.append(spread_of(g, stat, haar, p))
        lo, hi = f"{_column_name(src.column)}_ci95_lo", f"{_column_name(src.column)}_ci95_hi"
        if len(chosen) == 1 and lo in chosen and pd.notna(chosen[lo].iloc[0]):
            out.intervals.append((float(chosen[lo].iloc[0]), float(chosen[hi].iloc[0])))
        else:
            out.intervals.append(None)
        out.undefined.append(
            bool("undefined" in chosen and chosen["undefined"].astype(bool).all()) and math.isnan(value)
        )
    if src.compare is not None:
        other = _beside(src.compare[1:], src, ctx)
        if len(other) == len(out.values):
            out.compare = [bool(v > o) for v, o in zip(out.values, other, strict=True)]
    out.preferred = _beside(src.preferred, src, ctx)
    out.control = _beside(src.control, src, ctx, each=True)
    if src.alternative is not None:
        out.alternative = _beside(src.alternative[1:], src, ctx)
    return out


def _beside(spec: tuple | None, src: Source, ctx: RunContext, each: bool = False) -> list[float]:
    """Ours beside (``preferred``), a control or another reading: (table, column, where
    changes) on the row's own selection, aggregated as the row (``each``: every row)."""
    if spec is None:
        return []
    table, column, changes = spec
    other = replace(src, table=table, column=column, where={**src.where, **changes}, se=None, compare=None)
    if other.table == "haar_power":  # an arm-free table: its own rows only
        other = replace(other, sites="all", cohort=None, where=changes)
    try:
        rows = _selected(other, ctx)
    except KeyError:
        return []
    if rows is None or rows.empty or (isinstance(column, str) and column not in rows):
        return []
    values = _values(rows, column)
    if each or src.agg in ("each", "min", "max") or src.agg.startswith("fraction_below:"):
        return values.tolist()
    if src.agg.startswith("mean_by:"):
        keys = src.agg.split(":", 1)[1].split(",")
        return rows.assign(_v=values).groupby(keys, sort=False)["_v"].mean().tolist()
    if src.agg in ("p10", "p90"):
        return [float(np.quantile(values, 0.1 if src.agg == "p10" else 0.9))]
    return [float(values.mean())]


# ---------------------------------------------------------------- judging one row
def paper_bounds(pv: PaperValue, label: str | None = None) -> tuple[float, float]:
    """The paper's statement as an interval (a point is one value; "at least v" is [v, inf))."""
    if pv.kind == "per_unit":
        v = float(pv.value[label])
        return v, v
    if pv.kind == "range":
        return float(pv.value[0]), float(pv.value[1])
    v = float(pv.value)
    return {"at_least": (v, math.inf), "at_most": (-math.inf, v)}.get(pv.kind, (v, v))


def band_of(
    pv: PaperValue,
    spec: Mapping[str, Any],
    spread: float | None,
    haar: tuple[float, float] | None,
    z: float,
    label: str | None = None,
) -> list[tuple[float, float]]:
    """One unit's band in the value's own scale (see the module docstring): one interval, or
    two where a Haar claim's range does not meet the paper's."""
    if "band" in spec:  # an explicit interval registered for the row
        return [(float(spec["band"][0]), float(spec["band"][1]))]
    scale = spec.get("scale", "linear")
    T, inv = _transform(scale), _inverse(scale)
    lo, hi = paper_bounds(pv, label)
    if math.isfinite(lo):
        lo -= rounding(pv, lo)[0]
    if math.isfinite(hi):
        hi += rounding(pv, hi)[1]
    w = z * (spread or 0.0)
    t_lo = float(T(np.array([lo]))[0]) - w if math.isfinite(lo) else -math.inf
    t_hi = float(T(np.array([hi]))[0]) + w if math.isfinite(hi) else math.inf
    if math.isnan(t_lo):  # a log-scale bound at or below 0
        t_lo = -math.inf
    intervals = [(t_lo, t_hi)]
    if spec.get("haar_claim") and haar is not None:
        h_mean, h_sd = float(T(np.array([haar[0]]))[0]), haar[1]
        intervals = _merge([*intervals, (h_mean - z * h_sd, h_mean + z * h_sd)])
    return [((inv(a) if math.isfinite(a) else a), (inv(b) if math.isfinite(b) else b)) for a, b in intervals]


def _merge(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _distance(v: float, band: Sequence[tuple[float, float]], T: Callable[[np.ndarray], np.ndarray]) -> float:
    """Signed distance of ``v`` to its band's nearest edge in the band's scale: positive
    inside (to the edges of the interval holding it), negative outside."""
    t = float(T(np.array([v]))[0])
    edges = [(float(T(np.array([lo]))[0]), float(T(np.array([hi]))[0])) for lo, hi in band]
    inside = [min(t - a, b - t) for a, b in edges if a <= t <= b]
    if inside:
        return inside[0]
    return -min(min(abs(t - a), abs(t - b)) for a, b in edges)


def _fmt(v: float) -> str:
    if math.isfinite(v) and v == int(v) and abs(v) >= 1e4:
        return str(int(v))  # a count
    return f"{v:.4g}"


def _fmt_range(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    return _fmt(lo) if lo == hi else f"{_fmt(lo)} … {_fmt(hi)}"


def _fmt_band(band: Sequence[tuple[float, float]]) -> str:
    def one(lo: float, hi: float) -> str:
        if lo == -math.inf:
            return f"<= {_fmt(hi)}"
        if hi == math.inf:
            return f">= {_fmt(lo)}"
        return f"[{_fmt(lo)}, {_fmt(hi)}]"

    return " ∪ ".join(one(lo, hi) for lo, hi in band)


def _fmt_units(units: Units, named: bool) -> str:
    parts = []
    for lab, v, undef in zip(units.labels, units.values, units.undefined or [False] * len(units.values), strict=True):
        text = UNDEFINED if undef else _fmt(v)
        parts.append(f"{lab} {text}" if named or len(units.values) <= 4 else text)
    if named or len(units.values) <= 4:
        return ", ".join(parts)
    rng = _fmt_range(units.values)
    bad = sum(not math.isfinite(v) for v in units.values)
    return f"{rng} over {len(units.values)} units" + (f" ({bad} not finite)" if bad else "")


def _subset(src: Source, ctx: RunContext) -> str:
    sites = selection.site_set(src.sites, ctx.sites.get(src.arm, []), ctx.neox_layer3) if ctx.sites.get(src.arm) else []
    parts = [f"arm {src.arm}", f"table {src.table}"]
    if src.cohort:
        parts.append(f"cohort {src.cohort}")
    if sites and (src.sites != "all" or not src.table.startswith("bar_")):
        parts.append(f"sites {src.sites if isinstance(src.sites, str) else 'listed'}: {', '.join(sites)}")
    parts += [f"{k} {v}" for k, v in src.where.items()]
    return "; ".join(parts)


def _aggregation(src: Source) -> str:
    agg = src.agg
    if agg == "each":
        return "every selected row a unit"
    if agg == "mean":
        return "one unit: the mean over the selected rows"
    if agg.startswith("mean_by:"):
        return f"one unit per {agg.split(':', 1)[1].replace(',', ' and ')}: the mean over its rows (the other seeds)"
    if agg.startswith("fraction_below:"):
        return f"the fraction of the selected rows below {agg.split(':', 1)[1]}"
    return f"the {agg} over the selected rows"


def judge_row(pv: PaperValue, spec: Mapping[str, Any], ctx: RunContext, z: float = 2.0) -> dict[str, Any]:
    """One ledger row: the paper's number, ours, the band and the verdict."""
    src = SOURCES.get(pv.id)
    arm = src.arm if src is not None else "neox" if pv.id.startswith("pythia") else "toy"
    row: dict[str, Any] = {c: "" for c in COLUMNS}
    row.update(
        id=pv.id, quantity=pv.quantity, paper=pv.stated, unit=pv.unit, where=pv.where, arm=arm, reading=pv.reading
    )
    if "not_computed" in spec or src is None:
        row.update(verdict=NOT_COMPUTED, judge="registered: not compared", reason=str(spec.get("not_computed", "")))
        return row
    row["convention"] = f"{src.convention}. Subset: {_subset(src, ctx)}. Aggregation: {_aggregation(src)}." + (
        f" Direction: {src.direction}." if src.direction else ""
    )
    units = table_units(src, ctx, spec, pv)
    if units is None:
        why = (
            "the GPT-NeoX arm is not configured"
            if arm == "neox" and not any(a == "neox" for a, _ in ctx.tables)
            else ""
        )
        row.update(verdict=NOT_AT_SCALE, reason=why or "this configuration computes no unit of it")
        return row
    keep = list(range(len(units.values)))
    missing: list[str] = []
    if pv.kind == "per_unit":
        keep = [i for i, lab in enumerate(units.labels) if lab in pv.value]
        missing = sorted(set(map(str, pv.value)) - set(units.labels))
        if not keep:
            row.update(verdict=NOT_AT_SCALE, reason=f"this configuration has none of {sorted(pv.value)}")
            return row
    labels = [units.labels[i] for i in keep]
    values = [units.values[i] for i in keep]
    spreads = [units.spreads[i] for i in keep]
    bands = [
        band_of(pv, spec, units.spreads[i], units.haar[i], z, units.labels[i] if pv.kind == "per_unit" else None)
        for i in keep
    ]
    shown = replace(units, labels=labels, values=values, undefined=[units.undefined[i] for i in keep])
    row.update(
        ours=_fmt_units(shown, pv.kind == "per_unit"),
        n_units=len(values),
        ours_preferred=_fmt_range(units.preferred) if units.preferred else "",
        control=f"{src.control_name or 'control'} {_fmt_range(units.control)}" if units.control else "",
        judge=f"band: the paper's statement, its rounding, ± {z:g} x the {spec.get('spread', 'siblings')} spread "
        f"({spec.get('scale', 'linear')} scale)" + ("; with Haar's own range" if spec.get("haar_claim") else ""),
    )
    if src.alternative is not None and units.alternative:
        row["alternative"] = f"{src.alternative[0]}: {_fmt_range(units.alternative)}"
    if len(values) == 1 and units.intervals and units.intervals[keep[0]] is not None:
        lo, hi = units.intervals[keep[0]]
        row["ours_interval"] = f"[{_fmt(lo)}, {_fmt(hi)}]"
    row["band"] = (
        ", ".join(f"{lab} {_fmt_band(b)}" for lab, b in zip(labels, bands, strict=True))
        if pv.kind == "per_unit" or len({tuple(b) for b in bands}) > 1
        else _fmt_band(bands[0])
    )
    if units.compare:
        held = [units.compare[i] for i in keep]
        row["comparison"] = f"above {src.compare[0]} in {sum(held)} of {len(held)} units: " + (
            "holds" if all(held) else "fails"
        )
    inside = [math.isfinite(v) and any(lo <= v <= hi for lo, hi in b) for v, b in zip(values, bands, strict=True)]
    T = _transform(spec.get("scale", "linear"))
    margins = [
        verdicts.margin(_distance(v, b, T), s)
        if math.isfinite(v) and math.isfinite(float(T(np.array([v]))[0]))
        else None
        for v, b, s in zip(values, bands, spreads, strict=True)
    ]
    verdict = REPRODUCED if all(inside) else DIFFERS
    row.update(_fragility(inside, margins, [units.intervals[i] for i in keep], bands))
    reasons = []
    if not all(inside):
        worst = min(range(len(values)), key=lambda i: margins[i] if margins[i] is not None else -math.inf)
        text = UNDEFINED if shown.undefined[worst] else _fmt(values[worst])
        reasons.append(
            f"{inside.count(False)} of {len(values)} unit(s) outside the band; furthest {labels[worst]} = {text}"
        )
    if missing:
        reasons.append(f"not computed at this scale: {', '.join(missing)}")
    if spec.get("by_construction"):
        reasons.insert(0, f"holds by construction ({spec['by_construction']}); against the band it is {verdict}")
        verdict = BY_CONSTRUCTION
    if arm == "neox" and not ctx.neox_is_pythia:
        reasons.insert(
            0, f"the offline GPT-NeoX family stands in for Pythia (not judged; its verdict would be: {verdict})"
        )
        verdict = NOT_OFFLINE
    row["verdict"] = verdict
    row["reason"] = "; ".join(reasons)
    return row


def _fragility(
    inside: Sequence[bool],
    margins: Sequence[float | None],
    intervals: Sequence[tuple[float, float] | None],
    bands: Sequence[Sequence[tuple[float, float]]],
) -> dict[str, Any]:
    """The registered fragility rule (``verdicts.fragility``) applied to a row's units
    against the edges of its band: inside the band is the passing side."""
    straddles = [
        iv is not None and any(iv[0] <= edge <= iv[1] for part in b for edge in part if math.isfinite(edge))
        for iv, b in zip(intervals, bands, strict=True)
    ]
    _, fragile, worst = verdicts.fragility(inside, margins, straddles)
    return {"fragile": fragile, "margin": "" if worst is None else _fmt(worst)}


def ledger(
    values: Sequence[PaperValue],
    bands: Mapping[str, Mapping[str, Any]],
    ctx: RunContext,
    z: float = 2.0,
) -> pd.DataFrame:
    """Every paper value's row, in the paper file's order. Every value needs a registered
    band and a source: a number that cannot be judged is an error, not a silent gap."""
    unregistered = [v.id for v in values if v.id not in bands]
    if unregistered:
        raise KeyError(f"paper values with no registered band (preregistration.md ledger.bands): {unregistered}")
    unsourced = [v.id for v in values if v.id not in SOURCES]
    if unsourced:
        raise KeyError(f"paper values with no source in polyrot.ledger.SOURCES: {unsourced}")
    rows = [judge_row(v, bands[v.id], ctx, z) for v in values]
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
        "tr.differs td{background:#fde2e1}tr.reproduced td{background:#e3f4e1}tr.holds td{background:#eef}"
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
