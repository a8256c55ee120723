"""The decoy (docs/methods.md §8, H6): a model that is almost the anchor but computes another function.

``make_decoy`` averages the depth unembedding's class columns in adjacent pairs (depth bins
0-1, 2-3, 4-5 and 6-7 collapsed; bin 8, the odd one out, is kept), so the decoy cannot
tell a depth from its pair partner: every other weight is the anchor's, bit for bit. In the
study's code the unembedding is stored transposed (a row per class); ours holds one column
per class, so the paper's "rows averaged in pairs" are our columns.

``separation`` reads the four bars' verdicts and says, per bar, whether the real model
passes its within-seed unit while some decoy unit fails: the registered decoy claim holds
when at least one bar separates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from polyrot.verdicts import Verdict

DEPTH_UNEMBEDDING = "W_U_depth"


def make_decoy(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy of the toy model ``state`` with the depth unembedding's columns averaged in
    adjacent pairs."""
    if DEPTH_UNEMBEDDING not in state:
        raise ValueError(f"not a toy model: no {DEPTH_UNEMBEDDING}")
    out = {k: np.array(v, copy=True) for k, v in state.items()}
    W = out[DEPTH_UNEMBEDDING]
    for i in range(0, W.shape[1] - 1, 2):
        W[:, i] = W[:, i + 1] = (W[:, i] + W[:, i + 1]) / 2
    return out


def separation(records: Sequence[Verdict], model: str) -> pd.DataFrame:
    """One row per bar verdict: the real ``model``'s within-seed unit and the decoy's worst
    unit, each judged, and whether the bar separates them (the model passes, the decoy
    fails); then a row ``bar = any`` that separates when some bar does."""
    rows = []
    for r in records:
        within = [u for u in r.units if u.get("kind") == "within" and u.get("model") == model]
        if len(within) != 1:
            raise ValueError(f"{r.claim}: expected one within-seed unit of {model}, found {len(within)}")
        decoy = r.decoy
        if decoy is None:
            raise ValueError(f"{r.claim}: the verdict judges no decoy")
        rows.append(
            {
                "bar": r.bar,
                "model": model,
                "model_value": within[0]["value"],
                "model_verdict": within[0]["verdict"],
                "decoy": decoy.model,
                "decoy_value": decoy.value,
                "decoy_worst_unit": decoy.worst_unit,
                "decoy_verdict": decoy.verdict,
                "comparison": r.comparison,
                "threshold": r.threshold,
                "separates": int(within[0]["verdict"] == "PASS" and decoy.verdict == "FAIL"),
            }
        )
    table = pd.DataFrame(rows)
    anyrow = {c: None for c in table.columns} | {
        "bar": "any",
        "model": model,
        "separates": int(table["separates"].max()),
    }
    return pd.concat([table, pd.DataFrame([anyrow])], ignore_index=True)
