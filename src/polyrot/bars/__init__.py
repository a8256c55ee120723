"""The four bars (docs/methods.md §8): each computes units of a statistic, which
``polyrot.verdicts`` judges against preregistration.md. Every bar names its units alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def unit_fields(model: str, reference: str | None = None) -> dict[str, Any]:
    """The identity of one judged unit: ``model`` within-seed (``reference`` None or the
    model itself), or ``model`` against ``reference`` cross-seed."""
    within = reference is None or reference == model
    return {
        "unit": f"within:{model}" if within else f"cross:{model}|{reference}",
        "kind": "within" if within else "cross",
        "model": model,
        "reference": None if within else reference,
    }


def unit_pairs(models: Iterable[str], references: Mapping[str, str]) -> list[tuple[str, str]]:
    """(model, reference) of every unit of a bar: each model against itself, then against its
    cross-seed reference where it has one."""
    return [(m, ref) for m in models for ref in [m, *([references[m]] if m in references else [])]]
