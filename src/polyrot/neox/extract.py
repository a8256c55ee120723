"""Residual activations of a GPT-NeoX model at named sites, the transformer body only.

Sites (docs/methods.md §5): ``resid_pre_0`` is the embedding output (``hidden_states[0]``) and
``resid_post_<i>`` the output of layer ``i``. The last layer's ``resid_post`` is taken by a
forward hook *before* the final layer norm: ``output_hidden_states=True`` in transformers'
GPT-NeoX returns it after the norm. ``resid_final`` is that normed output (the final layer
norm's), which is no residual stream but is what the study's code calls the last layer's
``resid_post`` (the paper's last Pythia site). Only ``gpt_neox`` runs, never the
unembedding, and the forward pass stops after the deepest requested site.

The result is the arm-agnostic ``activations.Cache`` (every token of every sequence, in
sequence order), so the audit rules take it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from polyrot import hooks
from polyrot.activations import Cache

if TYPE_CHECKING:
    from transformers import GPTNeoXForCausalLM

FINAL = "resid_final"
"""The final layer norm's output (after the last layer's resid_post)."""


def site_names(n_layers: int) -> list[str]:
    """Every residual site of an ``n_layers`` model: the embeddings, then each layer's output."""
    return ["resid_pre_0", *(f"resid_post_{i}" for i in range(n_layers))]


@torch.no_grad()
def extract(
    model: GPTNeoXForCausalLM,
    tokens: np.ndarray,
    sites: Sequence[str],
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "extract",
) -> dict[str, Cache]:
    """Caches at ``sites`` for ``tokens`` (``(n, seq_len)`` ids), float32, rows in order."""
    body = model.gpt_neox
    device = next(body.parameters()).device
    parts: dict[str, list[np.ndarray]] = {s: [] for s in sites}
    for start in tqdm(range(0, len(tokens), batch_size), desc=desc, disable=not progress, unit="batch"):
        ids = torch.as_tensor(tokens[start : start + batch_size], device=device)
        # the body alone, never the unembedding, and only up to the deepest site; an unknown
        # site is refused (naming the model's sites) before the first batch runs
        with hooks.recorded(model, sites, stop=True) as store:
            body(input_ids=ids, use_cache=False)
        for s in sites:
            parts[s].append(store[s].float().reshape(-1, store[s].shape[-1]).cpu().numpy())
    n, seq_len = tokens.shape
    sequence, position = np.divmod(np.arange(n * seq_len), seq_len)
    token = np.asarray(tokens, dtype=np.int64).reshape(-1)
    return {s: Cache(np.concatenate(parts[s]), token, position, sequence) for s in sites}
