"""The Dyck-3 generator and labeller against an independent slow reference."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyrot.toy import dyck

PAIRS = {4: 3, 6: 5, 8: 7}  # closer -> opener


def reference_labels(tokens: list[int]) -> tuple[list[int], list[int]]:
    """Written from docs/methods.md §2 independently of polyrot.toy.dyck: a plain stack walk."""
    stack: list[int] = []
    failed = False
    depth_out, valid_out = [], []
    for tok in tokens:
        if tok == 0:
            depth_out.append(0)
            valid_out.append(0)
            continue
        if not failed:
            if tok in (3, 5, 7):
                if len(stack) == 8:
                    failed = True
                else:
                    stack.append(tok)
            elif tok in (4, 6, 8):
                if not stack or stack[-1] != PAIRS[tok]:
                    failed = True
                else:
                    stack.pop()
        depth_out.append(len(stack))
        valid_out.append(int(failed))
    return depth_out, valid_out


def assert_matches_reference(batch: dyck.Batch) -> None:
    for row in range(len(batch)):
        depth, valid = reference_labels(batch.tokens[row].tolist())
        assert batch.depth[row].tolist() == depth, batch.tokens[row]
        assert batch.valid[row].tolist() == valid, batch.tokens[row]


def wrap(content: list[int]) -> np.ndarray:
    row = [dyck.BOS, *content, dyck.EOS]
    return np.array([row + [dyck.PAD] * (dyck.N_CTX - len(row))])


@pytest.mark.parametrize(
    "maker", [lambda: dyck.sample(500, 1), lambda: dyck.compositional(300, 2), lambda: dyck.long(200, 3)]
)
def test_generated_sets_match_reference(maker):
    assert_matches_reference(maker())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([3, 4, 5, 6, 7, 8]), min_size=0, max_size=dyck.MAX_CONTENT))
def test_labeller_matches_reference_on_random_brackets(content):
    tokens = wrap(content)
    depth, valid = dyck.label(tokens)
    ref_depth, ref_valid = reference_labels(tokens[0].tolist())
    assert depth[0].tolist() == ref_depth
    assert valid[0].tolist() == ref_valid


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2))
def test_nesting_deeper_than_eight_is_invalid_and_depth_freezes(k, fam):
    content = [dyck.OPENERS[fam]] * (k + 1) + [dyck.CLOSERS[fam]]
    depth, valid = dyck.label(wrap(content))
    d, v = depth[0, 1 : len(content) + 1], valid[0, 1 : len(content) + 1]
    if k + 1 > 8:
        assert v[8] == 1 and d[8] == 8 and (d[8:] == 8).all() and (v[8:] == 1).all()
    else:
        assert v.max() == 0 and d[k] == k + 1 and d[-1] == k


def test_hand_examples():
    # "( [ ) ]": wrong-family closer at position 3 -> invalid from there, depth frozen at 2
    depth, valid = dyck.label(wrap([3, 5, 4, 6]))
    assert depth[0, :6].tolist() == [0, 1, 2, 2, 2, 2]
    assert valid[0, :6].tolist() == [0, 0, 0, 1, 1, 1]
    # ") (": closer on an empty stack
    depth, valid = dyck.label(wrap([4, 3]))
    assert depth[0, :4].tolist() == [0, 0, 0, 0]
    assert valid[0, :4].tolist() == [0, 1, 1, 1]


def test_layout_bos_eos_pad():
    b = dyck.sample(400, 7)
    lengths = (b.tokens != dyck.PAD).sum(1) - 2
    assert (b.tokens[:, 0] == dyck.BOS).all()
    assert (b.tokens[np.arange(len(b)), lengths + 1] == dyck.EOS).all()
    assert lengths.min() >= 2 and lengths.max() <= 62
    assert ((b.depth == 0) | b.mask).all() and ((b.valid == 0) | b.mask).all()
    content = b.tokens[:, 1:-1][b.mask[:, 1:-1]]
    assert set(np.unique(content)) <= {2, 3, 4, 5, 6, 7, 8}


def test_valid_half_is_never_invalid_and_even_lengths_close():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 63, size=2000)
    content = dyck._valid_content(rng, lengths, 0.55)
    batch = dyck._assemble(content, lengths)
    assert batch.valid.max() == 0
    final_depth = batch.depth[np.arange(2000), lengths + 1]
    assert (final_depth[lengths % 2 == 0] == 0).all()
    assert batch.depth.max() <= dyck.MAX_DEPTH


def test_mixture_fraction_valid():
    b = dyck.sample(4000, 11)
    never_invalid = b.valid.max(1) == 0
    # random content is sometimes valid by chance, so the never-invalid fraction is >= p_valid;
    # the valid half alone is 0.5 +- 5 sd (sd = sqrt(.25/4000) = 0.008)
    assert 0.5 - 0.04 < never_invalid.mean() < 0.5 + 0.12


def test_deterministic_and_seed_dependent():
    a, b, c = dyck.sample(64, 5), dyck.sample(64, 5), dyck.sample(64, 6)
    assert np.array_equal(a.tokens, b.tokens) and not np.array_equal(a.tokens, c.tokens)
    assert np.array_equal(dyck.analysis_batch().tokens, dyck.analysis_batch().tokens)


def test_heldout_sets():
    comp = dyck.compositional(500, 3)
    assert comp.valid.max() == 0
    max_depth = comp.depth.max(1)
    assert max_depth.min() >= 3 and max_depth.max() == 8
    lengths = (dyck.long(300, 4).tokens != dyck.PAD).sum(1) - 2
    assert lengths.min() >= 50 and lengths.max() <= 60
    ana = dyck.analysis_batch()
    lengths = (ana.tokens != dyck.PAD).sum(1) - 2
    assert len(ana) == 1024 and lengths.min() >= 2 and lengths.max() <= 48


def test_cli_writes_npz(tmp_path):
    out = tmp_path / "s.npz"
    subprocess.run(
        [sys.executable, "-m", "polyrot.toy.dyck", "--n", "10", "--seed", "3", "--out", str(out)], check=True
    )
    data = np.load(out)
    assert set(data.files) == {"tokens", "depth", "valid"}
    assert all(data[k].shape == (10, 64) for k in data.files)
    assert np.array_equal(data["tokens"], dyck.sample(10, 3).tokens)
