"""Bars C and Pr: the exposed-component forward pass is the model's, integrated gradients
predict each ablation's effect (completeness), and a model moved by a random element of
its symmetry group gives the same effects once heads are matched through Bar P."""

import numpy as np
import pytest
import torch
from toy_models import as_model, random_element, with_random_gains

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


def test_length_buckets_give_the_unbucketed_effects(model, batches):
    # each metric is a position-weighted mean of the buckets' metrics, so every effect and
    # prediction is too: equal up to float32 summation order. Pr is a difference of two
    # float32 losses of ~ln 40 + ln 9 + ln 2 = 6.5 nats, whose ulp is 4.8e-7: abs 1e-6
    means = causal.mean_outputs(model, batches[0])
    one = causal.measured_effects(model, means, batches[1], buckets=1)
    three = causal.measured_effects(model, means, batches[1], buckets=3)
    for name in one:
        for key in one[name]:
            assert three[name][key] == pytest.approx(one[name][key], rel=1e-4, abs=1e-6)
    parts = causal.split_by_length(batches[1], 3)
    assert sum(w for _, w in parts) == pytest.approx(1.0)
    assert sum(len(b) for b, _ in parts) == len(batches[1])
    # each part is cut after its longest sequence: its last column holds some token
    assert all((b.tokens[:, -1] != dyck.PAD).any() for b, _ in parts)


def test_compare_pairs_components_through_the_permutation():
    comps = [f"L{i}.H{h}" for i in range(2) for h in range(4)] + ["L0.MLP", "L1.MLP"]
    rng = np.random.default_rng(0)
    measured = {c: {"C": float(rng.random()), "Pr": float(rng.random())} for c in comps}
    perm = [[1, 0, 3, 2], [0, 1, 2, 3]]
    partner = lambda c: c if "MLP" in c or c[1] == "1" else f"L0.H{perm[0][int(c[-1])]}"  # noqa: E731
    # the reference predicts exactly what its partner measures
    predicted = {
        c: {"C_ig": measured[partner(c)]["C"], "Pr_ig": measured[partner(c)]["Pr"], "C_ap": 0.0, "Pr_ap": 1.0}
        for c in comps
    }
    predicted["L0.H0"]["C_ap"] = 1.0
    out = causal.compare(predicted, measured, perm)
    assert out["causal_r_ig"] == pytest.approx(1.0) and out["predictive_r_ig"] == pytest.approx(1.0)
    assert out["predictive_r_ap"] is None  # constant predictions: no correlation
    assert causal.compare(predicted, measured, None)["causal_r_ig"] < 0.99


def test_command_line(tmp_path, model):
    import json
    import subprocess
    import sys

    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "ref.safetensors"))
    cli = [sys.executable, "-m", "polyrot.bars.causal", str(tmp_path / "ref.safetensors")]
    proc = subprocess.run(
        [*cli, str(tmp_path / "ref.safetensors"), "--mean-n", "32", "--eval-n", "8"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["causal_r_ig"] > 0.999 and out["predictive_r_ig"] > 0.999 and len(out["components"]) == 10
    assert {"causal_r_ap", "predictive_r_ap", "head_perm"} <= set(out)
    save_file({"x": torch.zeros(3)}, str(tmp_path / "bad.safetensors"))
    proc = subprocess.run([*cli, str(tmp_path / "bad.safetensors")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a toy model" in proc.stderr


def test_clean_point_attribution_patching_of_the_kl_is_zero(model, batches):
    """KL(clean || .) is minimal at the clean run, so its gradient there, and the study's
    clean-point prediction for it, is zero; the loss's is not."""
    means = causal.mean_outputs(model, batches[0])
    predicted = causal.predicted_effects(model, means, batches[1], steps=2)
    kl_clean = np.array([p["C_ap_clean"] for p in predicted.values()])
    loss_clean = np.array([p["Pr_ap_clean"] for p in predicted.values()])
    kl_ablated = np.array([p["C_ap"] for p in predicted.values()])
    # float32 softmax: the gradient q - p at q = p is rounding, ~1e-7 of the ablated point's
    assert np.abs(kl_clean).max() < 1e-6 * np.abs(kl_ablated).max()
    assert np.abs(loss_clean).max() > 1e-3 * np.abs(kl_ablated).max()
    only_loss = causal.predicted_effects(model, means, batches[1], steps=2, which=("Pr",))
    assert set(next(iter(only_loss.values()))) == {"Pr_ig", "Pr_ap", "Pr_ap_clean"}
    with pytest.raises(ValueError, match="unknown metric"):
        causal.predicted_effects(model, means, batches[1], which=("KL",))


def test_the_studys_ablation_value_is_one_global_mean(model, batches):
    mean_batch = batches[0]
    means = causal.mean_outputs(model, mean_batch, "global")
    record = {}
    tokens = torch.from_numpy(mean_batch.tokens)
    with torch.no_grad():
        causal.forward(model, tokens, record=record)
    mask = torch.from_numpy(mean_batch.mask)
    for name, m in means.items():
        assert m.shape == (tokens.shape[1], model.cfg.d_model)
        assert torch.equal(m[0], m[-1])  # the same vector at every position
        torch.testing.assert_close(m[0], record[name][mask].mean(0), rtol=1e-5, atol=1e-6)
    per_position = causal.mean_outputs(model, mean_batch)
    assert not torch.allclose(per_position["L0.H0"][0], per_position["L0.H0"][5])
    with pytest.raises(ValueError, match="mean kind"):
        causal.mean_outputs(model, mean_batch, "median")
