"""Activation caches, in one format for both arms (extraction: ``toy.extract``, ``neox.extract``).

One cache file per (model, checkpoint, site, split) is an ``.npz`` with

- ``acts``: ``(n_tokens, d)`` float32, the non-PAD rows,
- ``token``, ``position``, ``sequence``: int64 ``(n_tokens,)``, which token each row is,

in the same row order for every model (sequences in batch order, positions ascending), so
rows of two models' caches are the same tokens. Splits: ``fit`` (the fixed analysis batch)
and ``heldout`` (a disjoint batch of the same distribution).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from polyrot import atomic, files

SPLITS = ("fit", "heldout")


@dataclass(frozen=True)
class Cache:
    """Activations of one site on one split, with the token identity of every row."""

    acts: np.ndarray
    token: np.ndarray
    position: np.ndarray
    sequence: np.ndarray

    def __len__(self) -> int:
        return int(self.acts.shape[0])


def write_cache(path: str | os.PathLike[str], cache: Cache) -> None:
    """Write a cache atomically (uncompressed: activations do not compress)."""
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                acts=cache.acts.astype(np.float32),
                token=cache.token,
                position=cache.position,
                sequence=cache.sequence,
            )


def read_cache(path: str | os.PathLike[str]) -> Cache:
    """A cache ``write_cache`` wrote; ``files.BadFile`` if the file is not one."""
    with files.open_npz(path, ("acts", "token", "position", "sequence")) as data:
        return Cache(data["acts"], data["token"], data["position"], data["sequence"])


def sites_of(keys: Sequence[Mapping[str, str]]) -> list[str]:
    """The sites an extraction job's ``{"site", "split"}`` keys name, in order, once each."""
    return list(dict.fromkeys(k["site"] for k in keys))


def write_caches(
    caches: Mapping[str, Mapping[str, Cache]],
    keys: Sequence[Mapping[str, str]],
    paths: Sequence[str | os.PathLike[str]],
) -> None:
    """Write ``caches[split][site]`` to the path of each key (keys and paths in the same order)."""
    for key, path in zip(keys, paths, strict=True):
        write_cache(path, caches[key["split"]][key["site"]])
