"""The port of the study's Bar P search (polyrot.bars.study_search): what it recovers exactly,
how it applies its residual-rotation step, and what its refinement does."""

import numpy as np
import pytest
import scipy.linalg

from polyrot.bars import study_search as ss
from polyrot.toy import transformer


@pytest.fixture(scope="module")
def ref():
    return ss.study_weights({k: v.numpy() for k, v in transformer.build(3).state_dict().items()})


def moved_by_heads_and_neurons(w, rng, n_heads=4):
    """``w`` with its heads and neurons permuted and each neuron rescaled (no residual rotation):
    a symmetry of the function, and the planted head permutations."""
    planted = []
    for layer in range(2):
        p = rng.permutation(n_heads)
        w = ss.permute_heads(w, layer, p, n_heads)
        planted.append(p)
        b = f"blocks.{layer}."
        n = rng.permutation(w[b + "W_in"].shape[1])
        s = rng.uniform(0.5, 2.0, len(n))
        w = {**w, b + "W_in": w[b + "W_in"][:, n] * s, b + "W_out": w[b + "W_out"][n] / s[:, None]}
    return w, planted


def test_recovers_an_exact_head_permutation(ref):
    other, planted = moved_by_heads_and_neurons(ref, np.random.default_rng(1))
    assert ss.score(ref, other)[0] > 1e-5
    found = ss.search(ref, other, n_starts=4, rounds=2)
    # reference head i is the other model's head j with planted[j] = i
    assert [p.tolist() for p in found.head_perm] == [np.argsort(p).tolist() for p in planted]
    assert found.max_tensor_mse < 1e-24, found.max_tensor_mse


def test_a_model_against_itself_is_zero_at_once(ref):
    found = ss.search(ref, ref, n_starts=16, rounds=6)
    assert found.max_tensor_mse == 0.0 and len(found.runs) == 1


def test_the_rotation_step_as_the_study_applies_it(ref):
    """The study fits P with M_other P = M_ref and applies its transpose: a model rotated by Q
    is rotated by Q once more, where applying the fit brings it back."""
    G = np.random.default_rng(2).standard_normal((64, 64))
    Q = scipy.linalg.expm(0.3 * (G - G.T))
    moved = ss.rotate(ref, Q)
    back = ss.rotate(moved, ss.residual_rotation(ref, moved, "fitted"))
    assert ss.score(ref, back)[0] < 1e-24
    twice = ss.rotate(moved, ss.residual_rotation(ref, moved, "study"))
    assert ss.score(ss.rotate(ref, Q @ Q), twice)[0] < 1e-24
    assert ss.score(ref, twice)[0] > 1e-4


def test_the_positional_buffer_is_compared(ref):
    """A rotation that moves the six positional dimensions shows in pos, which the study compares."""
    Q = np.eye(64)[:, ::-1].copy()
    mse = ss.tensor_mse(ref, ss.rotate(ref, Q))
    assert mse["pos"] > 1e-3 and "pos" in ss.tensor_names(ref)


def test_the_refinement_finds_a_small_rotation_back(ref):
    G = np.random.default_rng(0).standard_normal((64, 64)) * 0.05
    moved = ss.rotate(ref, scipy.linalg.expm(G - G.T))
    start = ss.score(ref, moved)
    refined = ss.refine(ref, moved, steps=400)
    assert refined.total_mse < 1e-2 * start[1]
    assert refined.step % ss.EVAL_EVERY == 0 or refined.step == 1


def test_unit_entry(ref):
    other, _ = moved_by_heads_and_neurons(ref, np.random.default_rng(3))
    settings = {"starts": 2, "rounds": 2, "seed": 0, "refine_steps": 20, "refine_lr": 0.05}
    entry = ss.unit_entry(ref, other, 4, settings, refine_it=True)
    assert {"baseline", "baseline_rotation_as_fitted", "refined"} <= set(entry)
    assert entry["baseline"]["worst_tensor"] in ss.tensor_names(ref)
    assert len(entry["baseline"]["head_perm"]) == 2 and entry["starts"] == 2
    with pytest.raises(ValueError, match="rotation_step"):
        ss.search(ref, other, rotation_step="inverse")
