"""Each figure rule's job: its tables read, its figure drawn (polyrot.figures), saved
atomically. The per-figure rules call one of these through their script; `snakemake figures`
calls the same ones on existing results (``regenerate``), so that no figure is drawn by two
pieces of code.

A job takes three mappings, as a rule declares them: ``inputs`` (name -> path or list of
paths), ``params`` and ``outputs`` (name -> path)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polyrot import figures, verdicts

Job = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], None]


def _read_arms(paths, arms) -> pd.DataFrame:
    """The tables of several arms, one below the other, with an ``arm`` column."""
    return pd.concat(
        [pd.read_csv(p, sep="\t", comment="#").assign(arm=a) for p, a in zip(paths, arms, strict=True)],
        ignore_index=True,
    )


def training_curves(inputs, params, outputs) -> None:
    logs = {m: pd.read_csv(p, sep="\t") for m, p in zip(params["models"], inputs["logs"], strict=True)}
    figures.save(figures.training_curves(logs, params["cohorts"]), outputs["png"], outputs["pdf"])


def figure1(inputs, params, outputs) -> None:
    arms = params["arms"]
    figures.save(figures.figure1(_read_arms(inputs["ev"], arms)), outputs["png"], outputs["pdf"])
    cos = _read_arms(inputs["cosine"], arms)
    study = _read_arms(inputs["cosine_study_recipe"], arms)
    figures.save(figures.decoder_cosine_figure(cos, study), outputs["cosine_png"], outputs["cosine_pdf"])


def figure2(inputs, params, outputs) -> None:
    from polyrot import haar
    from polyrot.haar import power as haar_power

    h = params["haar"]
    rng = np.random.default_rng(h["seed"])
    frobenius: dict = {}
    angles: dict = {}
    for path in inputs["matrices"]:
        R = np.load(path)
        d, det = R.shape[0], haar.component(R)
        frobenius.setdefault(d, []).append(haar.frobenius(R))
        angles.setdefault((d, det), []).append(haar.free_angles(R))
    angles = {k: np.concatenate(v) for k, v in angles.items()}
    null = {(d, det): haar.frobenius_null(d, det, rng, h["n_null"]) for (d, det) in angles}
    power = pd.read_csv(inputs["power"], sep="\t", comment="#")
    alt_d = int(min(power["d"]))
    alternatives = {
        name: np.concatenate([haar.free_angles(make(alt_d, rng)) for _ in range(20)])
        for name, make in haar_power.ALTERNATIVES.items()
        if name != "haar_det-1"
    }
    fig = figures.figure2(frobenius, angles, null, power, alternatives, alt_d)
    figures.save(fig, outputs["png"], outputs["pdf"])


def figure3(inputs, params, outputs) -> None:
    effects = _read_arms(inputs["effects"], params["effect_arms"])
    transfer = _read_arms(inputs["transfer"], params["transfer_arms"])
    figures.save(figures.figure3(effects, transfer, "kl"), outputs["png"], outputs["pdf"])
    acc = figures.figure3(effects, transfer, "accuracy_drop")
    figures.save(acc, outputs["accuracy_png"], outputs["accuracy_pdf"])


def figure4(inputs, params, outputs) -> None:
    records = {bar: verdicts.read(p) for bar, p in zip(params["bars"], inputs["verdicts"], strict=True)}
    figures.save(figures.figure4(records, dict(params["scatter"])), outputs["png"], outputs["pdf"])


def drift_figure(inputs, params, outputs) -> None:
    frame = pd.concat([pd.read_csv(p, sep="\t", comment="#") for p in inputs["tables"]], ignore_index=True)
    figures.save(figures.drift_figure(frame), outputs["png"], outputs["pdf"])


JOBS: dict[str, Job] = {
    "training_curves": training_curves,
    "figure1": figure1,
    "figure2": figure2,
    "figure3": figure3,
    "figure4": figure4,
    "drift_figure": drift_figure,
}


def run(name: str, smk: Any) -> None:
    """The job of rule ``name`` on a Snakemake script object."""
    JOBS[name](dict(smk.input.items()), dict(smk.params.items()), dict(smk.output.items()))


def _paths(value: Any) -> list[str]:
    return [str(value)] if isinstance(value, str | Path) else [str(v) for v in value]


def missing_inputs(jobs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per job, the input files that do not exist (jobs with none missing left out)."""
    out = {}
    for name, job in jobs.items():
        absent = [p for value in job["input"].values() for p in _paths(value) if not Path(p).exists()]
        if absent:
            out[name] = absent
    return out


class MissingResults(RuntimeError):
    """Some figures could not be drawn: the results they read do not exist."""


def regenerate(jobs: Mapping[str, Mapping[str, Any]], log: Callable[[str], None] = print) -> list[str]:
    """Draw every figure of ``jobs`` (rule name -> {"input", "params", "output"}) whose inputs
    all exist, computing nothing upstream; then, if any input was missing, raise
    ``MissingResults`` naming every missing file. Returns the files written."""
    missing = missing_inputs(jobs)
    written = []
    for name, job in jobs.items():
        if name in missing:
            continue
        JOBS[name](job["input"], job["params"], job["output"])
        written += [str(p) for p in job["output"].values()]
        log(f"figures: {name} -> {', '.join(str(p) for p in job['output'].values())}")
    if missing:
        lines = [f"  {name}: {path}" for name, paths in missing.items() for path in paths]
        raise MissingResults(
            f"figures: {len(missing)} figure job(s) not redrawn ({', '.join(missing)}); these results are "
            "missing (run the workflow, e.g. `snakemake --cores 2`, to compute them):\n" + "\n".join(lines)
        )
    return written
