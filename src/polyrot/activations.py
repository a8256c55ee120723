"""Activation caches (arm-agnostic format) and the toy arm's extraction.

One cache file per (model, checkpoint, site, split) is an ``.npz`` with

- ``acts``: ``(n_tokens, d)`` float32, the non-PAD rows,
- ``token``, ``position``, ``sequence``: int64 ``(n_tokens,)``, which token each row is,

in the same row order for every model (sequences in batch order, positions ascending), so
rows of two models' caches are the same tokens. Splits: ``fit`` (the fixed analysis batch)
and ``heldout`` (a disjoint batch of the same distribution).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from polyrot import dyck, io

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
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                acts=cache.acts.astype(np.float32),
                token=cache.token,
                position=cache.position,
                sequence=cache.sequence,
            )


def read_cache(path: str | os.PathLike[str]) -> Cache:
    with np.load(path) as data:
        return Cache(data["acts"], data["token"], data["position"], data["sequence"])


def heldout_batch(analysis: dyck.Batch, n: int, seed: int, min_len: int = 2, max_len: int = 48) -> dyck.Batch:
    """A batch of the analysis distribution with no sequence that also occurs in ``analysis``.

    Sequences are drawn from ``seed`` and any duplicate of an analysis sequence is dropped
    (short sequences repeat: there are only 36 of content length 2), then the first ``n``
    kept.
    """
    seen = {row.tobytes() for row in analysis.tokens}
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    while sum(len(k) for k in kept) < n:
        batch = dyck.sample(2 * n, rng, min_len, max_len)
        kept.append(batch.tokens[[row.tobytes() not in seen for row in batch.tokens]])
    tokens = np.concatenate(kept)[:n]
    depth, valid = dyck.label(tokens)
    return dyck.Batch(tokens=tokens, depth=depth, valid=valid)


@torch.no_grad()
def toy_caches(model: torch.nn.Module, batch: dyck.Batch, sites: list[str], batch_size: int = 256) -> dict[str, Cache]:
    """Run ``batch`` through a toy model once and cache the non-PAD rows at ``sites``."""
    model.eval()
    parts: dict[str, list[np.ndarray]] = {s: [] for s in sites}
    for start in range(0, len(batch), batch_size):
        tokens = torch.from_numpy(batch.tokens[start : start + batch_size])
        mask = (tokens != dyck.PAD).numpy()
        store: dict[str, torch.Tensor] = {}
        model(tokens, cache=store)
        for s in sites:
            parts[s].append(store[s].numpy()[mask])
    seq, pos = np.nonzero(batch.tokens != dyck.PAD)
    token = batch.tokens[seq, pos]
    return {s: Cache(np.concatenate(parts[s]).astype(np.float32), token, pos, seq) for s in sites}
