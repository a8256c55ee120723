"""The GPT-NeoX arm's steering (docs/methods.md §9): difference-of-means vectors from the contrast
sentences of a small data file in the repository, added to one layer's output by a forward
hook, and their effect KL(clean ‖ steered) over held-out corpus tokens.

The contrast file (``steering.neox.contrasts``) is YAML: one mapping per vector with
``position`` (``all``: every token of every sentence; ``last``: each sentence's last token),
``plus`` and ``minus`` (lists of sentences) and an optional ``sign`` (default +1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from polyrot.steering.vector import SteeringVector

if TYPE_CHECKING:
    from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerBase

POSITIONS = ("all", "last")


@dataclass(frozen=True)
class Contrast:
    """One GPT-NeoX vector's sentences."""

    name: str
    position: str
    """``all``: every token of every sentence; ``last``: each sentence's last token."""
    plus: tuple[str, ...]
    minus: tuple[str, ...]
    sign: float = 1.0


def load_contrasts(path: str | Path) -> dict[str, Contrast]:
    """The contrast file's vectors, in file order; a malformed file is refused with a
    message that names the vector and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"steering contrast file {path} not found (config key steering.neox.contrasts)")
    raw: Any = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a mapping from vector name to its sentences")
    out = {}
    for name, spec in raw.items():
        where = f"{path}: vector {name!r}"
        if not isinstance(spec, dict) or set(spec) - {"position", "plus", "minus", "sign"}:
            raise ValueError(f"{where}: expected keys position, plus, minus and optionally sign")
        if spec.get("position") not in POSITIONS:
            raise ValueError(f"{where}: position must be one of {POSITIONS}, not {spec.get('position')!r}")
        for side in ("plus", "minus"):
            sentences = spec.get(side)
            if not isinstance(sentences, list) or not sentences or not all(isinstance(s, str) and s for s in sentences):
                raise ValueError(f"{where}: {side} must be a non-empty list of sentences")
        sign = float(spec.get("sign", 1.0))
        if sign not in (1.0, -1.0):
            raise ValueError(f"{where}: sign must be 1 or -1")
        out[name] = Contrast(str(name), spec["position"], tuple(spec["plus"]), tuple(spec["minus"]), sign)
    return out


@torch.no_grad()
def _rows(
    model: GPTNeoXForCausalLM, tokenizer: PreTrainedTokenizerBase, sentences: tuple[str, ...], site: str, position: str
):
    from polyrot.neox import corpus, extract

    rows = []
    for ids in corpus.encode(tokenizer, list(sentences)):
        if not ids:
            raise ValueError("a contrast sentence encodes to no tokens")
        acts = extract.extract(model, np.asarray([ids]), [site], batch_size=1, progress=False)[site].acts
        rows.append(acts if position == "all" else acts[-1:])
    return np.concatenate(rows)


def neox_vectors(
    model: GPTNeoXForCausalLM, tokenizer: PreTrainedTokenizerBase, contrasts: Mapping[str, Contrast], site: str
) -> tuple[dict[str, SteeringVector], dict[str, dict[str, int]]]:
    """Each contrast's vector at ``site`` (one sentence per forward pass, so no padding),
    and how many sentences and token rows went into each side."""
    vectors, counts = {}, {}
    for name, c in contrasts.items():
        plus = _rows(model, tokenizer, c.plus, site, c.position)
        minus = _rows(model, tokenizer, c.minus, site, c.position)
        v = plus.astype(np.float64).mean(0) - minus.astype(np.float64).mean(0)
        vectors[name] = SteeringVector(name, site, v, c.sign)
        counts[name] = {
            "plus_sentences": len(c.plus),
            "minus_sentences": len(c.minus),
            "plus_rows": len(plus),
            "minus_rows": len(minus),
        }
    return vectors, counts


def kl_from(ref_logp: torch.Tensor, ref_p: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(ref ‖ softmax(logits)) summed over positions, from the reference's cached log-
    probabilities and probabilities: float32 elementwise, summed in float64 (the difference
    of two float32 log-probabilities is exact to ~1e-7 of their size, far below the effects
    measured)."""
    logq = torch.log_softmax(logits.float(), dim=-1)
    return (ref_p * (ref_logp - logq)).sum(dtype=torch.float64)


class NeoxEffects:
    """KL(clean ‖ steered) of one GPT-NeoX model's next-token distributions, averaged over
    every token of held-out sequences; the clean distributions are computed once."""

    @torch.no_grad()
    def __init__(self, model: GPTNeoXForCausalLM, tokens: np.ndarray, batch_size: int = 16) -> None:
        self.model = model.eval()
        device = next(model.parameters()).device
        self.batches = [
            torch.as_tensor(tokens[i : i + batch_size], device=device) for i in range(0, len(tokens), batch_size)
        ]
        self.clean = []
        for ids in self.batches:
            logp = torch.log_softmax(self._logits(ids), dim=-1)
            self.clean.append((logp, logp.exp()))
        self.n_tokens = int(tokens.size)

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids).logits.float()

    @torch.no_grad()
    def __call__(self, vector: SteeringVector, alpha: float, target: str | None = None) -> dict[str, float]:
        """``kl``: the mean over every token of KL(clean ‖ steered) (``target`` is unused:
        the GPT-NeoX effect is not targeted)."""
        total = 0.0
        with vector.apply(self.model, alpha):
            for ids, (logp, p) in zip(self.batches, self.clean, strict=True):
                total += float(kl_from(logp, p, self._logits(ids)))
        return {"kl": total / self.n_tokens, "n_target": self.n_tokens}
