"""Snakemake `benchmark:` records gathered into one table."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd


def gather(paths: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per record: rule and job (from the path under ``root``: ``<rule>/<job>.tsv``),
    wall seconds, peak resident memory (MB) and CPU seconds; the last row of a record that
    holds several repeats."""
    rows = []
    for path in paths:
        rel = Path(path).relative_to(root)
        record = pd.read_csv(path, sep="\t").iloc[-1]
        rows.append(
            {
                "rule": rel.parts[0],
                "job": rel.with_suffix("").name,
                "wall_s": float(record["s"]),
                "max_rss_mb": float(record["max_rss"]) if pd.notna(record.get("max_rss")) else float("nan"),
                "cpu_s": float(record["cpu_time"]) if pd.notna(record.get("cpu_time")) else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "job", "wall_s", "max_rss_mb", "cpu_s"])


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, summed wall and CPU seconds, the largest peak memory."""
    return (
        table.groupby("rule", sort=True)
        .agg(jobs=("job", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"), max_rss_mb=("max_rss_mb", "max"))
        .reset_index()
        .round({"wall_s": 2, "cpu_s": 2})
    )
