"""Tests of the Haar reference statistics (polyrot.haar)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from polyrot import haar

CASES = [(8, 1), (8, -1), (9, 1), (9, -1)]


def _rot2(t: float) -> np.ndarray:
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def _blockdiag(*blocks: np.ndarray) -> np.ndarray:
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    i = 0
    for b in blocks:
        k = b.shape[0]
        out[i : i + k, i : i + k] = b
        i += k
    return out


@pytest.mark.parametrize("d", [6, 7, 64])
@pytest.mark.parametrize("det", [1, -1])
def test_sample_haar_orthogonal_with_asked_det(d, det):
    rng = np.random.default_rng(d * 10 + det)
    for _ in range(5):
        Q = haar.sample_haar(d, rng, det=det)
        assert Q.shape == (d, d)
        assert np.max(np.abs(Q.T @ Q - np.eye(d))) < 1e-12
        assert np.linalg.det(Q) == pytest.approx(det, abs=1e-9)
        assert haar.component(Q) == det


def test_sample_haar_rejects_bad_det():
    with pytest.raises(ValueError, match="det"):
        haar.sample_haar(4, np.random.default_rng(0), det=0)


def test_component_refuses_non_orthogonal_and_non_square():
    with pytest.raises(ValueError, match="orthogonal"):
        haar.component(np.eye(4) + 1e-3)
    with pytest.raises(ValueError, match="square"):
        haar.component(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="2-D"):
        haar.component(np.zeros(3))


@pytest.mark.parametrize("d", [2, 3, 4, 5, 8, 9, 16, 17, 64, 65])
@pytest.mark.parametrize("det", [1, -1])
def test_cdf_closed_form(d, det):
    if haar.n_free_angles(d, det) == 0:  # d=2, det=-1: eigenvalues are exactly {+1, -1}
        with pytest.raises(ValueError):
            haar.angle_cdf(1.0, d, det)
        return
    assert haar.angle_cdf(0.0, d, det) == 0.0
    assert haar.angle_cdf(math.pi, d, det) == 1.0
    # the unclipped closed form at π is 1 to rounding (checks the normalisation itself)
    a, c, k, z = haar._law(d, det)
    assert (a * math.pi + 2 * c * np.sum(np.sin(k * math.pi) / k)) / z == pytest.approx(1.0, abs=1e-12)
    grid = np.linspace(0, math.pi, 2001)
    F = haar.angle_cdf(grid, d, det)
    assert np.all(np.diff(F) >= -1e-14)
    assert np.all(haar.angle_pdf(grid, d, det) >= -1e-12)
    for t in np.linspace(0.05, math.pi - 0.05, 9):
        num, _ = integrate.quad(
            lambda x: float(haar.angle_pdf(x, d, det)), 0.0, t, epsabs=1e-13, epsrel=1e-13, limit=500
        )
        assert haar.angle_cdf(t, d, det) == pytest.approx(num, abs=1e-8)


def test_pdf_known_small_cases():
    th = np.linspace(0.1, 3.0, 7)
    np.testing.assert_allclose(haar.angle_pdf(th, 2, 1), 1 / math.pi)  # SO(2): uniform
    np.testing.assert_allclose(haar.angle_pdf(th, 3, 1), (1 - np.cos(th)) / math.pi)  # SO(3)
    np.testing.assert_allclose(haar.angle_pdf(th, 3, -1), (1 + np.cos(th)) / math.pi)  # -SO(3)


@pytest.mark.parametrize("d,det", CASES)
def test_sampled_free_angles_follow_exact_law(d, det):
    rng = np.random.default_rng(1000 + d + 7 * det)
    per = haar.n_free_angles(d, det)
    n_mats = -(-12000 // per)
    theta = np.concatenate([haar.free_angles(haar.sample_haar(d, rng, det)) for _ in range(n_mats)])
    assert theta.size >= 12000
    gap = stats.kstest(theta, lambda x: haar.angle_cdf(x, d, det)).statistic
    assert gap < 0.015
    # the law of the other component (or other parity) is clearly distinguishable
    other = stats.kstest(theta, lambda x: haar.angle_cdf(x, d, -det)).statistic
    assert other > 0.03


@pytest.mark.parametrize("d", [6, 7, 64])
@pytest.mark.parametrize("det", [1, -1])
def test_free_angle_count(d, det):
    rng = np.random.default_rng(7)
    for _ in range(3):
        th = haar.free_angles(haar.sample_haar(d, rng, det))
        assert th.size == haar.n_free_angles(d, det)
        assert np.all(np.diff(th) >= 0) and th.min() >= 0 and th.max() <= math.pi


def test_n_free_angles_table():
    assert [haar.n_free_angles(d, 1) for d in (1, 2, 3, 4, 5)] == [0, 1, 1, 2, 2]
    assert [haar.n_free_angles(d, -1) for d in (1, 2, 3, 4, 5)] == [0, 0, 1, 1, 2]


def test_free_angles_known_rotation():
    angles = [0.3, 1.1, 2.5]
    R = _blockdiag(_rot2(2.5), np.eye(1), _rot2(0.3), _rot2(1.1))
    np.testing.assert_allclose(haar.free_angles(R), angles, atol=1e-10, rtol=0)
    Q = haar.sample_haar(7, np.random.default_rng(3))
    np.testing.assert_allclose(haar.free_angles(Q @ R @ Q.T), angles, atol=1e-10, rtol=0)
    # det -1, d=4: fixed +1 and -1 removed, one free angle
    S = _blockdiag(-np.eye(1), np.eye(1), _rot2(0.7))
    np.testing.assert_allclose(haar.free_angles(S), [0.7], atol=1e-12)
    # extra real pairs become angles 0 and π
    np.testing.assert_array_equal(haar.free_angles(np.eye(4)), [0.0, 0.0])
    np.testing.assert_allclose(haar.free_angles(_blockdiag(-np.eye(2), np.eye(3))), [0.0, math.pi])


def test_ks_exact_conservative_under_haar():
    rng = np.random.default_rng(11)
    n, alpha = 200, 0.05
    pvals = np.array([haar.ks_exact(haar.sample_haar(64, rng, int(rng.choice([1, -1]))))[1] for _ in range(n)])
    rate = float(np.mean(pvals < alpha))
    assert rate <= alpha + 3 * math.sqrt(n * alpha * (1 - alpha)) / n


def test_frobenius_only_sees_the_trace():
    d = 64
    rng = np.random.default_rng(5)
    R0 = _blockdiag(*([_rot2(math.pi)] * (d // 4)), np.eye(d // 2))
    Q = haar.sample_haar(d, rng)
    R = Q @ R0 @ Q.T
    assert haar.component(R) == 1
    assert abs(haar.frobenius(R) - math.sqrt(2 * d)) < 1e-9
    stat, p = haar.ks_exact(R)
    assert p < 1e-6
    s = haar.summary(R, np.random.default_rng(0), n_null=200)
    assert abs(s["frobenius_z"]) < 2
    assert s["ks_p"] < 1e-6


def test_signed_permutation():
    rng = np.random.default_rng(2)
    d = 32
    P = np.zeros((d, d))
    P[np.arange(d), rng.permutation(d)] = rng.choice([-1.0, 1.0], size=d)
    assert haar.perm_distance(P) == 0.0
    np.testing.assert_array_equal(haar.nearest_signed_permutation(P + 0.05 * rng.standard_normal((d, d))), P)
    # a Haar matrix is far from every signed permutation
    assert haar.perm_distance(haar.sample_haar(d, rng)) > 5


def test_frobenius_null_d64():
    d, n = 64, 200
    mean, sd = haar.frobenius_null(d, 1, np.random.default_rng(0), n)
    assert abs(mean - math.sqrt(2 * d)) < 3 * sd / math.sqrt(n)
    assert 0.5 / math.sqrt(2 * d) < sd < 2 / math.sqrt(2 * d)
    # cached per seed: same seed gives identical values, another seed differs
    assert haar.frobenius_null(d, 1, np.random.default_rng(0), n) == (mean, sd)
    assert haar.frobenius_null(d, 1, np.random.default_rng(1), n) != (mean, sd)


def test_restricted_frobenius():
    rng = np.random.default_rng(4)
    d, k = 64, 8
    V = np.linalg.qr(rng.standard_normal((d, k)))[0]
    assert haar.restricted_frobenius(np.eye(d), V) == 0.0
    vals = [haar.restricted_frobenius(haar.sample_haar(d, rng), V) ** 2 for _ in range(200)]
    # E‖(R - I)V‖² = 2k exactly under Haar; 5-standard-error bound
    assert abs(np.mean(vals) - 2 * k) < 5 * np.std(vals) / math.sqrt(len(vals))
    with pytest.raises(ValueError, match="orthonormal"):
        haar.restricted_frobenius(np.eye(d), 2 * V)


def test_ks_pooled_paper_runs():
    rng = np.random.default_rng(8)
    Rs = [haar.sample_haar(16, rng, 1) for _ in range(3)]
    stat, p, n = haar.ks_pooled_paper(Rs, rng, n_reference=5)
    assert n == 48 and 0 <= stat <= 1 and 0 <= p <= 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(haar.__file__).parents[1]), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "polyrot.haar", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli(tmp_path):
    rng = np.random.default_rng(9)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, haar.sample_haar(8, rng, 1))
    np.save(b, haar.sample_haar(9, rng, -1))
    res = _cli(str(a), str(b), "--seed", "3", "--n-null", "20")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 2
    keys = {
        "path", "d", "det", "frobenius", "frobenius_haar_mean", "frobenius_haar_sd", "frobenius_z",
        "ks_stat", "ks_p", "n_angles", "perm_distance", "perm_haar_mean", "perm_haar_sd",
    }  # fmt: skip
    for row in rows:
        assert keys <= row.keys()
    assert (rows[0]["d"], rows[0]["det"], rows[1]["d"], rows[1]["det"]) == (8, 1, 9, -1)

    bad = tmp_path / "bad.npy"
    np.save(bad, np.eye(5) + 0.1)
    res = _cli(str(a), str(bad))
    assert res.returncode == 2 and "orthogonal" in res.stderr and "Traceback" not in res.stderr
    assert res.stdout == ""
    rect = tmp_path / "rect.npy"
    np.save(rect, np.zeros((3, 4)))
    res = _cli(str(rect))
    assert res.returncode == 2 and "square" in res.stderr and "Traceback" not in res.stderr
    vec = tmp_path / "vec.npy"
    np.save(vec, np.zeros(4))
    res = _cli(str(vec))
    assert res.returncode == 2 and "2-D" in res.stderr and "Traceback" not in res.stderr
