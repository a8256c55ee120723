"""The steering tables the claims are judged on (amendment 2026-11-28), from a sweep's rows:

- ``transfer``: per (cohort, anchor, other model, vector, dose), each effect within-seed,
  unrotated, rotated and random on the other model, the ratios cross / within and their
  distance from 1 (``dev_*``); effects are ``kl`` and, on the toy, ``acc`` (accuracy drop);
- ``dose``: per (cohort, anchor, other model, vector), the dose at which each accuracy-drop
  curve first reaches half the largest within-seed drop, and the dose factors cross / within;
- ``control``: per (cohort, anchor, model, vector, dose, condition), an effect over the mean
  effect of the random directions on the same model at the same dose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: effect column of a sweep -> its short name in the tables
EFFECTS = {"kl": "kl", "accuracy_drop": "acc"}


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
