"""The steering tables the claims are judged on (amendment 2026-11-28), from a sweep's rows:

- ``transfer``: per (cohort, anchor, other model, vector, dose), each effect within-seed,
  unrotated, rotated and random on the other model, the ratios cross / within and their
  distance from 1 (``dev_*``); effects are ``kl`` and, on the toy, ``acc`` (accuracy drop);
- ``dose``: per (cohort, anchor, other model, vector), the dose at which each accuracy-drop
  curve first reaches half the largest within-seed drop, and the dose factors cross / within;
- ``control``: per (cohort, anchor, model, vector, dose, condition), an effect over the mean
  effect of the random directions on the same model at the same dose.

The paper comparison (``study_ratios``, ``study_doses``) reads the fine-grid sweep of the
toy arm in two setups (``heldout``: ours; ``study``: the vector built and its effect
measured on the same analysis batch, as the study's code) and two targets (ours, and the
study's), and gives the study's aggregation: the other seeds' mean effect over the
within-seed effect, undefined (NaN, flagged) where the within-seed effect is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: effect column of a sweep -> its short name in the tables
EFFECTS = {"kl": "kl", "accuracy_drop": "acc", "accuracy_drop_study_target": "acc_study_target"}
#: the accuracy-drop column of each target
TARGETS = {"ours": "accuracy_drop", "study": "accuracy_drop_study_target"}


def ratio(cross: float, within: float) -> float:
    """Cross-seed effect over within-seed effect ("inverted" means > 1, not a sign flip);
    NaN when the within-seed effect is 0."""
    return cross / within if within != 0 else float("nan")


def dose_to_reach(alphas: Sequence[float], effects: Sequence[float], level: float) -> tuple[float, str]:
    """The dose at which a dose-response curve first reaches ``level``, interpolated linearly
    in log dose between the grid's doses, and how it is censored: ``""``; ``"below"`` when the
    smallest dose already reaches it (the dose is then an upper bound); ``"never"`` (infinite)
    when no dose does."""
    order = np.argsort(alphas)
    a = np.asarray(alphas, dtype=float)[order]
    e = np.asarray(effects, dtype=float)[order]
    reached = np.flatnonzero(e >= level)
    if len(reached) == 0:
        return math.inf, "never"
    i = int(reached[0])
    if i == 0:
        return float(a[0]), "below"
    t = (level - e[i - 1]) / (e[i] - e[i - 1])
    return float(np.exp(np.log(a[i - 1]) + t * (np.log(a[i]) - np.log(a[i - 1])))), ""


def _effect(g: pd.DataFrame, model: str, condition: str, column: str) -> pd.Series:
    sel = g[(g["model"] == model) & (g["condition"] == condition)].set_index("alpha")[column]
    return sel.sort_index()


def transfer_table(
    effects: pd.DataFrame, shared_io: Mapping[str, bool], pinned: Mapping[tuple[str, str], float]
) -> pd.DataFrame:
    """``effects``: sweep rows with ``cohort`` and ``anchor`` columns; ``shared_io`` per cohort;
    ``pinned``: each (cohort, vector)'s fraction of squared norm in the pinned subspace."""
    present = [c for c in EFFECTS if c in effects and effects[c].notna().any()]
    rows = []
    for (cohort, anchor, vector), g in effects.groupby(["cohort", "anchor", "vector"], sort=False):
        for other in [m for m in dict.fromkeys(g["model"]) if m != anchor]:
            for alpha in sorted(g["alpha"].unique()):
                row = {
                    "cohort": cohort,
                    "anchor": anchor,
                    "other": other,
                    "vector": vector,
                    "alpha": alpha,
                    "shared_io": bool(shared_io[cohort]),
                    "pinned_fraction": pinned[(cohort, vector)],
                }
                for column in present:
                    s = EFFECTS[column]
                    value = {
                        (m, c): float(_effect(g, m, c, column)[alpha])
                        for m, c in ((anchor, "within"), (other, "unrotated"), (other, "rotated"), (other, "random"))
                    }
                    row |= {
                        f"within_{s}": value[(anchor, "within")],
                        f"unrotated_{s}": value[(other, "unrotated")],
                        f"rotated_{s}": value[(other, "rotated")],
                        f"random_{s}": value[(other, "random")],
                    }
                    for c in ("unrotated", "rotated"):
                        r = ratio(row[f"{c}_{s}"], row[f"within_{s}"])
                        row[f"ratio_{c}_{s}"] = r
                        row[f"dev_{c}_{s}"] = abs(r - 1.0)
                rows.append(row)
    return pd.DataFrame(rows)


def dose_table(effects: pd.DataFrame, column: str = "accuracy_drop") -> pd.DataFrame:
    """Per (cohort, anchor, other, vector): the level (half the largest within-seed effect),
    the dose each curve reaches it at, censoring, and the dose factors cross / within (NaN
    where the within-seed curve never rises above 0)."""
    rows = []
    for (cohort, anchor, vector), g in effects.groupby(["cohort", "anchor", "vector"], sort=False):
        within = _effect(g, anchor, "within", column)
        level = 0.5 * float(within.max())
        w_dose, w_cens = dose_to_reach(within.index, within.values, level)
        for other in [m for m in dict.fromkeys(g["model"]) if m != anchor]:
            row = {"cohort": cohort, "anchor": anchor, "other": other, "vector": vector, "level": level}
            row |= {"dose_within": w_dose, "censored_within": w_cens}
            for c in ("unrotated", "rotated"):
                curve = _effect(g, other, c, column)
                dose, cens = dose_to_reach(curve.index, curve.values, level)
                row |= {f"dose_{c}": dose, f"censored_{c}": cens}
                row[f"dose_factor_{c}"] = dose / w_dose if level > 0 else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def control_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Each non-random effect beside the random directions' on the same model and dose."""
    present = [c for c in EFFECTS if c in effects and effects[c].notna().any()]
    keys = ["cohort", "anchor", "model", "vector", "alpha"]
    random = effects[effects["condition"] == "random"].set_index(keys)
    rows = []
    for _, r in effects[effects["condition"] != "random"].iterrows():
        rand = random.loc[tuple(r[k] for k in keys)]
        row = {k: r[k] for k in keys} | {"condition": r["condition"]}
        for column in present:
            s = EFFECTS[column]
            row |= {s: r[column], f"random_{s}": rand[column], f"random_{s}_sd": rand[f"{column}_sd"]}
        row["over_random_kl"] = ratio(r["kl"], rand["kl"])
        rows.append(row)
    return pd.DataFrame(rows)


def _others(g: pd.DataFrame, anchor: str) -> list[str]:
    return [m for m in dict.fromkeys(g["model"]) if m != anchor]


def study_ratios(effects: pd.DataFrame) -> pd.DataFrame:
    """Per (cohort, anchor, setup, vector, target, dose): the within-seed accuracy drop, the
    other seeds' mean drop unrotated and (where swept) through R, and the ratio of the mean
    to the within-seed drop, ``undefined`` where that is 0 (the ratio is then NaN, never a
    number); the per-seed ratios' range; and the same for the KL."""
    rows = []
    for (cohort, anchor, setup, vector), g in effects.groupby(["cohort", "anchor", "setup", "vector"], sort=False):
        others = _others(g, anchor)
        for alpha in sorted(g["alpha"].unique()):
            at = g[g["alpha"] == alpha]
            for target, column in [*TARGETS.items(), ("kl", "kl")]:
                within = float(at[(at["model"] == anchor) & (at["condition"] == "within")][column].iloc[0])
                row = {
                    "cohort": cohort,
                    "anchor": anchor,
                    "setup": setup,
                    "vector": vector,
                    "target": target,
                    "effect": "kl" if column == "kl" else "accuracy_drop",
                    "alpha": alpha,
                    "within": within,
                    "n_others": len(others),
                }
                for condition in ("unrotated", "rotated"):
                    cross = at[at["condition"] == condition].set_index("model")[column].reindex(others)
                    if cross.isna().all():
                        continue
                    per_seed = np.array([ratio(float(c), within) for c in cross])
                    logs = np.log(per_seed[per_seed > 0])
                    row |= {
                        f"{condition}_mean": float(cross.mean()),
                        f"{condition}_se": _se(cross.to_numpy(dtype=float)),
                        f"ratio_{condition}": ratio(float(cross.mean()), within),
                        f"ratio_{condition}_min": float(np.min(per_seed)),
                        f"ratio_{condition}_max": float(np.max(per_seed)),
                        # the standard error of the log ratio, from the per-seed ratios
                        f"ratio_{condition}_log_se": _se(logs) if len(logs) == len(per_seed) else float("nan"),
                    }
                row["undefined"] = within == 0
                rows.append(row)
    return pd.DataFrame(rows)


def study_doses(effects: pd.DataFrame) -> pd.DataFrame:
    """Per (cohort, anchor, setup, vector, target): the dose at which the within-seed and the
    other seeds' mean accuracy-drop curves first reach half the largest within-seed drop
    (``dose_to_reach``), and the dose factor mean cross / within (NaN where the within-seed
    curve never rises above 0)."""
    rows = []
    for (cohort, anchor, setup, vector), g in effects.groupby(["cohort", "anchor", "setup", "vector"], sort=False):
        others = _others(g, anchor)
        for target, column in TARGETS.items():
            within = _effect(g, anchor, "within", column)
            level = 0.5 * float(within.max())
            w_dose, w_cens = dose_to_reach(within.index, within.values, level)
            row = {"cohort": cohort, "anchor": anchor, "setup": setup, "vector": vector, "target": target}
            row |= {"level": level, "dose_within": w_dose, "censored_within": w_cens, "n_alphas": len(within)}
            for condition in ("unrotated", "rotated"):
                sel = g[(g["condition"] == condition) & g["model"].isin(others)]
                if sel.empty:
                    continue
                curve = sel.groupby("alpha")[column].mean().sort_index()
                dose, cens = dose_to_reach(curve.index, curve.values, level)
                factors = [
                    dose_to_reach(*_curve(g, m, condition, column), level)[0] / w_dose if level > 0 else float("nan")
                    for m in others
                ]
                finite = np.array([f for f in factors if np.isfinite(f) and f > 0])
                row |= {
                    f"dose_{condition}_mean": dose,
                    f"censored_{condition}_mean": cens,
                    f"dose_factor_{condition}": dose / w_dose if level > 0 else float("nan"),
                    f"dose_factor_{condition}_min": float(np.min(factors)),
                    f"dose_factor_{condition}_max": float(np.max(factors)),
                    f"dose_factor_{condition}_log_se": _se(np.log(finite)) if len(finite) == len(factors) else np.nan,
                }
            rows.append(row)
    return pd.DataFrame(rows)


def _se(values: np.ndarray) -> float:
    """The standard error of a mean of ``values`` (sample sd over sqrt n); NaN below two."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) >= 2 else float("nan")


def _curve(g: pd.DataFrame, model: str, condition: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    c = _effect(g, model, condition, column)
    return c.index.to_numpy(), c.to_numpy()
