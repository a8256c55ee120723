"""Residual activations of a GPT-NeoX model at named sites, the transformer body only.

Sites (SPEC §5): ``resid_pre_0`` is the embedding output (``hidden_states[0]``) and
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

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from polyrot.activations import Cache

if TYPE_CHECKING:
    from transformers import GPTNeoXForCausalLM

_SITE = re.compile(r"^(resid_pre_0|resid_post_(\d+)|resid_final)$")
FINAL = "resid_final"
"""The final layer norm's output (after the last layer's resid_post)."""


def site_names(n_layers: int) -> list[str]:
    """Every residual site of an ``n_layers`` model: the embeddings, then each layer's output."""
    return ["resid_pre_0", *(f"resid_post_{i}" for i in range(n_layers))]


def hidden_state_index(site: str) -> int:
    """The site's index into ``hidden_states`` (0 for the embeddings, i + 1 for layer i);
    ``resid_final`` (after the final norm) has none: -1."""
    m = _SITE.match(site)
    if m is None:
        raise ValueError(f"unknown GPT-NeoX site {site!r} (resid_pre_0, resid_post_<layer> or resid_final)")
    if site == FINAL:
        return -1
    return 0 if m.group(2) is None else int(m.group(2)) + 1


class _Stop(Exception):
    """Raised by the hook of the deepest requested layer: nothing after it is needed."""


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
    n_layers = len(body.layers)
    # position in the forward pass: the final norm's output comes after layer n - 1's
    index = {s: n_layers + 1 if s == FINAL else hidden_state_index(s) for s in sites}
    too_deep = [s for s, i in index.items() if s != FINAL and i > n_layers]
    if too_deep:
        raise ValueError(f"sites {too_deep} do not exist: the model has {n_layers} layers")
    deepest = max(index.values())
    device = next(body.parameters()).device
    store: dict[int, torch.Tensor] = {}

    def keep(i: int, stop: bool):
        def hook(_module, _inputs, output):
            store[i] = (output[0] if isinstance(output, tuple) else output).detach()
            if stop:
                raise _Stop

        return hook

    wanted = set(index.values())
    handles = [body.emb_dropout.register_forward_hook(keep(0, deepest == 0))] if 0 in wanted else []
    handles += [
        body.layers[i - 1].register_forward_hook(keep(i, i == deepest)) for i in sorted(wanted) if 0 < i <= n_layers
    ]
    if n_layers + 1 in wanted:
        handles.append(body.final_layer_norm.register_forward_hook(keep(n_layers + 1, True)))
    parts: dict[str, list[np.ndarray]] = {s: [] for s in sites}
    try:
        for start in tqdm(range(0, len(tokens), batch_size), desc=desc, disable=not progress, unit="batch"):
            ids = torch.as_tensor(tokens[start : start + batch_size], device=device)
            store.clear()
            try:
                body(input_ids=ids, use_cache=False)
            except _Stop:
                pass
            for s, i in index.items():
                parts[s].append(store[i].float().reshape(-1, store[i].shape[-1]).cpu().numpy())
    finally:
        for h in handles:
            h.remove()
    n, seq_len = tokens.shape
    sequence, position = np.divmod(np.arange(n * seq_len), seq_len)
    token = np.asarray(tokens, dtype=np.int64).reshape(-1)
    return {s: Cache(np.concatenate(parts[s]), token, position, sequence) for s in sites}
