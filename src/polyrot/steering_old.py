"""Steering (SPEC §9, H4): difference-of-means vectors at a residual site, added as α·v at
every position, their effects, and the transfer ratio across seeds, unrotated (the paper)
or mapped into the other model's frame through the pair's fitted rotation (ours).

A ``SteeringVector`` lives in the frame of the model it was built on. ``apply(model,
alpha)`` is a context manager that adds ``sign * alpha * vector`` to the stream at
``site`` and removes itself on exit (toy models: through ``ToyTransformer.edits``).
``in_frame_of(R)`` maps it into another model's frame: with R fitted as in
``polyrot.align`` (``x_anchor ≈ x_other R``, centred), a direction of the anchor is
``v R^T`` in the other model's frame.

Toy vectors (``TOY_VECTORS``; SPEC §9, our reading of the targets, which SPEC leaves open):

- ``depth``: positions labelled depth 5 minus depth 4, added ("clean"); effect on the depth
  head at depth-4 positions;
- ``sticky_invalid``: valid = 1 minus valid = 0, both at depth 4, subtracted ("partial");
  effect on the valid head at invalid (valid = 1) depth-4 positions;
- ``closers``: closing-bracket positions minus opening-bracket positions, added
  ("inverted"); effect on the tok head at opener positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

from polyrot.bars.behavioural import mean_kl
from polyrot.toy import dyck

OPENERS = (3, 5, 7)
CLOSERS = (4, 6, 8)
Select = Callable[[dyck.Batch], np.ndarray]


@dataclass(frozen=True)
class ToyVectorSpec:
    """How one toy vector is built and what its effect is measured on."""

    plus: Select
    """Positions whose mean activation is the vector's positive end."""
    minus: Select
    """Positions whose mean activation is subtracted."""
    sign: float
    """+1: the vector is added; -1: subtracted."""
    head: str
    """The head whose accuracy the vector targets."""
    target: Select
    """Positions where the targeted head's accuracy is measured."""


def _depth(k: int) -> Select:
    return lambda b: b.mask & (b.depth == k)


TOY_VECTORS: dict[str, ToyVectorSpec] = {
    "depth": ToyVectorSpec(_depth(5), _depth(4), +1.0, "depth", _depth(4)),
    "sticky_invalid": ToyVectorSpec(
        lambda b: _depth(4)(b) & (b.valid == 1),
        lambda b: _depth(4)(b) & (b.valid == 0),
        -1.0,
        "valid",
        lambda b: _depth(4)(b) & (b.valid == 1),
    ),
    "closers": ToyVectorSpec(
        lambda b: b.mask & np.isin(b.tokens, CLOSERS),
        lambda b: b.mask & np.isin(b.tokens, OPENERS),
        +1.0,
        "tok",
        lambda b: b.mask & np.isin(b.tokens, OPENERS),
    ),
}


@dataclass(frozen=True)
class SteeringVector:
    name: str
    site: str
    vector: np.ndarray
    """(d,), in the frame of the model it is applied to."""
    sign: float = 1.0

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))

    def in_frame_of(self, R: np.ndarray) -> SteeringVector:
        """This vector in the frame of the model that R maps onto this one's
        (``x_this ≈ x_other R``): ``v R^T``."""
        return replace(self, vector=self.vector @ R.T)

    def random_like(self, rng: np.random.Generator) -> SteeringVector:
        """A uniformly random direction of the same norm (the control)."""
        g = rng.standard_normal(self.vector.shape)
        return replace(self, name=f"{self.name}:random", vector=g / np.linalg.norm(g) * self.norm)

    @contextmanager
    def apply(self, model: torch.nn.Module, alpha: float) -> Iterator[torch.nn.Module]:
        """Add ``sign * alpha * vector`` at every position of ``site`` while inside.

        Toy models: through ``ToyTransformer.edits``. GPT-NeoX models (``resid_post_<i>``,
        the output of layer i): a forward hook on ``gpt_neox.layers[i]``, removed on exit."""
        param = next(model.parameters())
        delta = torch.as_tensor(self.sign * alpha * self.vector, dtype=param.dtype, device=param.device)
        if hasattr(model, "gpt_neox"):
            from polyrot.neox.extract import hidden_state_index

            layer = hidden_state_index(self.site)
            if layer == 0:
                raise ValueError("GPT-NeoX steering acts on a layer's output (resid_post_<i>), not the embedding")

            def hook(_module, _inputs, output):
                if isinstance(output, tuple):
                    return (output[0] + delta, *output[1:])
                return output + delta

            handle = model.gpt_neox.layers[layer - 1].register_forward_hook(hook)
            try:
                yield model
            finally:
                handle.remove()
            return
        if self.site in model.edits:
            raise RuntimeError(f"{self.site} is already steered")
        model.edits[self.site] = lambda x: x + delta
        try:
            yield model
        finally:
            del model.edits[self.site]


def diff_of_means(acts: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """Mean of ``acts`` (n, t, d) over the ``plus`` positions minus over the ``minus`` ones."""
    if not plus.any() or not minus.any():
        raise ValueError("a difference of means needs positions on both sides")
    return acts[plus].mean(0) - acts[minus].mean(0)


def toy_vector(name: str, acts: np.ndarray, batch: dyck.Batch, site: str) -> SteeringVector:
    """Toy vector ``name`` (see ``TOY_VECTORS``) from a model's activations at ``site`` on
    ``batch``."""
    spec = TOY_VECTORS[name]
    return SteeringVector(name, site, diff_of_means(acts, spec.plus(batch), spec.minus(batch)), spec.sign)


@torch.no_grad()
def effects(
    model: torch.nn.Module, vector: SteeringVector, alpha: float, batch: dyck.Batch, spec: ToyVectorSpec
) -> dict[str, float]:
    """``accuracy_drop``: the targeted head's accuracy on the targeted positions, unsteered
    minus steered; ``kl``: mean over non-PAD positions and heads of KL(unsteered ‖ steered)."""
    tokens = torch.from_numpy(batch.tokens)
    clean = model(tokens)
    with vector.apply(model, alpha):
        steered = model(tokens)
    kl = mean_kl(clean, steered, torch.from_numpy(batch.mask))
    target = torch.from_numpy(spec.target(batch))
    labels = torch.from_numpy(batch.labels()[spec.head])[target]
    acc = lambda logits: float((logits[spec.head][target].argmax(-1) == labels).double().mean())  # noqa: E731
    return {"accuracy_drop": acc(clean) - acc(steered), "kl": float(kl), "n_target": int(target.sum())}


def ratio(cross: Mapping[str, float], within: Mapping[str, float], key: str = "kl") -> float:
    """Cross-seed effect over within-seed effect ("inverted" means > 1, not a sign flip)."""
    return cross[key] / within[key] if within[key] != 0 else float("nan")
