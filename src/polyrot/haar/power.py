"""Size and power of the Haar tests, measured: rejection rates at level alpha over many
matrices, for true Haar samples (the size) and for non-Haar orthogonal matrices that a
careless test would pass (the power).

Alternatives (each conjugated by a Haar-random change of basis, so nothing is axis-aligned):

- ``haar_so`` / ``haar_det-1``: Haar on each component of O(d) — rejection here is the size;
- ``planes_at_pi``: d/4 planes rotated by π, identity elsewhere — tr R = 0, so
  ‖R − I‖_F = √(2d) exactly, with every free angle at 0 or π;
- ``block_haar``: two independent Haar blocks of d/2;
- ``subspace_haar``: Haar on a d/2-dimensional subspace, identity on the rest;
- ``expm_skew``: exp of a random skew-symmetric matrix scaled so its spectrum reaches ±π
  (angles follow a semicircle, not the Haar law).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats
from tqdm.auto import tqdm

from polyrot import haar

TESTS = ("ks_exact", "frobenius_z", "ks_pooled_paper")


def _conjugate(B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    Q = haar.sample_haar(B.shape[0], rng)
    return Q @ B @ Q.T


def _planes_at_pi(d: int, rng: np.random.Generator) -> np.ndarray:
    diag = np.ones(d)
    diag[: 2 * (d // 4)] = -1.0  # d/4 planes rotated by π
    return _conjugate(np.diag(diag), rng)


def _block_haar(d: int, rng: np.random.Generator) -> np.ndarray:
    h = d // 2
    return _conjugate(scipy.linalg.block_diag(haar.sample_haar(h, rng), haar.sample_haar(d - h, rng)), rng)


def _subspace_haar(d: int, rng: np.random.Generator) -> np.ndarray:
    h = d // 2
    return _conjugate(scipy.linalg.block_diag(haar.sample_haar(h, rng), np.eye(d - h)), rng)


def _expm_skew(d: int, rng: np.random.Generator) -> np.ndarray:
    G = rng.normal(size=(d, d))
    A = (G - G.T) / np.sqrt(2.0)  # skew, entries N(0, 1): spectrum on the imaginary axis within ±2√d
    return scipy.linalg.expm(A * (np.pi / (2.0 * np.sqrt(d))))


ALTERNATIVES: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "haar_so": lambda d, rng: haar.sample_haar(d, rng, det=1),
    "haar_det-1": lambda d, rng: haar.sample_haar(d, rng, det=-1),
    "planes_at_pi": _planes_at_pi,
    "block_haar": _block_haar,
    "subspace_haar": _subspace_haar,
    "expm_skew": _expm_skew,
}


def reject(
    R: np.ndarray, alpha: float, rng: np.random.Generator, n_null: int, reference: np.ndarray
) -> dict[str, bool]:
    """Does each test reject Haar for this one matrix at level ``alpha``? ``reference`` is
    the paper's pooled reference (one pool per d, as in the paper)."""
    _, p_exact = haar.ks_exact(R)
    mean, sd = haar.frobenius_null(R.shape[0], haar.component(R), rng, n_null)
    _, p_pooled, _ = haar.ks_pooled_paper([R], rng, reference=reference)
    return {
        "ks_exact": p_exact < alpha,
        "frobenius_z": abs(haar.frobenius(R) - mean) / sd > float(scipy.stats.norm.ppf(1 - alpha / 2)),
        "ks_pooled_paper": p_pooled < alpha,
    }


def power_table(
    dims: dict[int, int], alpha: float, seed: int, n_null: int = 200, n_reference: int = 10, progress: bool = True
) -> pd.DataFrame:
    """Rejection rate of every test for every (d, alternative); ``dims`` maps d to the
    number of matrices drawn per alternative."""
    rows = []
    total = sum(n * len(ALTERNATIVES) for n in dims.values())
    bar = tqdm(total=total, desc="Haar power", disable=not progress, mininterval=1.0)
    for d, n in dims.items():
        null_rng = np.random.default_rng([seed, d])  # one cached null per (d, component)
        reference = haar.pooled_reference(d, np.random.default_rng([seed, d, 999]), n_reference)
        for name, make in ALTERNATIVES.items():
            rng = np.random.default_rng([seed, d, list(ALTERNATIVES).index(name)])
            hits = {t: 0 for t in TESTS}
            fro = []
            for _ in range(n):
                R = make(d, rng)
                fro.append(haar.frobenius(R))
                for t, r in reject(R, alpha, null_rng, n_null, reference).items():
                    hits[t] += r
                bar.update(1)
            for t in TESTS:
                rows.append(
                    {
                        "d": d,
                        "alternative": name,
                        "is_haar": name.startswith("haar"),
                        "test": t,
                        "alpha": alpha,
                        "n_matrices": n,
                        "rejection_rate": hits[t] / n,
                        "mean_frobenius": float(np.mean(fro)),
                        "sqrt_2d": float(np.sqrt(2 * d)),
                    }
                )
    bar.close()
    return pd.DataFrame(rows)
