"""Bootstrap intervals of explained variance over held-out sequences.

Tokens of one sequence are not independent draws, so the resampling unit is the sequence:
each draw takes the held-out sequences with replacement (multinomial counts ``weights``) and
recomputes every EV from per-sequence sums, EV* = 1 − Σ w_s SSE_s / Σ w_s SST_s, with SST
around the full target set's per-dimension mean (the *centred* convention of
``polyrot.metrics``, held fixed: the ratio estimator's usual bootstrap). Every quantity of
one row is drawn with the same weights, so a difference of two EVs gets a paired interval.
This is the interval the fragility rule of preregistration.md (2026-11-28) reads from a table
as ``<column>_ci95_lo`` / ``<column>_ci95_hi``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

LEVEL = 0.95


def sequence_index(sequence: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's sequence as 0 … n−1, and n."""
    uniques, index = np.unique(np.asarray(sequence), return_inverse=True)
    return index.reshape(-1), len(uniques)


def ev_terms(x: np.ndarray, x_hat: np.ndarray, index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence squared error and centred total sum of squares (float64)."""
    x = np.asarray(x, dtype=np.float64)
    resid = ((x - np.asarray(x_hat, dtype=np.float64)) ** 2).sum(axis=1)
    total = ((x - x.mean(axis=0)) ** 2).sum(axis=1)
    return np.bincount(index, resid, n), np.bincount(index, total, n)


def weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` multinomial counts: each draw resamples the n sequences with replacement."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def ev_draws(terms: tuple[np.ndarray, np.ndarray], w: np.ndarray) -> np.ndarray:
    """The EV of every draw."""
    sse, sst = terms
    return 1.0 - (w @ sse) / (w @ sst)


def interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of the draws."""
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def interval_columns(
    terms: Mapping[str, tuple[np.ndarray, np.ndarray]],
    columns: Mapping[str, tuple[str, str | None]],
    w: np.ndarray,
) -> dict[str, float]:
    """``{column}_ci95_lo`` / ``_hi`` for each column, given as (quantity, minus quantity or
    None): e.g. ``{"self_minus_rotated_ev_centred": ("self", "rotated")}``."""
    draws = {name: ev_draws(t, w) for name, t in terms.items()}
    out: dict[str, float] = {}
    for column, (first, second) in columns.items():
        d = draws[first] - draws[second] if second is not None else draws[first]
        out[f"{column}_ci95_lo"], out[f"{column}_ci95_hi"] = interval(d)
    return out
