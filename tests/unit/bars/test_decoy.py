"""The decoy: the depth unembedding's classes averaged in pairs, everything else the model's;
it fails Bar B for any model, since it cannot prefer a depth over its pair partner; and the
separation table says which bars tell it from the model."""

import math

import numpy as np
import pandas as pd
import pytest
from toy_models import with_random_gains

from polyrot import verdicts
from polyrot.bars import behavioural, decoy
from polyrot.config import TaskConfig
from polyrot.toy import train


@pytest.fixture(scope="module")
def state():
    return {k: v.numpy() for k, v in with_random_gains(3).state_dict().items()}


def test_decoy_averages_depth_classes_in_pairs(state):
    d = decoy.make_decoy(state)
    W, W0 = d["W_U_depth"], state["W_U_depth"]
    assert W.shape == W0.shape == (64, 9)
    for i in range(0, 8, 2):
        np.testing.assert_array_equal(W[:, i], W[:, i + 1])
        np.testing.assert_allclose(W[:, i], (W0[:, i] + W0[:, i + 1]) / 2, rtol=1e-7)
    np.testing.assert_array_equal(W[:, 8], W0[:, 8])
    assert all(np.array_equal(d[k], state[k]) for k in state if k != "W_U_depth")
    assert not np.array_equal(W, W0)  # the input is left alone
    with pytest.raises(ValueError, match="not a toy model"):
        decoy.make_decoy({"x": np.zeros(3)})


def test_decoy_fails_bar_b(state, tmp_path):
    from safetensors.numpy import save_file

    save_file(decoy.make_decoy(state), str(tmp_path / "decoy.safetensors"))
    model = train.load_weights(tmp_path / "decoy.safetensors").eval()
    units = behavioural.bar_b_units({"decoy": model}, {}, TaskConfig(), 256, 128, 1, 1e-6, progress=False)
    # paired classes get equal logits, so the true depth c < 8 has probability <= 1/2 and
    # KL(smoothed one-hot || decoy) >= (1 - eps) log 2 - H(smoothed one-hot) at that position
    batches = list(behavioural.sample_stream(TaskConfig(), 256, 128, 1))
    mask = np.concatenate([b.mask for b in batches])
    depth = np.concatenate([b.depth for b in batches])
    share = (depth[mask] < 8).mean()
    bound = share * ((1 - 1e-6) * math.log(2) + behavioural.smoothed_entropy_term(9, 1e-6))
    assert units[0]["per_head"]["depth"]["value"] >= bound - 1e-9
    assert units[0]["value"] >= bound / 3 > 1000 * 1e-4  # Bar B's threshold, by far


def verdict(bar, comparison, model_value, decoy_value, threshold) -> verdicts.Verdict:
    spec = {"comparison": comparison, "threshold": threshold}
    units = [
        {"unit": "within:A0", "kind": "within", "model": "A0", "value": model_value},
        {"unit": "cross:A1|A0", "kind": "cross", "model": "A1", "value": model_value},
    ]
    decoy_units = [{"unit": "within:A0-decoy", "kind": "within", "model": "A0-decoy", "value": decoy_value}]
    decoy = verdicts.DecoyVerdict(**verdicts.judge_units(decoy_units, spec), model="A0-decoy", units=decoy_units)
    return verdicts.Verdict(
        **verdicts.judge_units(units, spec), claim=f"bar_{bar}", bar=bar, units=units, decoy=decoy, **spec
    )


def test_separation_table():
    records = [verdict("B", "<", 1e-2, 0.2, 1e-4), verdict("P", "<", 0.0, 0.02, 1e-3)]
    table = decoy.separation(records, "A0")
    assert table["bar"].tolist() == ["B", "P", "any"]
    assert table["separates"].tolist() == [0, 1, 1]  # B: the model fails too; P separates
    none = decoy.separation([verdict("C", ">", 0.999, 0.995, 0.99)], "A0")
    assert none["separates"].tolist() == [0, 0]
    assert isinstance(table, pd.DataFrame)
    with pytest.raises(ValueError, match="one within-seed unit of A9"):
        decoy.separation(records, "A9")
