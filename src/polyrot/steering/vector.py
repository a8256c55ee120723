"""A steering vector: one direction at one residual site, added as ``sign * alpha * v`` at
every position while a context manager is open, and mapped into another model's frame
through a fitted rotation.

``in_frame_of(R)``: with R fitted as in ``polyrot.align`` (``x_anchor ≈ x_other R``,
centred), a direction of the anchor is ``v R^T`` in the other model's frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

from polyrot import hooks


@dataclass(frozen=True)
class SteeringVector:
    name: str
    """Which vector (``depth``, ``sentiment``, ...); a mapped or random copy keeps it."""
    site: str
    """The residual site it is added at (toy: any residual site; GPT-NeoX: ``resid_post_<i>``)."""
    vector: np.ndarray
    """(d,), in the frame of the model it is applied to."""
    sign: float = 1.0
    """+1: added; -1: subtracted."""

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))

    def in_frame_of(self, R: np.ndarray) -> SteeringVector:
        """This vector in the frame of the model that R maps onto this one's
        (``x_this ≈ x_other R``): ``v R^T``."""
        return replace(self, vector=self.vector @ R.T)

    def along(self, direction: np.ndarray) -> SteeringVector:
        """A vector of this one's norm, sign and site along ``direction`` (the random control)."""
        return replace(self, vector=direction / np.linalg.norm(direction) * self.norm)

    def random_like(self, rng: np.random.Generator) -> SteeringVector:
        """A uniformly random direction of the same norm."""
        return self.along(rng.standard_normal(self.vector.shape))

    @contextmanager
    def apply(self, model: torch.nn.Module, alpha: float) -> Iterator[torch.nn.Module]:
        """Add ``sign * alpha * vector`` at every position of ``site`` while inside, through
        ``hooks.patched`` (the toy model's hook point there; on a Hugging Face decoder the
        site's module, e.g. GPT-NeoX ``resid_post_<i>``: the output of ``gpt_neox.layers[i]``).
        On a Hugging Face decoder the site must be a layer's output."""
        if hooks.architecture_of(model).name != "toy" and not self.site.startswith("resid_post_"):
            raise ValueError(f"steering a decoder acts on a layer's output (resid_post_<i>), not {self.site}")
        param = next(model.parameters())
        delta = torch.as_tensor(self.sign * alpha * self.vector, dtype=param.dtype, device=param.device)
        with hooks.patched(model, {self.site: lambda x: x + delta}):
            yield model


def diff_of_means(acts: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """Mean of ``acts`` (rows ``(..., d)``) over the ``plus`` rows minus over the ``minus``
    rows (boolean masks over the leading axes), in float64."""
    if not plus.any() or not minus.any():
        raise ValueError("a difference of means needs positions on both sides")
    return acts[plus].astype(np.float64).mean(0) - acts[minus].astype(np.float64).mean(0)


def random_directions(n: int, d: int, seed: int) -> np.ndarray:
    """``(n, d)`` unit rows drawn uniformly on the sphere (the random control's directions:
    the same draws for every model, vector and dose)."""
    g = np.random.default_rng(seed).standard_normal((n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def save_vectors(path: str, vectors: dict[str, SteeringVector]) -> None:
    """Every vector of one anchor in one ``.npz`` (written atomically): ``<name>`` the vector,
    ``<name>.sign`` its sign; the site in ``site``."""
    from polyrot import atomic

    sites = {v.site for v in vectors.values()}
    if len(sites) != 1:
        raise ValueError(f"vectors of one file share a site, not {sorted(sites)}")
    arrays = {name: v.vector for name, v in vectors.items()}
    arrays |= {f"{name}.sign": np.asarray(v.sign) for name, v in vectors.items()}
    atomic.atomic_savez(path, site=np.asarray(sites.pop()), **arrays)
