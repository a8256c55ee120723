"""The toy arm's steering (docs/methods.md §9): three difference-of-means vectors, what each targets,
the subspace pinned by cohort A's shared I/O weights, and the effects of a dose.

Vectors (``TOY_VECTORS``; docs/methods.md §9; the targets are our reading, which the paper leaves open):

- ``depth``: positions labelled depth 5 minus depth 4, added ("clean"); effect on the depth
  head at depth-4 positions;
- ``sticky_invalid``: valid = 1 minus valid = 0, both at depth 4, subtracted ("partial");
  effect on the valid head at valid = 1 depth-4 positions;
- ``closers``: closing-bracket positions minus opening-bracket positions, added
  ("inverted"); effect on the tok head at opener positions.

Every effect is also measured where the study's code measures it (``study_target``; its
``experiments/cross_seed/exp2_steering.py``): the same positions for ``depth`` and
``sticky_invalid``, and for ``closers`` the *closer* positions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from polyrot import hooks
from polyrot.steering.neox import kl_from
from polyrot.steering.vector import SteeringVector, diff_of_means
from polyrot.toy import dyck

Select = Callable[[dyck.Batch], np.ndarray]
#: The tokens the task uses (BOS, EOS, the six brackets): their W_E rows and tok-head W_U
#: columns, with every depth and valid column, span the subspace shared I/O pins.
TASK_TOKENS = (dyck.BOS, dyck.EOS, *dyck.OPENERS.tolist(), *dyck.CLOSERS.tolist())


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
    study_target: Select | None = None
    """Where the study's code measures it, where that differs from ``target``."""


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
        lambda b: b.mask & np.isin(b.tokens, dyck.CLOSERS),
        lambda b: b.mask & np.isin(b.tokens, dyck.OPENERS),
        +1.0,
        "tok",
        lambda b: b.mask & np.isin(b.tokens, dyck.OPENERS),
        study_target=lambda b: b.mask & np.isin(b.tokens, dyck.CLOSERS),
    ),
}


def study_target(name: str) -> Select:
    """The positions the study's code measures vector ``name``'s effect on."""
    spec = TOY_VECTORS[name]
    return spec.study_target or spec.target


def toy_vector(name: str, acts: np.ndarray, batch: dyck.Batch, site: str) -> SteeringVector:
    """Toy vector ``name`` from a model's activations ``acts`` (n, t, d) at ``site`` on ``batch``."""
    spec = TOY_VECTORS[name]
    plus, minus = spec.plus(batch), spec.minus(batch)
    if not plus.any() or not minus.any():
        raise ValueError(
            f"toy vector {name!r}: the batch of {len(batch)} sequences has {int(plus.sum())} positions on the plus "
            f"side and {int(minus.sum())} on the minus side; a larger analysis batch (task.analysis_n) has both"
        )
    return SteeringVector(name, site, diff_of_means(acts, plus, minus), spec.sign)


@torch.no_grad()
def toy_vectors(model: torch.nn.Module, batch: dyck.Batch, site: str) -> dict[str, SteeringVector]:
    """Every toy vector of ``model`` at ``site``, from one forward pass over ``batch``."""
    with hooks.recorded(model, [site], stop=True) as cache:
        model.eval()(torch.from_numpy(batch.tokens))
    acts = cache[site].numpy()
    return {name: toy_vector(name, acts, batch, site) for name in TOY_VECTORS}


def pinned_basis(weights: Mapping[str, np.ndarray], rtol: float = 1e-6) -> np.ndarray:
    """``(d, k)`` orthonormal columns spanning the W_E rows of ``TASK_TOKENS`` and the W_U
    columns of those tokens (tok head) and of every depth and valid class (raw columns: the
    final norm's gain, trained per seed, is not part of the shared I/O)."""
    tokens = list(TASK_TOKENS)
    rows = np.concatenate(
        [
            weights["W_E"][tokens],
            weights["W_U_tok"][:, tokens].T,
            weights["W_U_depth"].T,
            weights["W_U_valid"].T,
        ]
    ).astype(np.float64)
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    return vt[: int((s > rtol * s[0]).sum())].T


def pinned_fraction(vector: np.ndarray, basis: np.ndarray | None) -> float:
    """Fraction of ``vector``'s squared norm in the span of ``basis`` (0 for no basis)."""
    if basis is None or basis.shape[1] == 0:
        return 0.0
    return float(np.sum((vector @ basis) ** 2) / np.sum(vector**2))


def _trimmed(batch: dyck.Batch) -> dyck.Batch:
    """``batch`` without its all-PAD trailing columns (right-padded and causal: nothing else
    changes)."""
    t = int(batch.mask.sum(1).max())
    return dyck.Batch(batch.tokens[:, :t], batch.depth[:, :t], batch.valid[:, :t])


class _Part:
    """One length bucket of the held-out batch: its clean pass, the clean activations at the
    site, and the clean log-probabilities at its non-PAD positions."""

    @torch.no_grad()
    def __init__(self, model: torch.nn.Module, batch: dyck.Batch, site: str) -> None:
        self.batch = _trimmed(batch)
        self.tokens = torch.from_numpy(self.batch.tokens)
        self.mask = torch.from_numpy(self.batch.mask)
        with hooks.recorded(model, [site]) as cache:
            self.clean = model(self.tokens)
        self.x = cache[site]
        self.ref = {}
        for h in dyck.HEADS:
            logp = torch.log_softmax(self.clean[h][self.mask].float(), dim=-1)
            self.ref[h] = (logp, logp.exp())
        self.targets: dict[tuple[str, bool], tuple[torch.Tensor, torch.Tensor, int]] = {}

    def target(self, name: str, study: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(target positions, their labels, how many the clean pass gets right) for vector
        ``name``, at its target or (``study``) where the study's code measures it."""
        if (name, study) not in self.targets:
            spec = TOY_VECTORS[name]
            where = torch.from_numpy((study_target(name) if study else spec.target)(self.batch))
            labels = torch.from_numpy(self.batch.labels()[spec.head])[where]
            self.targets[name, study] = (where, labels, _correct(self.clean, spec.head, where, labels))
        return self.targets[name, study]


def _correct(logits: Mapping[str, torch.Tensor], head: str, where: torch.Tensor, labels: torch.Tensor) -> int:
    return int((logits[head][where].argmax(-1) == labels).sum())


class ToyEffects:
    """Effects of steering one toy model at one site on one held-out batch: one clean pass,
    then every dose resumes at the site from the clean activations there (nothing before the
    site is computed again). The batch is sorted by length into ``buckets`` parts, each cut
    after its longest sequence (right-padded and causal, so the effects are the same; fewer
    PAD positions are computed)."""

    def __init__(self, model: torch.nn.Module, batch: dyck.Batch, site: str, buckets: int = 2) -> None:
        self.model = model.eval()
        self.site = site
        order = np.argsort(batch.mask.sum(1), kind="stable")
        self.parts = [
            _Part(self.model, dyck.Batch(batch.tokens[i], batch.depth[i], batch.valid[i]), site)
            for i in np.array_split(order, buckets)
            if len(i)
        ]
        self.n_positions = sum(int(p.mask.sum()) for p in self.parts)

    @torch.no_grad()
    def __call__(self, vector: SteeringVector, alpha: float, target: str | None = None) -> dict[str, float]:
        """``kl``: mean over non-PAD positions and the three heads of KL(unsteered ‖ steered)
        (``kl_from``: float32 elementwise, float64 sums); ``accuracy_drop``: the accuracy of
        the head that vector ``target`` (default: this vector's name) targets, on its
        positions, unsteered minus steered (NaN where the batch has no such position);
        ``accuracy_drop_study_target``: the same where the study's code measures it."""
        if vector.site != self.site:
            raise ValueError(f"vector {vector.name} is for {vector.site}, these effects are at {self.site}")
        name = target or vector.name
        head = TOY_VECTORS[name].head
        kl = 0.0
        counts = {False: [0, 0, 0], True: [0, 0, 0]}  # per target: positions, right clean, right steered
        with vector.apply(self.model, alpha):
            for part in self.parts:
                steered = self.model(part.tokens, start=(self.site, part.x))
                kl += sum(float(kl_from(*part.ref[h], steered[h][part.mask])) for h in dyck.HEADS)
                for study, c in counts.items():
                    where, labels, right = part.target(name, study)
                    c[0], c[1] = c[0] + len(labels), c[1] + right
                    c[2] += _correct(steered, head, where, labels)

        def drop(c: list[int]) -> float:
            return (c[1] - c[2]) / c[0] if c[0] else float("nan")

        return {
            "kl": kl / (len(dyck.HEADS) * self.n_positions),
            "accuracy_drop": drop(counts[False]),
            "n_target": counts[False][0],
            "accuracy_drop_study_target": drop(counts[True]),
            "n_study_target": counts[True][0],
        }
