"""The toy arm's activation extraction: the held-out batch and one forward pass per batch
that caches every audited site (see ``polyrot.activations`` for the cache format)."""

from __future__ import annotations

import numpy as np
import torch

from polyrot import hooks
from polyrot.activations import Cache
from polyrot.toy import dyck


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
        with hooks.recorded(model, sites) as store:
            model(tokens)
        for s in sites:
            parts[s].append(store[s].numpy()[mask])
    seq, pos = np.nonzero(batch.tokens != dyck.PAD)
    token = batch.tokens[seq, pos]
    return {s: Cache(np.concatenate(parts[s]).astype(np.float32), token, pos, seq) for s in sites}
