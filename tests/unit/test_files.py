"""A file that exists but is not what a command line expects (truncated, another format, a
cache without its arrays) is refused with exit status 2 and one line on stderr that names
the file and what is wrong with it: never a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import save_file

from polyrot import activations, files, sae
from polyrot.bars import causal, parametric
from polyrot.toy import transformer


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in transformer.build(0).state_dict().items()}, str(path))
    return path


def truncated(src, dest):
    dest.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    return dest


def not_safetensors(dest):
    dest.write_text("a text file, not weights\n")
    return dest


def one_line_naming(capsys, path, what: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(path) in err and what in err, err


@pytest.mark.parametrize("cli", [parametric.main, causal.main], ids=["parametric", "causal"])
@pytest.mark.parametrize("make", ["truncated", "not_safetensors"])
def test_a_bars_command_line_refuses_a_bad_model_file(cli, make, model_file, tmp_path, capsys):
    bad = (
        truncated(model_file, tmp_path / "bad.safetensors")
        if make == "truncated"
        else not_safetensors(tmp_path / "bad.safetensors")
    )
    assert cli([str(model_file), str(bad)]) == 2
    one_line_naming(capsys, bad, "not a readable safetensors file")


def test_the_sae_command_line_refuses_a_truncated_cache(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 2000
    cache = activations.Cache(
        rng.normal(size=(n, 8)).astype(np.float32), np.zeros(n, int), np.arange(n), np.zeros(n, int)
    )
    good = tmp_path / "good.fit.npz"
    activations.write_cache(good, cache)
    bad = truncated(good, tmp_path / "bad.fit.npz")
    assert sae.main([str(bad)]) == 2
    one_line_naming(capsys, bad, "not a readable .npz archive")


def test_a_cache_without_its_arrays_is_refused_by_name(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, acts=np.zeros((3, 2)))
    with pytest.raises(files.BadFile, match=r"other\.npz: no array 'token', 'position', 'sequence'"):
        activations.read_cache(path)


def test_a_missing_file_is_not_a_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        files.load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError):
        activations.read_cache(tmp_path / "missing.npz")
