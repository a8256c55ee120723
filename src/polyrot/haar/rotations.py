"""Haar statistics of the rotations the audit fitted, aware of how much of R the data fix.

Procrustes determines R only on the span of the activations; on the rest the SVD fills in
an arbitrary completion that looks random. Each rotation is therefore reported twice: on
the whole R, and restricted to the well-determined subspace (the top principal components
of b's fit activations holding ``variance`` of their variance). Where that subspace is a
small part of d, the row says so instead of offering a Haar verdict the data cannot support.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from polyrot import haar
from polyrot.align import data_span


def rotation_row(
    R: np.ndarray,
    fit_b: np.ndarray,
    rng: np.random.Generator,
    n_null: int = 200,
    variance: float = 0.99,
    min_determined_fraction: float = 0.5,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Whole-R statistics (``haar.summary``) plus the rank-restricted ones and a plain verdict."""
    row = haar.summary(R, rng, n_null=n_null)
    d = R.shape[0]
    V = data_span(fit_b, variance)
    k = V.shape[1]
    row.update(
        effective_rank=k,
        determined_fraction=k / d,
        restricted_frobenius=haar.restricted_frobenius(R, V),
        restricted_frobenius_haar=float(np.sqrt(2 * k)),
    )
    if k / d < min_determined_fraction:
        row["haar_reading"] = (
            f"not determined by data: activations span {k} of {d} dimensions ({variance:.0%} variance); "
            f"R is an arbitrary completion on the other {d - k}"
        )
    elif row["ks_p"] < alpha:
        row["haar_reading"] = "rejects Haar (exact one-sample KS on the free eigen-angles)"
    else:
        row["haar_reading"] = "consistent with Haar (exact KS; conservative test, see the power table)"
    return row
