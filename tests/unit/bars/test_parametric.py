"""Bar P: a model moved by a random element of its symmetry group computes the same
function, and the alignment finds the element back (max per-tensor MSE below 1e-8)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from toy_models import as_model, random_element, with_random_gains

from polyrot.bars import parametric
from polyrot.toy import dyck, transformer


@pytest.fixture(scope="module")
def pair():
    model = with_random_gains(3)
    cfg = model.cfg
    folded = parametric.fold_gains({k: v.numpy() for k, v in model.state_dict().items()})
    g = random_element(cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.n_layers, np.random.default_rng(0))
    moved = parametric.apply(folded, g, cfg.n_heads)
    return model, folded, moved


def test_a_group_element_keeps_the_function(pair):
    model, folded, moved = pair
    tokens = torch.from_numpy(dyck.analysis_batch(64, 1).tokens)
    with torch.no_grad():
        a, b, c = model(tokens), as_model(folded)(tokens), as_model(moved)(tokens)
    for head in a:
        assert torch.allclose(a[head], b[head], atol=1e-5), "folding the gains changed the function"
        assert torch.allclose(a[head], c[head], atol=1e-5), "the group element changed the function"


def test_alignment_finds_the_element_back(pair):
    _, folded, moved = pair
    result = parametric.align(folded, moved, restarts=1, refine_steps=0)
    assert result.max_tensor_mse < 1e-8, result.tensors
    # against an unaligned comparison, which is far from zero
    assert max(parametric.tensor_mse(folded, moved).values()) > 1e-5


def test_within_seed_is_zero(pair):
    _, folded, _ = pair
    assert parametric.align(folded, folded, restarts=1, refine_steps=0).max_tensor_mse < 1e-20


def test_refinement_never_raises_the_statistic():
    a = parametric.fold_gains({k: v.numpy() for k, v in transformer.build(0).state_dict().items()})
    b = parametric.fold_gains({k: v.numpy() for k, v in transformer.build(1).state_dict().items()})
    result = parametric.align(a, b, restarts=1, iterations=5, refine_steps=50)
    assert result.max_tensor_mse <= result.refined_from
    assert set(result.tensors) == set(parametric.tensor_names(2)) and result.max_tensor_mse > 1e-5


def test_command_line(tmp_path, pair):
    model, _, moved = pair
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "ref.safetensors"))
    save_file(as_model(moved).state_dict(), str(tmp_path / "other.safetensors"))
    cli = [sys.executable, "-m", "polyrot.bars.parametric"]
    proc = subprocess.run(
        [*cli, str(tmp_path / "ref.safetensors"), str(tmp_path / "other.safetensors"), "--restarts", "1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["max_tensor_mse"] < 1e-8 and len(out["tensors"]) == 16
    save_file({"x": torch.zeros(3)}, str(tmp_path / "bad.safetensors"))
    proc = subprocess.run(
        [*cli, str(tmp_path / "ref.safetensors"), str(tmp_path / "bad.safetensors")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "not a toy model" in proc.stderr
