"""Selecting the rows of a results table that a claim or a ledger row is about: one selector
with one semantics for both (``claims.claim_units``, ``ledger``).

A selection names a set of sites (``site_set``) and equalities on other columns
(``select``). A column the selection names but the table lacks is an error, never an empty
selection: a renamed column must not turn a claim or a ledger row into "no rows". Values are
compared as the YAML that wrote them typed them: a number numerically (2 selects 2.0), a
boolean as a boolean (a TSV's ``True``/``False``), anything else as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from polyrot import audit

# the symbolic site sets, in the paper's terms (see ``site_set``)
SITE_SETS = (
    "all",
    "internal",
    "paper",
    "middle",
    "last",
    "late",
    "layer3",
    "from_layer2",
    "study_firing",
)


def site_set(which: str | Sequence[str], sites: Sequence[str], layer3: str | None = None) -> list[str]:
    """The sites ``which`` names among an arm's audited ``sites``: "all"; "internal" (the
    residual sites but the embedding); "paper" (the paper's sites, ``audit.paper_sites``);
    "middle" (those but the first and the last); "last"; "late" (resid_post_1, resid_pre_2);
    "layer3" (the paper's layer 3, the GPT-NeoX steering site ``layer3``); "from_layer2"
    (the paper's sites from layer 2's output on); "study_firing" (the study's firing sites);
    or a list of site names (those of them the arm audits)."""
    if not isinstance(which, str):
        return [s for s in which if s in sites]
    if which not in SITE_SETS:
        raise ValueError(f"unknown site set {which!r} (known: {list(SITE_SETS)})")
    paper = audit.paper_sites(list(sites))
    chosen = {
        "all": list(sites),
        "internal": audit.internal_sites(list(sites)),
        "paper": paper,
        "middle": paper[1:-1],
        "last": paper[-1:],
        "late": [s for s in ("resid_post_1", "resid_pre_2") if s in sites],
        "layer3": [layer3] if layer3 in sites else [],
        "from_layer2": [
            s for s in paper if s == audit.FINAL_NORM_SITE or (s.startswith("resid_post_") and int(s[11:]) >= 2)
        ],
        "study_firing": [
            s for s in ("resid_mid_0", "resid_post_0", "resid_pre_1", "resid_post_1", "resid_pre_2") if s in sites
        ],
    }
    return chosen[which]


def select_sites(frame: pd.DataFrame, sites: Sequence[str] | None, what: str) -> pd.DataFrame:
    """The rows at ``sites`` (None: every row); a table without a ``site`` column is an error
    when sites are asked for."""
    if sites is None:
        return frame
    if "site" not in frame:
        raise KeyError(f"{what} selects sites, but the table has no 'site' column")
    return frame[frame["site"].isin(list(sites))]


def _equal(column: pd.Series, value: Any) -> pd.Series:
    if isinstance(value, bool):
        if column.dtype == bool:
            return column == value
        return column.astype(str).str.lower() == str(value).lower()
    if isinstance(value, (int, float)):
        return pd.to_numeric(column, errors="coerce") == value
    return column.astype(str) == str(value)


def select(frame: pd.DataFrame, where: Mapping[str, Any], what: str) -> pd.DataFrame:
    """The rows of ``frame`` with every ``where`` column equal to its value (see the module's
    docstring); a column the table lacks is an error naming ``what`` selects it."""
    for key, value in where.items():
        if key not in frame:
            raise KeyError(f"{what} selects on column {key!r}, which the table lacks")
        frame = frame[_equal(frame[key], value)]
    return frame


def column(frame: pd.DataFrame, name: str, what: str) -> pd.Series:
    """A column's values as floats; a column the table lacks is an error."""
    if name not in frame:
        raise KeyError(f"{what} reads column {name!r}, which the table lacks")
    return frame[name].astype(float)
