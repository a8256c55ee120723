"""Reading the pipeline's binary files (safetensors weights, ``.npz`` caches) so that a file
that exists but is not what it should be (truncated, another format, missing arrays) fails
with one ``BadFile`` naming the file and what is wrong, never a library's traceback. The
command lines turn it into one line on stderr and exit status 2."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
from safetensors import SafetensorError, safe_open

PathLike = str | os.PathLike[str]


class BadFile(ValueError):
    """A file that exists but cannot be read as what it should be."""

    def __init__(self, path: PathLike, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)


def _must_exist(path: PathLike) -> None:
    # safetensors reports a missing file as a SafetensorError: keep it a FileNotFoundError
    if not os.path.exists(path):
        raise FileNotFoundError(f"{os.fspath(path)}: no such file")


def load_safetensors(path: PathLike, framework: Literal["pt", "numpy"] = "pt", device: str = "cpu") -> dict[str, Any]:
    """Every tensor of a safetensors file; ``BadFile`` if it is not a readable one,
    ``FileNotFoundError`` if it does not exist."""
    if framework == "pt":
        from safetensors.torch import load_file
    else:
        from safetensors.numpy import load_file
    _must_exist(path)
    try:
        return load_file(os.fspath(path), device=device) if framework == "pt" else load_file(os.fspath(path))
    except SafetensorError as e:
        raise BadFile(path, f"not a readable safetensors file ({e})") from e


def safetensors_metadata(path: PathLike) -> dict[str, str]:
    """A safetensors file's string metadata (empty if it has none); ``BadFile`` as above."""
    _must_exist(path)
    try:
        with safe_open(os.fspath(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except SafetensorError as e:
        raise BadFile(path, f"not a readable safetensors file ({e})") from e


@contextmanager
def open_npz(path: PathLike, arrays: tuple[str, ...] = ()) -> Iterator[np.lib.npyio.NpzFile]:
    """An ``.npz`` archive (no pickles) that holds at least ``arrays``; ``BadFile`` if it is
    truncated, not an archive or lacks one of them."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        raise BadFile(path, f"not a readable .npz archive ({e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise BadFile(path, "a single .npy array, not an .npz archive")
    with data:
        missing = [a for a in arrays if a not in data.files]
        if missing:
            raise BadFile(path, f"no array {', '.join(map(repr, missing))} (it holds {sorted(data.files)})")
        try:
            yield data
        except (zipfile.BadZipFile, EOFError) as e:  # a member cut short, found when it is read
            raise BadFile(path, f"a truncated .npz archive ({e})") from e
