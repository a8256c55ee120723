"""One steering sweep, the same for both arms: every vector of an anchor at every dose,
within-seed, on each other model unrotated and mapped through the pair's R, and the
norm-matched random control on every model.

An *evaluator* is a callable ``(vector, alpha, target) -> {"kl": ..., ...}`` bound to one
model and its held-out data (``ToyEffects``, ``NeoxEffects``); ``target`` names the vector
whose targeted positions an effect is measured on (a random control is measured where its
vector's effect is).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from polyrot.steering.vector import SteeringVector

Evaluator = Callable[[SteeringVector, float, str], Mapping[str, float]]
CONDITIONS = ("within", "unrotated", "rotated", "random")


def sweep(
    evaluators: Mapping[str, Evaluator],
    anchor: str,
    rotations: Mapping[str, np.ndarray],
    vectors: Mapping[str, SteeringVector],
    alphas: Sequence[float],
    directions: np.ndarray,
    desc: str = "steering",
    rotated: bool = True,
) -> list[dict[str, Any]]:
    """One row per (model, vector, condition, dose).

    ``rotations`` maps every other model to its pair's R (``x_anchor ≈ x_other R``);
    ``directions`` (draws, d) are the random control's unit directions (none: no random
    rows). A random row holds the mean over draws of each effect, its standard deviation
    (``<effect>_sd``) and its 10th and 90th percentiles (``<effect>_q10``, ``<effect>_q90``).
    ``rotated`` false leaves out the vectors mapped through R."""
    plan: list[tuple[str, str, str, SteeringVector]] = []
    for name, v in vectors.items():
        plan.append((anchor, name, "within", v))
        for other, R in rotations.items():
            plan.append((other, name, "unrotated", v))
            if rotated:
                plan.append((other, name, "rotated", v.in_frame_of(R)))
    models = [anchor, *rotations] if len(directions) else []
    total = len(alphas) * (len(plan) + len(models) * len(vectors) * len(directions))
    rows = []
    with tqdm(total=total, desc=desc, unit="dose") as bar:
        for alpha in alphas:
            for model, name, condition, v in plan:
                rows.append(_row(model, name, condition, alpha, evaluators[model](v, alpha, name), v.norm))
                bar.update()
            for model in models:
                for name, v in vectors.items():
                    draws = [evaluators[model](v.along(u), alpha, name) for u in directions]
                    bar.update(len(draws))
                    rows.append(_row(model, name, "random", alpha, _summary(draws), v.norm) | {"n_draws": len(draws)})
    return rows


def _row(model: str, vector: str, condition: str, alpha: float, effects: Mapping[str, float], norm: float) -> dict:
    return {"model": model, "vector": vector, "condition": condition, "alpha": float(alpha), "norm": norm, **effects}


def _summary(draws: Sequence[Mapping[str, float]]) -> dict[str, float]:
    out = {}
    for k in draws[0]:
        values = np.array([d[k] for d in draws], dtype=float)
        out[k] = float(values.mean())
        if not k.startswith("n_"):
            out |= {
                f"{k}_sd": float(values.std(ddof=1)),
                f"{k}_q10": float(np.quantile(values, 0.1)),
                f"{k}_q90": float(np.quantile(values, 0.9)),
            }
    return out


def write_sweep(
    outputs: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    vectors: Mapping[str, SteeringVector],
    about: Mapping[str, Any],
    per_vector: Mapping[str, Mapping[str, Any]],
    header: str,
) -> pd.DataFrame:
    """Write one cohort's (arm's) sweep, each file atomically: ``outputs["effects"]`` the rows
    with ``about``'s cohort and anchor first, ``outputs["vectors"]`` the vectors, and
    ``outputs["meta"]`` ``about`` with d and each vector's norm, sign and ``per_vector``
    entries. Returns the effects table."""
    from polyrot import atomic
    from polyrot.steering.vector import save_vectors

    effects = pd.DataFrame(rows)
    effects.insert(0, "anchor", about["anchor"])
    effects.insert(0, "cohort", about["cohort"])
    save_vectors(outputs["vectors"], dict(vectors))
    meta = {
        **about,
        "d": len(next(iter(vectors.values())).vector),
        "vectors": {name: {"norm": v.norm, "sign": v.sign, **per_vector[name]} for name, v in vectors.items()},
    }
    atomic.write_json(outputs["meta"], meta)
    atomic.write_tsv(outputs["effects"], effects, header=header)
    return effects
