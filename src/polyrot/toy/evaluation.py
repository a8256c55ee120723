"""Accuracy of a toy model per head on the analysis batch and the two held-out sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from polyrot.toy import dyck

if TYPE_CHECKING:
    from polyrot.settings import TaskConfig


EVAL_SETS = ("analysis", "compositional", "long")
HELDOUT = ("compositional", "long")


def loss_fn(logits: Mapping[str, torch.Tensor], data: torch.Tensor) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy over non-PAD positions (docs/methods.md §3).

    ``data`` is ``(3, batch, T)``: tokens, depth and valid labels.
    """
    mask = data[0] != dyck.PAD
    total = torch.zeros((), device=data.device)
    for i, head in enumerate(dyck.HEADS):
        total = total + F.cross_entropy(logits[head][mask].float(), data[i][mask])
    return total


def eval_sets(task: TaskConfig) -> dict[str, dyck.Batch]:
    """The analysis batch and the two held-out sets, identical for every model."""
    return {
        "analysis": dyck.analysis_batch(task.analysis_n, task.analysis_seed),
        "compositional": dyck.compositional(task.heldout_n, np.random.default_rng([task.heldout_seed, 1])),
        "long": dyck.long(task.heldout_n, np.random.default_rng([task.heldout_seed, 2])),
    }


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, sets: dict[str, dyck.Batch], device: torch.device, batch_size: int = 1024
) -> dict[str, float]:
    """Accuracy per (set, head) over non-PAD positions, and the held-out loss.

    Keys: ``acc_{set}_{head}``, ``loss_heldout``, ``min_heldout_acc`` (min over heads of
    the compositional and long sets).
    """
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    heldout_loss, heldout_n = 0.0, 0
    for name, batch in sets.items():
        correct = {h: 0 for h in dyck.HEADS}
        count = 0
        stacked = torch.from_numpy(batch.stacked())
        for s in range(0, len(batch), batch_size):
            data = stacked[:, s : s + batch_size].to(device)
            logits = model(data[0])
            mask = data[0] != dyck.PAD
            count += int(mask.sum())
            for i, h in enumerate(dyck.HEADS):
                correct[h] += int((logits[h].argmax(-1)[mask] == data[i][mask]).sum())
            if name in HELDOUT:
                heldout_loss += float(loss_fn(logits, data)) * data.shape[1]
                heldout_n += data.shape[1]
        for h in dyck.HEADS:
            out[f"acc_{name}_{h}"] = correct[h] / count
    out["loss_heldout"] = heldout_loss / max(heldout_n, 1)
    out["min_heldout_acc"] = min(out[f"acc_{s}_{h}"] for s in HELDOUT for h in dyck.HEADS)
    model.train(was_training)
    return out


def accuracy_table(models: Mapping[tuple[str, str], torch.nn.Module], task: TaskConfig) -> pd.DataFrame:
    """Tidy accuracies: one row per (model, checkpoint, set, head)."""
    sets = eval_sets(task)
    rows = []
    for (name, which), model in models.items():
        metrics = evaluate(model, sets, torch.device("cpu"))
        for s in EVAL_SETS:
            for h in dyck.HEADS:
                rows.append(
                    {"model": name, "checkpoint": which, "set": s, "head": h, "accuracy": metrics[f"acc_{s}_{h}"]}
                )
    return pd.DataFrame(rows)
