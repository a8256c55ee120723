"""The 104,448-parameter transformer and its named sites."""

import torch

from polyrot import hooks
from polyrot.toy import dyck, transformer


def test_exact_parameter_count():
    model = transformer.build(0)
    assert transformer.n_params(model) == transformer.N_PARAMS == 104_448


def test_no_biases_and_expected_tensors():
    names = {n for n, _ in transformer.build(0).named_parameters()}
    assert not any("bias" in n for n in names)
    assert {"W_E", "W_U_tok", "W_U_depth", "W_U_valid", "ln_final.gain"} <= names
    assert len(names) == 4 + 1 + 2 * 8


def test_logit_shapes_and_sites():
    model = transformer.build(1)
    tokens = torch.from_numpy(dyck.sample(5, 0).tokens)
    with hooks.recorded(model, transformer.SITES) as cache:
        out = model(tokens)
    assert out["tok"].shape == (5, 64, 40) and out["depth"].shape == (5, 64, 9) and out["valid"].shape == (5, 64, 2)
    assert set(cache) == set(transformer.SITES)
    assert all(cache[s].shape == (5, 64, 64) for s in transformer.RESID_SITES)
    assert torch.equal(cache["resid_pre_1"], cache["resid_post_0"])
    assert torch.equal(cache["resid_pre_2"], cache["resid_post_1"])
    # with stop, the pass ends after the last recorded site, and so does the with block
    reached = []
    with hooks.recorded(model, ["resid_mid_1"], stop=True) as stopped, hooks.recorded(model, ["resid_post_1"]) as later:
        model(tokens)
        reached.append(True)
    assert torch.equal(stopped["resid_mid_1"], cache["resid_mid_1"]) and not later and not reached
    assert not hooks.is_hooked(model)  # every hook removed on exit


def test_positions_use_six_dims():
    pos = transformer.position_features(64, 64)
    assert pos[:, 6:].abs().max() == 0 and pos[:, :6].abs().sum(0).min() > 0
    assert pos[0, 3] == 1 and pos[1:, 3].abs().max() == 0


def test_causal():
    model = transformer.build(2)
    tokens = torch.from_numpy(dyck.sample(3, 1).tokens)
    changed = tokens.clone()
    changed[:, 30:] = 5
    a, b = model(tokens), model(changed)
    assert torch.allclose(a["depth"][:, :30], b["depth"][:, :30], atol=1e-6)


def test_init_is_seeded():
    a, b, c = transformer.build(3), transformer.build(3), transformer.build(4)
    assert torch.equal(a.W_E, b.W_E) and not torch.equal(a.W_E, c.W_E)
    assert abs(float(a.blocks[0].W_in.detach().std()) - 0.02) < 0.001  # 16k draws: sd of the sd ~ 1e-4


def test_a_pass_started_at_a_residual_site_gives_the_full_pass():
    """forward(start=(site, x)) from the clean activations at any residual site computes the
    same logits as the whole pass (the same operations, so bit-identical), and an edit at the
    start site is applied there."""
    import pytest

    model = transformer.build(3).eval()
    tokens = torch.from_numpy(dyck.analysis_batch(16, 1).tokens)
    with torch.no_grad():
        with hooks.recorded(model, transformer.SITES) as cache:
            full = model(tokens)
        for site in transformer.RESID_SITES:
            resumed = model(tokens, start=(site, cache[site]))
            assert all(torch.equal(full[h], resumed[h]) for h in dyck.HEADS), site
            delta = torch.full((model.cfg.d_model,), 0.3)
            with hooks.patched(model, {site: lambda x, delta=delta: x + delta}):
                edited, steered = model(tokens), model(tokens, start=(site, cache[site]))
            assert all(torch.equal(edited[h], steered[h]) for h in dyck.HEADS), site
            assert not torch.equal(edited["depth"], full["depth"])
    with pytest.raises(ValueError, match="not a residual site"):
        model(tokens, start=("mlp_post_0", cache["mlp_post_0"]))
