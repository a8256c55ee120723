"""Checkpoint drift: the audit's EV row between two checkpoints of one model."""

import numpy as np
import pytest
import scipy.stats
import torch

from polyrot import drift, sae
from polyrot.activations import Cache


def cache(acts, n_seq=40):
    n = len(acts)
    return Cache(acts.astype(np.float32), np.arange(n) % 7, np.arange(n) % (n // n_seq), np.arange(n) // (n // n_seq))


def test_checkpoint_steps():
    assert drift.checkpoint_step("step000500") == 500 and drift.checkpoint_step("step3000") == 3000
    with pytest.raises(ValueError):
        drift.checkpoint_step("best")


def test_a_checkpoint_that_is_an_exact_rotation_of_the_reference_is_undone():
    rng = np.random.default_rng(0)
    d, sites = 8, ["s0", "s1", "s2"]
    Q = scipy.stats.ortho_group.rvs(d, random_state=rng)
    reference, checkpoint = {}, {}
    for s in sites:
        fit, held = (rng.normal(size=(400, d)) * np.linspace(3, 1, d) + 1.0 for _ in range(2))
        reference[s] = (cache(fit), cache(held))
        # the earlier checkpoint's activations are the reference's in a rotated, shifted basis
        checkpoint[s] = (cache((fit - fit.mean(0)) @ Q.T), cache((held - fit.mean(0)) @ Q.T))
    model = sae.init_sae(d, 4 * d, np.zeros(d), torch.Generator().manual_seed(0))
    rows = drift.drift_rows(
        reference, checkpoint, {(s, 4): model for s in sites}, sites, {"s0": "s2", "s1": "s2", "s2": "s0"}, 64, 0
    )
    assert [r["site"] for r in rows] == sites
    for r in rows:
        # float32 caches: the rotation is recovered to float32 precision, so rotated EV equals self EV
        assert r["rotated_ev_centred"] == pytest.approx(r["self_ev_centred"], abs=1e-5)
        assert r["frobenius_to_identity"] == pytest.approx(np.linalg.norm(Q - np.eye(d)), abs=1e-4)
        assert r["sqrt_2d"] == pytest.approx(4.0) and abs(r["det"]) == pytest.approx(1.0)
        assert r["act_rotated_ev_centred"] == pytest.approx(1.0, abs=1e-5)
        assert r["rotated_minus_naive_ev_centred"] == pytest.approx(r["rotated_ev_centred"] - r["naive_ev_centred"])


def test_caches_of_different_tokens_are_refused():
    rng = np.random.default_rng(1)
    a = cache(rng.normal(size=(80, 4)))
    b = Cache(a.acts, a.token + 1, a.position, a.sequence)
    model = sae.init_sae(4, 8, np.zeros(4), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="not of the same tokens"):
        drift.drift_rows({"s": (a, a)}, {"s": (b, b)}, {("s", 2): model}, ["s"], {"s": "s"}, 16, 0)
