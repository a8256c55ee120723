"""Bar B, behavioural (docs/methods.md §8): mean KL(spec ‖ model) over (sample, position, head).

*Within-seed*: spec = the exact algorithm's labels, one-hot smoothed as
``(1 - eps) * onehot + eps / K``. *Cross-seed*: spec = the cohort anchor's output
distribution. Positions are the non-PAD positions; the mean over (sample, position, head)
equals the mean of the three per-head means because every head sees the same positions.

Beside the registered statistic, ``bar_b_units(..., mixture="study_code",
smoothing="study_code")`` computes Bar B as the study's code did (docs/methods.md §8): sequences drawn
60% from the training mixture with content lengths 2–48, 20% compositional and 20% long, and
the within-seed spec smoothed as ``1 - eps`` on the true class and ``eps / (K - 1)`` on each
other class. It is reported next to the registered statistic, never instead of it.

The interval treats sequences as clusters: the statistic is a ratio ``ΣS_i / ΣN_i`` of
per-sequence KL sums to position counts, and its 95% interval is the normal interval of the
ratio estimator, from streamed sums so that 10^7 samples need constant memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from polyrot.bars import unit_fields
from polyrot.toy import dyck, stacked

if TYPE_CHECKING:
    from polyrot.settings import TaskConfig


Model = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]


SMOOTHINGS = ("registered", "study_code")
"""``registered``: ``(1 - eps) * onehot + eps / K``; ``study_code``: ``1 - eps`` on the true
class and ``eps / (K - 1)`` on each other class."""

MIXTURES = ("training", "study_code")
"""``training``: the training mixture (registered); ``study_code``: 60% training mixture with
content lengths 2–48, 20% compositional, 20% long."""

STUDY_CODE_MIX = {"training_2_48": 0.6, "compositional": 0.2, "long": 0.2}


def _smoothed(k: int, eps: float, smoothing: str) -> tuple[float, float]:
    """(probability of the true class, probability of each other class)."""
    if smoothing == "registered":
        return 1.0 - eps + eps / k, eps / k
    if smoothing == "study_code":
        return 1.0 - eps, eps / (k - 1)
    raise ValueError(f"unknown smoothing {smoothing!r}; use one of {SMOOTHINGS}")


def smoothed_entropy_term(k: int, eps: float, smoothing: str = "registered") -> float:
    """Σ_k p_k log p_k of the smoothed one-hot (the same for every position)."""
    hi, lo = _smoothed(k, eps, smoothing)
    return hi * math.log(hi) + (k - 1) * lo * math.log(lo) if eps > 0 else 0.0


def kl_to_labels(logits: torch.Tensor, labels: torch.Tensor, eps: float, smoothing: str = "registered") -> torch.Tensor:
    """KL(smoothed one-hot ‖ softmax(logits)) per position, float64."""
    k = logits.shape[-1]
    hi, lo = _smoothed(k, eps, smoothing)
    logq = torch.log_softmax(logits.double(), dim=-1)
    true = logq.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    cross = (hi - lo) * true + lo * logq.sum(-1)
    return smoothed_entropy_term(k, eps, smoothing) - cross


def kl_between(ref_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(ref) ‖ softmax(logits)) per position, float64."""
    logp = torch.log_softmax(ref_logits.double(), dim=-1)
    logq = torch.log_softmax(logits.double(), dim=-1)
    return (logp.exp() * (logp - logq)).sum(-1)


def mean_kl(
    ref_logits: Mapping[str, torch.Tensor], logits: Mapping[str, torch.Tensor], mask: torch.Tensor
) -> torch.Tensor:
    """Mean over the three heads of the mean over ``mask``ed positions of KL(ref ‖ logits),
    float64 (differentiable)."""
    return sum(kl_between(ref_logits[h][mask], logits[h][mask]).mean() for h in dyck.HEADS) / len(dyck.HEADS)


@dataclass
class RatioStats:
    """Streamed sums for the clustered ratio estimator ΣS/ΣN."""

    n: int = 0
    s: float = 0.0
    m: float = 0.0
    ss: float = 0.0
    mm: float = 0.0
    sm: float = 0.0

    def add(self, s: np.ndarray, m: np.ndarray) -> None:
        s, m = s.astype(np.float64), m.astype(np.float64)
        self.n += len(s)
        self.s += float(s.sum())
        self.m += float(m.sum())
        self.ss += float((s * s).sum())
        self.mm += float((m * m).sum())
        self.sm += float((s * m).sum())

    @property
    def value(self) -> float:
        return self.s / self.m

    def ci95(self) -> tuple[float, float]:
        r, n = self.value, self.n
        if n < 2:
            return (r, r)
        mean_m = self.m / n
        # sample variance of d_i = S_i - r N_i (its mean is 0 by construction)
        var_d = (self.ss - 2 * r * self.sm + r * r * self.mm) / (n - 1)
        se = math.sqrt(max(var_d, 0.0) / n) / mean_m
        return (r - 1.96 * se, r + 1.96 * se)


@dataclass
class Unit:
    """Accumulators of one judged unit (a model within-seed, or a model against a reference)."""

    kind: str
    model: str
    reference: str | None
    heads: dict[str, RatioStats] = field(default_factory=lambda: {h: RatioStats() for h in dyck.HEADS})
    total: RatioStats = field(default_factory=RatioStats)

    def add(self, per_head: dict[str, torch.Tensor], mask: torch.Tensor) -> None:
        counts = mask.sum(1).cpu().numpy()
        sums = []
        for h in dyck.HEADS:
            s = (per_head[h] * mask).sum(1).cpu().numpy()
            self.heads[h].add(s, counts)
            sums.append(s)
        self.total.add(np.sum(sums, axis=0), len(dyck.HEADS) * counts)

    def result(self) -> dict:
        return {
            **unit_fields(self.model, self.reference),
            "value": self.total.value,
            "ci95": list(self.total.ci95()),
            "per_head": {h: {"value": st.value, "ci95": list(st.ci95())} for h, st in self.heads.items()},
            "n_sequences": self.total.n,
            "n_positions": int(self.total.m / len(dyck.HEADS)),
        }


def study_code_batch(n: int, rng: np.random.Generator, task: TaskConfig) -> dyck.Batch:
    """``n`` sequences in the study code's Bar B mix: 60% training mixture with content lengths
    2–48, 20% compositional, 20% long (counts rounded, the remainder long)."""
    n_train = round(STUDY_CODE_MIX["training_2_48"] * n)
    n_comp = round(STUDY_CODE_MIX["compositional"] * n)
    parts = [
        dyck.sample(n_train, rng, 2, 48, task.p_valid, task.p_open),
        dyck.compositional(n_comp, rng),
        dyck.long(n - n_train - n_comp, rng),
    ]
    return dyck.Batch(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("tokens", "depth", "valid")))


def sample_stream(task: TaskConfig, n_samples: int, batch_size: int, seed: int, mixture: str = "training"):
    """Batches of ``mixture``, a pure function of (seed, batch index, mixture)."""
    if mixture not in MIXTURES:
        raise ValueError(f"unknown mixture {mixture!r}; use one of {MIXTURES}")
    for i, start in enumerate(range(0, n_samples, batch_size)):
        n = min(batch_size, n_samples - start)
        if mixture == "training":
            rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
            yield dyck.sample(n, rng, task.train_min_len, task.train_max_len, task.p_valid, task.p_open)
        else:
            yield study_code_batch(n, np.random.default_rng(np.random.SeedSequence([seed, i, 1])), task)


@torch.no_grad()
def bar_b_units(
    models: Mapping[str, Model],
    references: Mapping[str, str],
    task: TaskConfig,
    n_samples: int,
    batch_size: int,
    seed: int,
    eps: float,
    device: torch.device | str = "cpu",
    progress: bool = True,
    mixture: str = "training",
    smoothing: str = "registered",
) -> list[dict]:
    """Within-seed units for every model, cross-seed units for every ``model -> reference``
    in ``references`` (reference names must be keys of ``models``). ``mixture`` and
    ``smoothing`` default to the registered statistic; ``"study_code"`` gives the study's."""
    _smoothed(2, eps, smoothing)  # refuse an unknown smoothing before any work
    for m, ref in references.items():
        if m not in models or ref not in models:
            raise KeyError(f"cross-seed pair {m}->{ref} names a model that is not given")
    within = {m: Unit("within", m, None) for m in models}
    cross = {m: Unit("cross", m, ref) for m, ref in references.items()}
    forward = stacked.forward_each(models)  # every toy model in one stacked pass
    desc = "Bar B" if mixture == "training" else f"Bar B ({mixture})"
    bar = tqdm(total=n_samples, desc=desc, unit="seq", disable=not progress, mininterval=1.0)
    for batch in sample_stream(task, n_samples, batch_size, seed, mixture):
        tokens = torch.from_numpy(batch.tokens).to(device)
        labels = {h: torch.from_numpy(v).to(device) for h, v in batch.labels().items()}
        mask = (tokens != dyck.PAD).double()
        logits = forward(tokens)
        for name, unit in within.items():
            unit.add({h: kl_to_labels(logits[name][h], labels[h], eps, smoothing) for h in dyck.HEADS}, mask)
        for name, unit in cross.items():
            ref = logits[references[name]]
            unit.add({h: kl_between(ref[h], logits[name][h]) for h in dyck.HEADS}, mask)
        bar.update(len(batch))
    bar.close()
    return [u.result() for u in within.values()] + [u.result() for u in cross.values()]
