"""Explained variance under both conventions in use (docs/methods.md §6, §12.5).

*centred* (ours): ``EV = 1 - Σ‖x - x̂‖² / Σ‖x - x̄‖²`` with x̄ the per-dimension mean of
the target set. *scalar* (the paper's code): the denominator is the total variance computed
around a single scalar mean, ``Σ (x_ij - mean(x))²``. Both are 1 for a perfect
reconstruction; *centred* is 0 for predicting the per-dimension mean; *scalar* is 0 for
predicting the global scalar mean and is higher than *centred* when dimensions have
different means.
"""

from __future__ import annotations

import numpy as np
import torch

CONVENTIONS = ("centred", "scalar")

Array = np.ndarray | torch.Tensor


def _np(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def explained_variance(x: Array, x_hat: Array, convention: str = "centred") -> float:
    """EV of ``x_hat`` as a reconstruction of ``x`` (rows are samples), in float64."""
    x = _np(x).astype(np.float64)
    x_hat = _np(x_hat).astype(np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}")
    resid = ((x - x_hat) ** 2).sum()
    if convention == "centred":
        total = ((x - x.mean(axis=0, keepdims=True)) ** 2).sum()
    elif convention == "scalar":
        total = ((x - x.mean()) ** 2).sum()
    else:
        raise ValueError(f"unknown EV convention {convention!r}; use one of {CONVENTIONS}")
    return float(1.0 - resid / total)


def both(x: Array, x_hat: Array) -> dict[str, float]:
    """``{"centred": ..., "scalar": ...}``."""
    return {c: explained_variance(x, x_hat, c) for c in CONVENTIONS}
