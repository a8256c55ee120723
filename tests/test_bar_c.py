"""Bars C and Pr: the exposed-component forward pass is the model's, integrated gradients
predict each ablation's effect (completeness), and a model moved by a random element of
its symmetry group gives the same effects once heads are matched through Bar P."""

import numpy as np
import pytest
import torch
from test_bar_p import as_model, random_element, with_random_gains

from polyrot.bars import causal, parametric
from polyrot.toy import dyck
from polyrot.toy.extract import heldout_batch


@pytest.fixture(scope="module")
def batches():
    mean_batch = dyck.analysis_batch(64, 11)
    return mean_batch, heldout_batch(mean_batch, 32, 12)


@pytest.fixture(scope="module")
def model():
    return with_random_gains(5).eval()


def test_forward_with_components_is_the_models(model, batches):
    tokens = torch.from_numpy(batches[1].tokens)
    record = {}
    with torch.no_grad():
        a, b = model(tokens), causal.forward(model, tokens, record=record)
    assert all(torch.allclose(a[h], b[h], atol=1e-6) for h in a)
    assert list(record) == causal.components(model) and len(record) == 10


def test_integrated_gradients_predict_the_ablation_within_seed(model, batches):
    unit = causal.bar_units(model, model, *batches)
    measured = np.array([[r["measured_C"], r["measured_Pr"]] for r in unit["components"]])
    predicted = np.array([[r["C_ig"], r["Pr_ig"]] for r in unit["components"]])
    assert unit["causal_r_ig"] > 0.999 and unit["predictive_r_ig"] > 0.999
    # completeness, up to the 32-step midpoint rule
    np.testing.assert_allclose(predicted, measured, rtol=0.05, atol=1e-4 * np.abs(measured).max())
    assert (measured[:, 0] >= 0).all()  # a KL


def test_a_moved_copy_matches_through_the_head_permutation(model, batches):
    cfg = model.cfg
    folded = parametric.fold_gains({k: v.numpy() for k, v in model.state_dict().items()})
    g = random_element(cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.n_layers, np.random.default_rng(1))
    moved = parametric.apply(folded, g, cfg.n_heads)
    found = parametric.align(folded, moved, restarts=1, refine_steps=0).alignment.head_perm
    # alignment maps the moved model's head g.head_perm[l][i] onto reference head i
    assert all((f == p).all() for f, p in zip(found, g.head_perm, strict=True))
    unit = causal.bar_units(model, as_model(moved).eval(), *batches, head_perm=found)
    assert unit["causal_r_ig"] > 0.999 and unit["predictive_r_ig"] > 0.999
    by_index = causal.bar_units(model, as_model(moved).eval(), *batches, head_perm=None)
    assert [r["other_component"] for r in by_index["components"]] == causal.components(model)
