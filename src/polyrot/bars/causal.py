"""Bars C and Pr, causal and predictive (docs/methods.md §8): how well one model's attributions predict
the effect of ablating each component of another (or the same) model.

Components: each layer's heads (their output z_h W_O_h into the residual stream) and its
MLP (its output into the stream); 10 in the toy model.

- **Ablation**: a component's output is replaced, at every position, by its mean output at
  that position over the mean batch (the sequences long enough to have that position).
  Beside it, the study's ablation value (``mean_outputs(..., kind="global")``): one mean
  over every non-PAD position of the mean batch, the same vector at every position.
- **Measured effects**, on the evaluation batch: C, the mean over non-PAD positions and the
  three heads of KL(clean || ablated); Pr, the change in loss, the sum over heads of the mean
  cross-entropy over non-PAD positions (the training loss), ablated minus clean.
- **Predicted effects**: integrated gradients along the straight path from the mean output
  to the clean output of one component (the others clean), 32 midpoint steps: the metric's
  change from mean to clean, negated, predicts the ablation's effect (completeness makes
  it exact up to the quadrature). Attribution patching (reported beside it), to first
  order: ours from the ablated run, -grad(metric at the ablated run) . (clean - mean), the
  usual direction of attribution patching (from the corrupted run); and as the study's code
  computes it, from the clean run, grad(metric at the clean run) . (mean - clean). The KL
  from the clean output is minimal (zero) at the clean run, so its gradient there, and its
  clean-point prediction, is zero by construction: the clean-point prediction is the loss's
  (``Pr_ap_clean``) for both bars.
- **Statistic**: Pearson r over the components between predicted and measured. Cross-seed:
  predict with the reference, measure on the other model, each reference head matched to
  the other model's head that Bar P's alignment maps onto it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from polyrot import hooks
from polyrot.bars.behavioural import mean_kl
from polyrot.toy import dyck
from polyrot.toy.evaluation import loss_fn

Patch = Mapping[str, Callable[[torch.Tensor], torch.Tensor]]
IG_STEPS = 32


def components(model: torch.nn.Module) -> list[str]:
    """``L{layer}.H{head}`` and ``L{layer}.MLP``, in forward order."""
    names = []
    for i, block in enumerate(model.blocks):
        names += [f"L{i}.H{h}" for h in range(block.n_heads)] + [f"L{i}.MLP"]
    return names


def forward(model: torch.nn.Module, tokens: torch.Tensor, patch: Patch | None = None, record: dict | None = None):
    """The toy model's forward pass with every component's output exposed (each head added
    in turn, ``per_head``), through ``hooks``: ``record`` receives the outputs, ``patch``
    replaces them (a function of the clean output)."""
    with hooks.patched(model, patch or {}):
        if record is None:
            return model(tokens, per_head=True)
        with hooks.recorded(model, components(model)) as store:
            out = model(tokens, per_head=True)
        record.update(store)
        return out


MEANS = ("position", "global")
"""Ablation values: ``position``, each position's mean over the sequences that reach it
(registered); ``global``, one mean over every non-PAD position, at every position (the study's)."""


def mean_outputs(model: torch.nn.Module, batch: dyck.Batch, kind: str = "position") -> dict[str, torch.Tensor]:
    """Each component's mean output over ``batch`` (see ``MEANS``), as (T, d)."""
    if kind not in MEANS:
        raise ValueError(f"mean kind must be one of {MEANS}, not {kind!r}")
    record: dict[str, torch.Tensor] = {}
    tokens = torch.from_numpy(batch.tokens)
    with torch.no_grad():
        forward(model, tokens, record=record)
    mask = (tokens != dyck.PAD).to(torch.float32)[..., None]  # (b, T, 1)
    if kind == "global":
        n = mask.sum()
        return {name: ((value * mask).sum((0, 1)) / n).expand_as(value[0]) for name, value in record.items()}
    count = mask.sum(0).clamp(min=1.0)
    return {name: (value * mask).sum(0) / count for name, value in record.items()}


def metrics(model: torch.nn.Module, batch: dyck.Batch) -> Callable[[Patch], tuple[torch.Tensor, torch.Tensor]]:
    """Both metrics of one patched forward pass: KL from the clean run (C), and the loss (Pr)."""
    tokens = torch.from_numpy(batch.tokens)
    data = torch.from_numpy(batch.stacked())
    mask = tokens != dyck.PAD
    with torch.no_grad():
        clean = forward(model, tokens)

    def both(patch: Patch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = forward(model, tokens, patch)
        return mean_kl(clean, logits, mask), loss_fn(logits, data).double()

    return both


def split_by_length(batch: dyck.Batch, n_buckets: int) -> list[tuple[dyck.Batch, float]]:
    """``batch`` sorted by length into ``n_buckets`` parts, each cut after its longest
    sequence, with each part's share of the non-PAD positions.

    Both metrics are means over non-PAD positions, so each is the share-weighted sum of the
    parts' metrics, and so is every effect and every prediction (they are linear in the
    metric); trailing PADs change nothing before them under causal attention. On the
    analysis distribution (lengths 4-50 of 64) two parts measured fastest: IG on one model
    over 128 sequences took 35 s in one part, 21 s in two, 23 s in four, 25 s in eight."""
    lengths = batch.mask.sum(1)
    order = np.argsort(lengths, kind="stable")
    total = float(lengths.sum())
    parts = []
    for idx in np.array_split(order, min(n_buckets, len(order))):
        t = int(lengths[idx].max())
        part = dyck.Batch(*(getattr(batch, f)[idx, :t] for f in ("tokens", "depth", "valid")))
        parts.append((part, float(lengths[idx].sum()) / total))
    return parts


def _weighted_sum(parts: Sequence[tuple[dict[str, dict[str, float]], float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for effects, weight in parts:
        for name, values in effects.items():
            acc = out.setdefault(name, dict.fromkeys(values, 0.0))
            for key, value in values.items():
                acc[key] += weight * value
    return out


def measured_effects(
    model: torch.nn.Module, means: Mapping[str, torch.Tensor], batch: dyck.Batch, buckets: int = 2
) -> dict:
    """Per component: C (KL from clean) and Pr (loss change) of its mean-ablation."""
    if buckets > 1:
        return _weighted_sum([(measured_effects(model, means, b, 1), w) for b, w in split_by_length(batch, buckets)])
    both = metrics(model, batch)
    t = batch.tokens.shape[1]
    with torch.no_grad():
        base = float(both({})[1])
        out = {}
        for name in components(model):
            kl, loss = both({name: lambda o, m=means[name][:t]: m.expand_as(o)})
            out[name] = {"C": float(kl), "Pr": float(loss) - base}
    return out


METRICS = ("C", "Pr")
"""C: the mean KL from the clean output; Pr: the loss."""


def predicted_effects(
    model: torch.nn.Module,
    means: Mapping[str, torch.Tensor],
    batch: dyck.Batch,
    steps: int = IG_STEPS,
    buckets: int = 2,
    which: Sequence[str] = METRICS,
) -> dict:
    """Per component, for each metric of ``which``: the integrated-gradient prediction
    (``{m}_ig``) and the attribution-patching ones from the ablated run (``{m}_ap``) and from
    the clean run (``{m}_ap_clean``, the study's) of its ablation's effect."""
    if buckets > 1:
        parts = split_by_length(batch, buckets)
        return _weighted_sum([(predicted_effects(model, means, b, steps, 1, which), w) for b, w in parts])
    unknown = [m for m in which if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}: {METRICS}")
    both = metrics(model, batch)
    tokens = torch.from_numpy(batch.tokens)
    t = tokens.shape[1]
    record: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        forward(model, tokens, record=record)

    def grads(name: str, point: torch.Tensor) -> list[torch.Tensor]:
        """The gradient of each metric of ``which`` at ``point``, from one forward pass.
        (Forward-mode AD would give the directional derivatives alone, but measured twice as
        slow here.)"""
        point = point.detach().requires_grad_(True)
        values = dict(zip(METRICS, both({name: lambda o: point}), strict=True))
        return [torch.autograd.grad(values[m], point, retain_graph=True)[0].double() for m in which]

    out = {}
    for name in components(model):
        clean, mean = record[name], means[name][:t].expand_as(record[name])
        delta = clean - mean
        ig = np.zeros(len(which))
        for k in range(steps):
            ig += [float((g * delta).sum()) / steps for g in grads(name, mean + (k + 0.5) / steps * delta)]
        ap = [float((g * delta).sum()) for g in grads(name, mean)]
        ap_clean = [float((g * delta).sum()) for g in grads(name, clean)]
        # metric(clean) - metric(mean) ~ ig (or ap); the ablation's effect is its negative.
        # From the clean run, metric(mean) - metric(clean) ~ grad . (mean - clean) = -grad . delta
        out[name] = {}
        for i, m in enumerate(which):
            out[name] |= {f"{m}_ig": -float(ig[i]), f"{m}_ap": -ap[i], f"{m}_ap_clean": -ap_clean[i]}
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson r, or None where either side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def batches(mean_n: int, eval_n: int, seed: int) -> tuple[dyck.Batch, dyck.Batch]:
    """The mean batch (the analysis distribution, ``mean_n`` sequences from ``seed``) and the
    held-out evaluation batch (``eval_n`` sequences from ``seed + 1``, none in the mean batch)."""
    from polyrot.toy.extract import heldout_batch

    mean_batch = dyck.analysis_batch(mean_n, seed)
    return mean_batch, heldout_batch(mean_batch, eval_n, seed + 1)


def model_effects(model: torch.nn.Module, mean_batch: dyck.Batch, eval_batch: dyck.Batch) -> dict[str, dict]:
    """One model's ``predicted`` (as the reference) and ``measured`` (as the model measured)
    effects, each ablating to the model's own mean outputs per position; and under
    ``global_mean`` the same with the study's ablation value (one mean at every position),
    predicted on the loss only (the study's C and Pr are both judged on the loss)."""
    means = mean_outputs(model, mean_batch)
    study = mean_outputs(model, mean_batch, "global")
    return {
        "predicted": predicted_effects(model, means, eval_batch),
        "measured": measured_effects(model, means, eval_batch),
        "global_mean": {
            "predicted": predicted_effects(model, study, eval_batch, which=("Pr",)),
            "measured": measured_effects(model, study, eval_batch),
        },
    }


def compare(
    predicted: Mapping[str, Mapping[str, float]],
    measured: Mapping[str, Mapping[str, float]],
    head_perm: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Pearson r of a reference's predictions against another model's measurements, over the
    components; ``head_perm[l][i]`` is the other model's head that reference head i of
    layer l corresponds to (identity when None)."""

    def partner(name: str) -> str:
        layer, part = name.split(".")
        if part == "MLP" or head_perm is None:
            return name
        return f"{layer}.H{int(head_perm[int(layer[1:])][int(part[1:])])}"

    rows = [
        {
            "component": c,
            "other_component": partner(c),
            **predicted[c],
            **{f"measured_{k}": v for k, v in measured[partner(c)].items()},
        }
        for c in predicted
    ]
    col = lambda key: [r[key] for r in rows]  # noqa: E731
    found = {stat: pearson(col(p), col(f"measured_{m}")) for stat, (p, m) in STATISTICS.items() if p in rows[0]}
    return {**found, "components": rows}


STATISTICS = {
    "causal_r_ig": ("C_ig", "C"),
    "predictive_r_ig": ("Pr_ig", "Pr"),
    "causal_r_ap": ("C_ap", "C"),
    "predictive_r_ap": ("Pr_ap", "Pr"),
    # from the clean run the KL's prediction is zero by construction: the loss's predicts both
    "causal_r_ap_clean": ("Pr_ap_clean", "C"),
    "predictive_r_ap_clean": ("Pr_ap_clean", "Pr"),
}
"""Each correlation ``compare`` reports: (predicted key, measured metric), where predicted."""


def bar_units(
    ref: torch.nn.Module,
    other: torch.nn.Module,
    mean_batch: dyck.Batch,
    eval_batch: dyck.Batch,
    head_perm: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Predict with ``ref``, measure on ``other`` (see ``compare``)."""
    predicted = predicted_effects(ref, mean_outputs(ref, mean_batch), eval_batch)
    measured = measured_effects(other, mean_outputs(other, mean_batch), eval_batch)
    return compare(predicted, measured, head_perm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m polyrot.bars.causal",
        description="Predict component-ablation effects with REF and measure them on OTHER; print Bars C and Pr as JSON.",
    )
    parser.add_argument("ref")
    parser.add_argument("other")
    from polyrot import settings  # the options and their defaults

    settings.add_options(parser, settings.Causal, ["mean_n", "eval_n", "seed"])
    parser.add_argument("--same-heads", action="store_true", help="match heads by index instead of aligning (Bar P)")
    args = parser.parse_args(argv)
    from polyrot.bars import parametric
    from polyrot.toy import train

    try:
        (ref_w, n_heads), (other_w, _) = parametric.load_toy(args.ref), parametric.load_toy(args.other)
        if {k: v.shape for k, v in ref_w.items()} != {k: v.shape for k, v in other_w.items()}:
            raise ValueError("the models differ in shape")
        ref, other = train.load_weights(args.ref), train.load_weights(args.other)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    perm = None
    if not args.same_heads:
        perm = [
            p.tolist()
            for p in parametric.align(ref_w, other_w, n_heads, restarts=1, refine_steps=0).alignment.head_perm
        ]
    mean_batch, eval_batch = batches(args.mean_n, args.eval_n, args.seed)
    result = bar_units(ref.eval(), other.eval(), mean_batch, eval_batch, perm)
    print(json.dumps({**result, "head_perm": perm}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
