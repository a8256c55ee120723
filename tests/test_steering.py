"""Steering: the edit adds exactly alpha * v at its site and nowhere else, is removed on exit,
and a vector mapped through R into a model whose residual basis is rotated by R has the
same effect there (ratio 1) while the unmapped vector does not."""

import numpy as np
import pytest
import torch
from test_bar_p import as_model, random_element, with_random_gains

from polyrot import align, steering
from polyrot.bars import parametric
from polyrot.toy import dyck

SITE = "resid_mid_1"


@pytest.fixture(scope="module")
def setup():
    model = with_random_gains(7).eval()
    batch = dyck.analysis_batch(128, 3)
    cache = {}
    with torch.no_grad():
        model(torch.from_numpy(batch.tokens), cache=cache)
    return model, batch, {k: v.numpy() for k, v in cache.items()}


def test_the_edit_adds_alpha_v_at_its_site_only(setup):
    model, batch, clean = setup
    v = steering.toy_vector("depth", clean[SITE], batch, SITE)
    assert v.norm > 0 and v.sign == 1.0
    steered = {}
    with v.apply(model, 2.0), torch.no_grad():
        with pytest.raises(RuntimeError, match="already steered"), v.apply(model, 1.0):
            pass
        model(torch.from_numpy(batch.tokens), cache=steered)
    assert model.edits == {}  # removed on exit
    for site in ("resid_pre_0", "resid_mid_0", "mlp_pre_0", "mlp_post_0", "resid_post_0", "resid_pre_1"):
        np.testing.assert_array_equal(steered[site].numpy(), clean[site], err_msg=site)
    expected = torch.from_numpy(clean[SITE]) + torch.as_tensor(2.0 * v.vector, dtype=torch.float32)
    assert torch.equal(steered[SITE], expected)
    assert not np.allclose(steered["resid_post_1"].numpy(), clean["resid_post_1"])
    with torch.no_grad():
        after = model(torch.from_numpy(batch.tokens))
        model(torch.from_numpy(batch.tokens), cache=(again := {}))
    np.testing.assert_array_equal(again["resid_post_1"].numpy(), clean["resid_post_1"])
    assert all(torch.isfinite(t).all() for t in after.values())


def test_vectors_and_the_random_control(setup):
    _, batch, clean = setup
    for name, spec in steering.TOY_VECTORS.items():
        v = steering.toy_vector(name, clean[SITE], batch, SITE)
        np.testing.assert_allclose(
            v.vector, clean[SITE][spec.plus(batch)].mean(0) - clean[SITE][spec.minus(batch)].mean(0), rtol=1e-6
        )
        r = v.random_like(np.random.default_rng(0))
        assert r.norm == pytest.approx(v.norm) and abs(np.dot(r.vector, v.vector)) < v.norm**2
    assert steering.TOY_VECTORS["sticky_invalid"].sign == -1.0
    with pytest.raises(ValueError, match="both sides"):
        steering.diff_of_means(clean[SITE], np.zeros(batch.tokens.shape, bool), batch.mask)


def test_a_vector_mapped_through_r_transfers_with_ratio_one(setup):
    model, batch, clean = setup
    cfg = model.cfg
    folded = parametric.fold_gains({k: v.numpy() for k, v in model.state_dict().items()})
    g = random_element(cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.n_layers, np.random.default_rng(5))
    other = as_model(parametric.apply(folded, g, cfg.n_heads)).eval()
    cache = {}
    with torch.no_grad():
        other(torch.from_numpy(batch.tokens), cache=cache)
    # the other model's stream is this one's rotated: fit R on the activations, as the audit does
    mask = batch.mask
    rot = align.fit_rotation(clean[SITE][mask].astype(np.float64), cache[SITE].numpy()[mask].astype(np.float64))
    np.testing.assert_allclose(rot.R, g.R.T, atol=1e-4)
    spec = steering.TOY_VECTORS["depth"]
    v = steering.toy_vector("depth", clean[SITE], batch, SITE)
    within = steering.effects(model, v, 8.0, batch, spec)
    rotated = steering.effects(other, v.in_frame_of(rot.R), 8.0, batch, spec)
    unrotated = steering.effects(other, v, 8.0, batch, spec)
    assert within["kl"] > 1e-4
    assert steering.ratio(rotated, within) == pytest.approx(1.0, abs=1e-4)
    assert rotated["accuracy_drop"] == pytest.approx(within["accuracy_drop"], abs=1.5 / within["n_target"])
    assert abs(steering.ratio(unrotated, within) - 1.0) > 1e-2
