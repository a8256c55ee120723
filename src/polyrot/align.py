"""Orthogonal Procrustes between two models' activations, and the negative controls.

Rows of ``A`` (anchor) and ``B`` (other) are the same tokens. ``fit_rotation`` centres both
and solves ``min ‖B_c R − A_c‖_F`` over O(d) with ``scipy.linalg.orthogonal_procrustes``;
``Rotation.apply`` maps b into a's frame as ``x' = (x − μ_b) R + μ_a``.

Negative controls (docs/methods.md §12.3) — each fitted on the fit split and judged on held-out
tokens exactly like the real R:

- ``permuted``: R fitted after permuting B's rows, so no token correspondence;
- ``moments``: R from second moments alone, aligning the two covariance eigenbases
  (eigenvalues sorted; each axis' sign fixed by the sign of its third moment, so no token
  correspondence is used anywhere);
- ``other site``: R fitted between b at another site and a at this site (built by the
  caller with ``fit_rotation`` on those inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass(frozen=True)
class Rotation:
    """An orthogonal map from b's frame to a's, with the means it was fitted with."""

    R: np.ndarray
    mu_a: np.ndarray
    mu_b: np.ndarray
    method: str

    def apply(self, x_b: np.ndarray) -> np.ndarray:
        """Map rows of b's activations into a's frame."""
        return (x_b - self.mu_b) @ self.R + self.mu_a

    def apply_directions(self, v_b: np.ndarray) -> np.ndarray:
        """Map direction vectors (rows, e.g. decoder rows) of b into a's frame."""
        return v_b @ self.R

    @property
    def frobenius_to_identity(self) -> float:
        return float(np.linalg.norm(self.R - np.eye(self.R.shape[0])))


def _check_pair(A: np.ndarray, B: np.ndarray) -> None:
    if A.shape != B.shape:
        raise ValueError(f"activation matrices must have the same shape (same tokens): {A.shape} vs {B.shape}")


def fit_rotation(A: np.ndarray, B: np.ndarray, method: str = "procrustes") -> Rotation:
    """Procrustes R minimising ‖(B − μ_b) R − (A − μ_a)‖_F over O(d), in float64."""
    _check_pair(A, B)
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    mu_a, mu_b = A.mean(0), B.mean(0)
    R, _ = scipy.linalg.orthogonal_procrustes(B - mu_b, A - mu_a)
    return Rotation(R=R, mu_a=mu_a, mu_b=mu_b, method=method)


def fit_permuted(A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> Rotation:
    """Null: Procrustes with B's rows permuted (token correspondence broken)."""
    _check_pair(A, B)
    return fit_rotation(A, np.asarray(B)[rng.permutation(len(B))], method="null_permuted")


def _eigenbasis(X: np.ndarray) -> np.ndarray:
    """Columns: covariance eigenvectors, descending eigenvalue, sign by positive third moment."""
    Xc = X - X.mean(0)
    cov = Xc.T @ Xc / max(len(X) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)
    vecs = vecs[:, np.argsort(vals)[::-1]]
    skew = ((Xc @ vecs) ** 3).mean(0)
    return vecs * np.where(skew < 0, -1.0, 1.0)


def fit_moments(A: np.ndarray, B: np.ndarray) -> Rotation:
    """Null: R = U_b U_aᵀ aligning b's covariance eigenbasis onto a's; uses no token pairing
    (A and B may even have different rows)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    U_a, U_b = _eigenbasis(A), _eigenbasis(B)
    return Rotation(R=U_b @ U_a.T, mu_a=A.mean(0), mu_b=B.mean(0), method="null_moments")


def _principal(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values and right singular vectors of the centred X."""
    Xc = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    return s, Vt


def _rank_for(s: np.ndarray, variance: float) -> int:
    s2 = s**2
    return int(np.searchsorted(np.cumsum(s2) / s2.sum(), variance) + 1)


def effective_rank(X: np.ndarray, variance: float = 0.99) -> int:
    """Number of principal components needed for ``variance`` of the total variance."""
    return _rank_for(_principal(X)[0], variance)


def data_span(X: np.ndarray, variance: float = 0.99) -> np.ndarray:
    """Orthonormal basis ``(d, k)`` of the principal subspace holding ``variance`` of X's
    variance (k = ``effective_rank``), from one SVD."""
    s, Vt = _principal(X)
    return Vt[: _rank_for(s, variance)].T
