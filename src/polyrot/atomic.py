"""Atomic writes: every output goes to a temporary name beside its target, then is renamed.

A killed job therefore leaves either the previous file or none, never a truncated one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory; rename it onto ``path`` (replacing it) on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def dumps(obj: Any) -> str:
    """Indented JSON that also takes numpy scalars/arrays and paths."""
    return json.dumps(obj, indent=2, default=_json_default) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(path, dumps(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def atomic_savez(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """``numpy.savez_compressed`` to a temporary file, then rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def write_tsv(path: str | os.PathLike[str], frame: Any, header: str | None = None) -> None:
    """Write a pandas DataFrame as TSV atomically, with optional ``#`` comment lines first."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            if header:
                for line in header.strip().splitlines():
                    fh.write(f"# {line}\n")
            frame.to_csv(fh, sep="\t", index=False)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, datetime.date):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
