"""Turning a preregistered claim into judged units: which table, which column, which rows.

A claim in preregistration.md names ``table`` (a per-arm audit, Haar or drift table, or an
arm-free one: ``haar_power``, ``decoy``), ``column``, optionally ``sites`` (a site set of
``polyrot.selection.site_set``, e.g. ``internal``: every audited site but the first, the
embedding; only for per-arm tables) and ``where`` (equalities on other columns, e.g.
``{frame: raw}``), plus the comparison and threshold that ``verdicts`` applies to every
selected row. Rows are selected by ``polyrot.selection``, as the ledger selects them. Where the table has the columns
``<column>_ci95_lo`` and ``<column>_ci95_hi`` (a bootstrap over held-out sequences), each unit
carries that interval as ``ci95``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from polyrot import selection

KEY_COLUMNS = (
    "bar",
    "cohort",
    "anchor",
    "other",
    "model",
    "checkpoint",
    "site",
    "expansion",
    "frame",
    "d",
    "alternative",
    "test",
    "vector",
    "alpha",
    "condition",
)


def claim_units(
    spec: Mapping[str, Any],
    tables: Mapping[tuple[str, str], str | os.PathLike[str]],
    arm_sites: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """One unit per selected row of the claim's table in every arm.

    ``tables`` maps (arm, table name) to a TSV path (arm ``"all"`` for tables that belong to
    no arm, such as the Haar power table); ``arm_sites`` maps arm to its audited sites.
    """
    units = []
    which = spec.get("sites", "all")
    for (arm, table), path in sorted(tables.items()):
        if table != spec["table"]:
            continue
        what = f"claim on {path}"
        frame = pd.read_csv(path, sep="\t", comment="#")
        if which != "all":
            frame = selection.select_sites(frame, selection.site_set(which, arm_sites[arm]), what)
        frame = selection.select(frame, spec.get("where") or {}, what)
        if frame.empty:
            continue  # this arm has no rows the claim is about (a toy-only claim on the GPT-NeoX table)
        selection.column(frame, spec["column"], what)
        # a bootstrap interval over held-out sequences, where the table carries one
        lo, hi = f"{spec['column']}_ci95_lo", f"{spec['column']}_ci95_hi"
        for _, row in frame.iterrows():
            ident = ":".join(str(row[k]) for k in KEY_COLUMNS if k in row)
            unit = {
                "unit": f"{arm}:{ident}",
                "arm": arm,
                **{k: row[k] for k in KEY_COLUMNS if k in row},
                "value": float(row[spec["column"]]),
            }
            if lo in row and hi in row and pd.notna(row[lo]) and pd.notna(row[hi]):
                unit["ci95"] = [float(row[lo]), float(row[hi])]
            units.append(unit)
    if not units:
        raise ValueError(f"claim selects no rows (table {spec['table']!r}, sites {spec.get('sites', 'all')!r})")
    names = [u["unit"] for u in units]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"claim units are not distinct by the key columns {KEY_COLUMNS}: {twice[:3]}")
    return units
