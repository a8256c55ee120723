"""Checkpoint drift (docs/methods.md §9): the audit's EV row between two checkpoints of one model.

The *reference* is the model's audited checkpoint (a in the audit's notation, whose SAE is
used) and each earlier checkpoint plays b: its activations are mapped into the reference
frame by a Procrustes R fitted on the fit split, and every number is read on held-out
tokens, with the same three nulls as the cross-seed audit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from polyrot import audit
from polyrot.activations import Cache


def checkpoint_step(name: str) -> int:
    """The training step of a checkpoint or revision name (``step000500``, ``step3000``)."""
    m = re.fullmatch(r"step(\d+)", name)
    if m is None:
        raise ValueError(f"checkpoint {name!r} is not named step<N>")
    return int(m.group(1))


def drift_rows(
    reference: Mapping[str, tuple[Cache, Cache]],
    checkpoint: Mapping[str, tuple[Cache, Cache]],
    saes: Mapping[tuple[str, int], torch.nn.Module],
    sites: Sequence[str],
    null_sites: Mapping[str, str],
    gaussian_n: int,
    seed: int,
    bootstrap_n: int = 0,
) -> list[dict[str, Any]]:
    """One row per (site, expansion) for one earlier checkpoint against the reference.

    ``reference`` and ``checkpoint`` map site to (fit, held-out) caches of the same tokens;
    ``saes`` maps (site, expansion) to the reference checkpoint's SAE; ``bootstrap_n`` > 0
    adds the bootstrap intervals of ``audit.ev_row``.
    """
    rows = []
    for i, site in enumerate(sites):
        (fit_a, held_a), (fit_b, held_b) = reference[site], checkpoint[site]
        if not (np.array_equal(fit_a.token, fit_b.token) and np.array_equal(held_a.token, held_b.token)):
            raise ValueError(f"{site}: the two checkpoints' caches are not of the same tokens")
        rng = np.random.default_rng([seed, i])
        rotations = audit.fit_site_rotations(fit_a.acts, fit_b.acts, checkpoint[null_sites[site]][0].acts, rng)
        R = rotations["procrustes"]
        for (sae_site, expansion), sae in sorted(saes.items()):
            if sae_site != site:
                continue
            row = audit.ev_row(
                sae,
                rotations,
                fit_a.acts,
                fit_b.acts,
                held_a.acts,
                held_b.acts,
                gaussian_n,
                rng,
                sequence=held_a.sequence,
                n_boot=bootstrap_n,
                boot_rng=np.random.default_rng([seed, i, expansion, 2]),
            )
            rows.append(
                {
                    "site": site,
                    "expansion": expansion,
                    "frobenius_to_identity": R.frobenius_to_identity,
                    "sqrt_2d": float(np.sqrt(2 * R.R.shape[0])),
                    "det": float(np.linalg.det(R.R)),
                    **row,
                }
            )
    return rows
