"""Haar-measure reference statistics for orthogonal matrices R (d×d).

The paper's claim is that a fitted orthogonal map R between two SAE dictionaries looks
like a *random* rotation. This module gives the exact reference law for that claim and
the statistics used to test it:

* :func:`sample_haar` draws from Haar measure on one component of O(d) (QR of a Gaussian
  matrix with the signs of R's diagonal fixed, Mezzadri 2007).
* :func:`free_angles`, :func:`angle_pdf`, :func:`angle_cdf` and :func:`ks_exact` compare
  the eigen-angles of R with the exact one-point density of the *free* angles under Haar
  measure on R's component. The eigenvalues of an orthogonal matrix are ``e^{±iθ}``; one
  angle θ ∈ [0, π] is kept per conjugate pair and the eigenvalues ±1 forced by the
  component and the parity of d are removed. Densities (each integrates to 1 on (0, π)):

  - SO(2N), N angles: ``ρ(θ) = [(2N − 1) + sin((2N − 1)θ)/sin θ] / (2πN)``
  - SO(2N+1), N angles (plus +1): ``ρ(θ) = [2N − sin(2Nθ)/sin θ] / (2πN)``
  - det −1, d = 2N, M = N − 1 angles (plus +1 and −1):
    ``ρ(θ) = [(2M + 1) − sin((2M + 1)θ)/sin θ] / (2πM)``
  - det −1, d = 2N+1, N angles (plus −1): ``ρ(θ) = ρ_SO(2N+1)(π − θ)``

  With ``sin((2m+1)θ)/sin θ = 1 + 2Σ_{j≤m} cos(2jθ)`` and
  ``sin(2mθ)/sin θ = 2Σ_{j≤m} cos((2j−1)θ)`` every density is
  ``(a + c Σ_j 2cos(k_j θ)) / Z`` and its CDF is ``(aθ + c Σ_j 2 sin(k_j θ)/k_j) / Z``.
* :func:`ks_pooled_paper` is the paper's own test (pooled |angles| against pooled Haar
  samples, two-sample KS), kept for comparison.
* :func:`frobenius` (``‖R − I‖_F² = 2d − 2 tr R``, so it only tests tr R),
  :func:`perm_distance` (distance to the nearest signed permutation) and their Haar nulls.

Every random draw comes from an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment

ORTHO_TOL = 1e-6

__all__ = [
    "angle_cdf",
    "angle_pdf",
    "component",
    "free_angles",
    "frobenius",
    "frobenius_null",
    "ks_exact",
    "ks_pooled_paper",
    "main",
    "n_free_angles",
    "nearest_signed_permutation",
    "perm_distance",
    "perm_null",
    "restricted_frobenius",
    "sample_haar",
    "summary",
]


# --------------------------------------------------------------------------- sampling


def _check_det(det: int) -> int:
    if det not in (1, -1):
        raise ValueError(f"det must be +1 or -1, got {det!r}")
    return int(det)


def sample_haar(d: int, rng: np.random.Generator, det: int = 1) -> np.ndarray:
    """One Haar-distributed d×d orthogonal matrix on the component ``det(Q) = det``.

    QR of a standard Gaussian matrix, columns multiplied by the signs of diag(R)
    (Mezzadri 2007), gives Haar measure on O(d). If the determinant is not the one
    asked for, the sign of the first row is flipped: left multiplication by
    diag(−1, 1, …, 1) maps Haar on one component onto Haar on the other.
    """
    det = _check_det(det)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    z = rng.standard_normal((d, d))
    q, r = np.linalg.qr(z)
    s = np.sign(np.diag(r))
    s[s == 0] = 1.0
    q = q * s[None, :]
    if np.linalg.slogdet(q)[0] != det:
        q[0, :] *= -1.0
    return q


# --------------------------------------------------------------------------- validation


def _as_square(R: np.ndarray) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"matrix is not a 2-D array (ndim={R.ndim})")
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"matrix is not square (shape {R.shape[0]}x{R.shape[1]})")
    if R.shape[0] == 0:
        raise ValueError("matrix is empty (0x0)")
    if not np.all(np.isfinite(R)):
        raise ValueError("matrix has non-finite entries")
    return R


def component(R: np.ndarray) -> int:
    """Component of O(d) holding R: +1 (rotation) or −1 (reflection).

    Raises ValueError, naming the problem, if R is not 2-D, not square, not finite or
    not orthogonal (``max |RᵀR − I| >= 1e-6``).
    """
    R = _as_square(R)
    err = float(np.max(np.abs(R.T @ R - np.eye(R.shape[0]))))
    if not err < ORTHO_TOL:
        raise ValueError(f"matrix is not orthogonal (max |R^T R - I| = {err:.3g} >= {ORTHO_TOL:g})")
    return int(np.linalg.slogdet(R)[0])


# --------------------------------------------------------------------------- eigen-angles


def n_free_angles(d: int, det: int) -> int:
    """Number of free eigen-angles (one per conjugate pair) on the component ``det`` of O(d).

    SO(2N): N; SO(2N+1): N; det −1, d = 2N: N − 1; det −1, d = 2N+1: N.
    """
    det = _check_det(det)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    n = d // 2
    if det == -1 and d % 2 == 0:
        return n - 1
    return n


def _fixed_eigenvalues(d: int, det: int) -> tuple[int, int]:
    """(number of forced +1, number of forced −1) eigenvalues."""
    if det == 1:
        return (d % 2, 0)
    return (0, 1) if d % 2 else (1, 1)


def free_angles(R: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Sorted free eigen-angles of an orthogonal R, in [0, π], one per conjugate pair.

    Eigenvalues come from :func:`numpy.linalg.eigvals` (LAPACK returns exact conjugate
    pairs). Eigenvalues with ``|Im λ| <= tol`` are treated as real and classified as +1 or
    −1 by the sign of their real part; the ±1 eigenvalues forced by R's component and the
    parity of d are removed, and the remaining real eigenvalues, which come in pairs,
    count as angle 0 (a pair of +1) or π (a pair of −1).
    """
    det = component(R)
    R = np.asarray(R, dtype=np.float64)
    d = R.shape[0]
    lam = np.linalg.eigvals(R)
    upper = lam[lam.imag > tol]
    lower = lam[lam.imag < -tol]
    real = lam[np.abs(lam.imag) <= tol].real
    fp, fm = _fixed_eigenvalues(d, det)
    n_plus = int(np.sum(real > 0)) - fp
    n_minus = int(np.sum(real <= 0)) - fm
    n_free = n_free_angles(d, det)
    if len(upper) != len(lower) or n_plus < 0 or n_minus < 0 or n_plus % 2 or n_minus % 2:
        raise ValueError(
            f"eigenvalues inconsistent with an orthogonal matrix on component {det:+d} "
            f"({len(upper)} upper, {len(lower)} lower, {n_plus} extra +1, {n_minus} extra -1); try another tol"
        )
    theta = np.concatenate(
        [np.angle(upper), np.zeros(n_plus // 2), np.full(n_minus // 2, np.pi)],
    )
    assert len(theta) == n_free, (len(theta), n_free)
    return np.sort(np.clip(theta, 0.0, np.pi))


def _law(d: int, det: int) -> tuple[float, float, np.ndarray, float]:
    """Coefficients (a, c, k, Z) with ρ(θ) = (a + c Σ_j 2cos(k_j θ)) / Z."""
    det = _check_det(det)
    n_free = n_free_angles(d, det)
    if n_free == 0:
        raise ValueError(f"no free eigen-angles for d={d}, det={det:+d}")
    n = d // 2
    if det == 1 and d % 2 == 0:  # SO(2N): 2N + 2Σ_{j<N} cos(2jθ)
        return 2.0 * n, 1.0, 2.0 * np.arange(1, n), 2 * math.pi * n
    if det == 1:  # SO(2N+1): 2N − 2Σ_{j≤N} cos((2j−1)θ)
        return 2.0 * n, -1.0, 2.0 * np.arange(1, n + 1) - 1, 2 * math.pi * n
    if d % 2 == 0:  # O−(2N), M = N − 1: 2M − 2Σ_{j≤M} cos(2jθ)
        m = n - 1
        return 2.0 * m, -1.0, 2.0 * np.arange(1, m + 1), 2 * math.pi * m
    # O−(2N+1): ρ_SO(2N+1)(π − θ) = 2N + 2Σ_{j≤N} cos((2j−1)θ)
    return 2.0 * n, 1.0, 2.0 * np.arange(1, n + 1) - 1, 2 * math.pi * n


_CHUNK = 1 << 14


def _trig_sum(theta: np.ndarray, k: np.ndarray, weights: np.ndarray, fn) -> np.ndarray:
    """Σ_j weights_j fn(k_j θ) for each θ (chunked over θ to bound memory)."""
    out = np.zeros_like(theta)
    if k.size == 0:
        return out
    for s in range(0, theta.size, _CHUNK):
        t = theta[s : s + _CHUNK]
        out[s : s + _CHUNK] = fn(t[:, None] * k[None, :]) @ weights
    return out


def angle_pdf(theta: np.ndarray | float, d: int, det: int) -> np.ndarray:
    """Exact one-point density of the free eigen-angles on component ``det`` of O(d).

    Zero outside [0, π]. See the module docstring for the four formulas. Raises
    ValueError when (d, det) has no free angle (d = 1, or d = 2 with det −1).
    """
    a, c, k, z = _law(d, det)
    th = np.asarray(theta, dtype=np.float64)
    flat = th.ravel()
    val = (a + 2.0 * c * _trig_sum(flat, k, np.ones_like(k), np.cos)) / z
    val[(flat < 0) | (flat > np.pi)] = 0.0
    return val.reshape(th.shape)


def angle_cdf(theta: np.ndarray | float, d: int, det: int) -> np.ndarray:
    """Closed-form CDF of :func:`angle_pdf`: ``(aθ + c Σ_j 2 sin(k_j θ)/k_j) / Z``.

    0 for θ <= 0 and 1 for θ >= π. Vectorised over θ.
    """
    a, c, k, z = _law(d, det)
    th = np.asarray(theta, dtype=np.float64)
    flat = np.clip(th.ravel(), 0.0, np.pi)
    val = (a * flat + 2.0 * c * _trig_sum(flat, k, 1.0 / k, np.sin)) / z
    val = np.clip(val, 0.0, 1.0)
    val[flat <= 0.0] = 0.0
    val[flat >= np.pi] = 1.0
    return val.reshape(th.shape)


# --------------------------------------------------------------------------- KS tests


def ks_exact(R: np.ndarray) -> tuple[float, float]:
    """One-sample KS test of :func:`free_angles` of R against the exact Haar law.

    The reference is :func:`angle_cdf` for R's d and component. The free angles of one
    Haar matrix are *not* i.i.d. from ρ: they repel (a determinantal point process), so
    their empirical CDF fluctuates much less than that of i.i.d. draws. Treating them as
    i.i.d. therefore makes this test **conservative** — under Haar the rejection rate is
    well below α — while real departures (clustered angles) are still detected.
    Returns ``(statistic, p)``; ``(nan, nan)`` when there is no free angle.
    """
    det = component(R)
    d = np.asarray(R).shape[0]
    theta = free_angles(R)
    if theta.size == 0:
        return float("nan"), float("nan")
    res = stats.kstest(theta, lambda x: angle_cdf(x, d, det))
    return float(res.statistic), float(res.pvalue)


def _all_abs_angles(R: np.ndarray) -> np.ndarray:
    """|arg λ| of every eigenvalue (conjugate pairs counted twice, real ones as 0 or π)."""
    return np.abs(np.angle(np.linalg.eigvals(R)))


def pooled_reference(d: int, rng: np.random.Generator, n_reference: int = 10) -> np.ndarray:
    """The paper's reference pool: all |angles| of ``n_reference`` Haar O(d) samples."""
    return np.concatenate(
        [_all_abs_angles(sample_haar(d, rng, det=int(rng.choice([1, -1])))) for _ in range(n_reference)]
    )


def ks_pooled_paper(
    Rs: Sequence[np.ndarray],
    rng: np.random.Generator,
    n_reference: int = 10,
    reference: np.ndarray | None = None,
) -> tuple[float, float, int]:
    """THE PAPER'S TEST, kept only for comparison with :func:`ks_exact`.

    Pools |arg λ| of *all* eigenvalues (each conjugate pair counted twice, real
    eigenvalues included as 0 or π) of every matrix in ``Rs`` and compares them with the
    pooled |angles| of ``n_reference`` Haar O(d) samples (component drawn at random for
    each) by a two-sample KS test (:func:`scipy.stats.ks_2samp`). The duplicated pairs,
    the forced ±1 eigenvalues, the mixing of components and the dependence between the
    angles of one matrix all make its p-value hard to interpret.
    Returns ``(statistic, p, n_angles)`` with n_angles the number of pooled angles of Rs.
    ``reference`` (from :func:`pooled_reference`) reuses one reference pool across calls.
    """
    if len(Rs) == 0:
        raise ValueError("Rs is empty")
    ds = {np.asarray(R).shape for R in Rs}
    for R in Rs:
        component(R)
    if len(ds) != 1:
        raise ValueError(f"matrices have different shapes: {sorted(ds)}")
    d = next(iter(ds))[0]
    obs = np.concatenate([_all_abs_angles(np.asarray(R, dtype=np.float64)) for R in Rs])
    ref = pooled_reference(d, rng, n_reference) if reference is None else reference
    res = stats.ks_2samp(obs, ref)
    return float(res.statistic), float(res.pvalue), int(obs.size)


# --------------------------------------------------------------------------- distances


def frobenius(R: np.ndarray) -> float:
    """‖R − I‖_F. For orthogonal R, ‖R − I‖_F² = 2d − 2 tr R: it depends on tr R only."""
    R = _as_square(R)
    return float(np.linalg.norm(R - np.eye(R.shape[0])))


def nearest_signed_permutation(R: np.ndarray) -> np.ndarray:
    """Signed permutation matrix P maximising Σ|R_ij| over its support.

    Solved with :func:`scipy.optimize.linear_sum_assignment` on |R|; the signs of P are
    the signs of the matched entries of R (+1 for an exact zero). R need not be orthogonal.
    """
    R = _as_square(R)
    rows, cols = linear_sum_assignment(np.abs(R), maximize=True)
    signs = np.sign(R[rows, cols])
    signs[signs == 0] = 1.0
    P = np.zeros_like(R)
    P[rows, cols] = signs
    return P


def perm_distance(R: np.ndarray) -> float:
    """‖R − P_best‖_F with P_best = :func:`nearest_signed_permutation` (R)."""
    R = _as_square(R)
    return float(np.linalg.norm(R - nearest_signed_permutation(R)))


def restricted_frobenius(R: np.ndarray, basis: np.ndarray) -> float:
    """‖(R − I) V‖_F for an orthonormal basis V (d×k) of the well-determined subspace.

    Under Haar, E‖(R − I)V‖_F² = 2k − 2 E tr(VᵀRV) = 2k, so the value is ≈ sqrt(2k).
    """
    R = _as_square(R)
    V = np.asarray(basis, dtype=np.float64)
    if V.ndim == 1:
        V = V[:, None]
    if V.ndim != 2 or V.shape[0] != R.shape[0]:
        raise ValueError(f"basis must be d x k with d={R.shape[0]}, got shape {V.shape}")
    err = float(np.max(np.abs(V.T @ V - np.eye(V.shape[1])))) if V.shape[1] else 0.0
    if not err < ORTHO_TOL:
        raise ValueError(f"basis columns are not orthonormal (max |V^T V - I| = {err:.3g})")
    return float(np.linalg.norm(R @ V - V))


# --------------------------------------------------------------------------- Haar nulls


def _seed_key(rng: np.random.Generator) -> tuple:
    """Hashable identity of the seed that built ``rng`` (not its current state).

    For a Generator built from a SeedSequence (``np.random.default_rng(S)``), this is
    (entropy, spawn_key), so every call with a generator seeded by S shares the same
    cached null. Otherwise one integer seed is drawn from ``rng``.
    """
    ss = getattr(rng.bit_generator, "seed_seq", None)
    if isinstance(ss, np.random.SeedSequence):
        ent = ss.entropy
        ent = tuple(int(e) for e in ent) if isinstance(ent, Sequence | np.ndarray) else int(ent)
        return (ent, tuple(int(x) for x in ss.spawn_key))
    return (int(rng.integers(2**63)), ())


@functools.lru_cache(maxsize=128)
def _null_values(d: int, det: int, n: int, key: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(‖Q − I‖_F, perm_distance(Q)) for n Haar samples Q; both nulls share the samples."""
    entropy, spawn_key = key
    child = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=spawn_key + (d, (det + 1) // 2, n)))
    fro = np.empty(n)
    perm = np.empty(n)
    for i in range(n):
        Q = sample_haar(d, child, det)
        fro[i] = frobenius(Q)
        perm[i] = perm_distance(Q)
    fro.setflags(write=False)
    perm.setflags(write=False)
    return fro, perm


def _null(stat: str, d: int, det: int, rng: np.random.Generator, n: int) -> tuple[float, float]:
    det = _check_det(det)
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    fro, perm = _null_values(int(d), det, int(n), _seed_key(rng))
    v = fro if stat == "frobenius" else perm
    return float(v.mean()), float(v.std(ddof=1))


def frobenius_null(d: int, det: int, rng: np.random.Generator, n: int = 200) -> tuple[float, float]:
    """Monte-Carlo (mean, sd) of ‖R − I‖_F under Haar measure on component ``det`` of O(d).

    For d >= 3, tr R is approximately N(0, 1) under Haar (Diaconis–Shahshahani), so
    ‖R − I‖_F = sqrt(2d − 2 tr R) has mean ≈ sqrt(2d) and sd ≈ 1/sqrt(2d).
    The n Haar samples are drawn from a child of the seed that built ``rng`` and cached
    per (d, det, n, seed): repeated calls with equally seeded generators return the same
    values without recomputing them.
    """
    return _null("frobenius", d, det, rng, n)


def perm_null(d: int, det: int, rng: np.random.Generator, n: int = 200) -> tuple[float, float]:
    """Monte-Carlo (mean, sd) of :func:`perm_distance` under Haar on component ``det`` of O(d).

    Cached per (d, det, n, seed) like :func:`frobenius_null`.
    """
    return _null("perm", d, det, rng, n)


def _z(x: float, mean: float, sd: float) -> float:
    return float((x - mean) / sd) if sd > 0 else float("nan")


def summary(R: np.ndarray, rng: np.random.Generator, n_null: int = 200) -> dict:
    """All Haar-reference statistics of one orthogonal matrix R, as a JSON-ready dict.

    Keys: d, det, frobenius, frobenius_haar_mean, frobenius_haar_sd, frobenius_z,
    trace, ks_stat, ks_p (exact-law KS, conservative — see :func:`ks_exact`), n_angles,
    perm_distance, perm_haar_mean, perm_haar_sd, perm_z. The nulls are cached per
    (d, det, n_null, seed of rng).
    """
    det = component(R)
    R = np.asarray(R, dtype=np.float64)
    d = R.shape[0]
    fro = frobenius(R)
    f_mean, f_sd = frobenius_null(d, det, rng, n_null)
    ks_stat, ks_p = ks_exact(R)
    pd_ = perm_distance(R)
    p_mean, p_sd = perm_null(d, det, rng, n_null)
    return {
        "d": int(d),
        "det": int(det),
        "trace": float(np.trace(R)),
        "frobenius": fro,
        "frobenius_haar_mean": f_mean,
        "frobenius_haar_sd": f_sd,
        "frobenius_z": _z(fro, f_mean, f_sd),
        "ks_stat": ks_stat,
        "ks_p": ks_p,
        "n_angles": int(n_free_angles(d, det)),
        "perm_distance": pd_,
        "perm_haar_mean": p_mean,
        "perm_haar_sd": p_sd,
        "perm_z": _z(pd_, p_mean, p_sd),
    }


# --------------------------------------------------------------------------- CLI


def _finite_or_none(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m polyrot.haar R.npy [R2.npy ...] [--seed S] [--n-null N]``.

    Prints one JSON object per matrix (:func:`summary` plus ``"path"``; non-finite
    numbers as null). All inputs are checked first; a file that cannot be read, is not a
    2-D array, is not square or is not orthogonal is refused on stderr with exit status 2.
    """
    parser = argparse.ArgumentParser(prog="python -m polyrot.haar", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="R.npy", help="orthogonal d x d matrices saved with numpy.save")
    from polyrot import settings  # the options and their defaults

    settings.add_options(parser, settings.Haar, ["seed", "n_null"])
    args = parser.parse_args(argv)
    if args.n_null < 2:
        parser.error("--n-null must be >= 2")
    mats = []
    for path in args.paths:
        try:
            R = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            parser.error(f"{path}: cannot read as a .npy array ({e})")
        if not isinstance(R, np.ndarray) or R.ndim != 2:
            parser.error(f"{path}: not a 2-D array (shape {getattr(R, 'shape', None)})")
        if not np.issubdtype(R.dtype, np.number) or np.iscomplexobj(R):
            parser.error(f"{path}: not a real numeric array (dtype {R.dtype})")
        try:
            component(R)
        except ValueError as e:
            parser.error(f"{path}: {e}")
        mats.append(R)
    rng = np.random.default_rng(args.seed)
    for path, R in zip(args.paths, mats, strict=True):
        row = {"path": path, **summary(R, rng, args.n_null)}
        print(json.dumps({k: _finite_or_none(v) for k, v in row.items()}), flush=True)
    return 0
