"""Figures: one function per figure, data in, matplotlib figure out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from polyrot import io  # noqa: E402


def training_curves(logs: Mapping[str, pd.DataFrame], cohorts: Mapping[str, list[str]]) -> Figure:
    """Per cohort (rows): training loss, and min held-out accuracy / depth accuracy per seed."""
    fig, axes = plt.subplots(len(cohorts), 2, figsize=(10, 3.2 * len(cohorts)), squeeze=False)
    for row, (cohort, models) in zip(axes, cohorts.items(), strict=True):
        for model in models:
            df = logs[model]
            row[0].plot(df["step"], df["train_loss"], label=model, lw=1)
            ev = df.dropna(subset=["min_heldout_acc"])
            (line,) = row[1].plot(ev["step"], 1 - ev["min_heldout_acc"], label=f"{model} min held-out", lw=1.2)
            row[1].plot(
                ev["step"],
                1 - ev["acc_analysis_depth"],
                ls="--",
                color=line.get_color(),
                lw=1,
                label=f"{model} analysis depth",
            )
        row[0].set(title=f"cohort {cohort}: training loss", xlabel="step", ylabel="sum of 3 CE (nats)", yscale="log")
        row[1].set(title=f"cohort {cohort}: error rate", xlabel="step", ylabel="1 − accuracy", yscale="log")
        row[1].axhline(0.02, color="grey", lw=0.8, ls=":", label="2% (audit needs ≥98%)")
        for ax in row:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def save(fig: Figure, *paths: str | Path) -> None:
    """Save ``fig`` to each path atomically (format from the suffix) and close it."""
    for p in paths:
        p = Path(p)
        with io.atomic_path(p) as tmp:
            fig.savefig(tmp, format=p.suffix.lstrip("."), dpi=150)
    plt.close(fig)
