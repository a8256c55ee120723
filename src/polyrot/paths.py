"""Every file the workflow writes, as one table of literal patterns below ``results_dir``.

A rule names its files by artefact (``RESULTS("acts", arm=..., ...)`` through the helpers in
``workflow/rules/common.smk``); nothing else types a path. A wildcard given as ``"{model}"``
gives the pattern a rule declares; a concrete name gives one file. ``results/README.md`` is
this table (``python -m polyrot.paths > results/README.md``; a test keeps it current).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artefact:
    pattern: str  # below results_dir, with {wildcards}
    what: str


ARTEFACTS: dict[str, Artefact] = {
    # training
    "toy_model": Artefact(
        "toy/models/{model}/{checkpoint}/model.safetensors", "a toy model's weights: best, final or stepNNNNNN"
    ),
    "toy_meta": Artefact("toy/models/{model}/{checkpoint}/meta.json", "its step, metrics and config hash"),
    "toy_checkpoint": Artefact(
        "toy/models/{model}/checkpoints/{checkpoint}.safetensors",
        "an intermediate checkpoint the drift analysis reads, copied out when training ends",
    ),
    "toy_train_log": Artefact("toy/models/{model}/train_log.tsv", "loss and held-out accuracy per step"),
    "toy_model_dir": Artefact("toy/models/{model}", "the training folder: stepNNNNNN/ checkpoints, best/, final/"),
    "toy_stack": Artefact("toy/stacks/{stack}.json", "what a training stack wrote: each model's steps and hash"),
    "toy_accuracy": Artefact("toy/eval/accuracy.tsv", "accuracy per (model, checkpoint, set, head)"),
    "neox_model": Artefact(
        "neox/models/{model}/{revision}/model.safetensors", "a model of the offline GPT-NeoX family"
    ),
    "neox_train_log": Artefact("neox/models/{model}/train_log.tsv", "its training log"),
    "neox_corpus": Artefact("neox/corpus/{name}", "the offline corpus: documents split into train and held-out"),
    "neox_tokenizer": Artefact("neox/tokenizer/{name}", "the family's byte-level BPE and token stream"),
    # the audit
    "acts": Artefact(
        "{arm}/acts/{model}/{checkpoint}/{site}.{split}.npz", "an activation cache (split fit or heldout)"
    ),
    "sae": Artefact("{arm}/saes/{model}/{site}/x{expansion}.safetensors", "a registered SAE (our recipe)"),
    "sae_metrics": Artefact("{arm}/saes/metrics/{site}.x{expansion}.tsv", "the SAEs' metrics per site"),
    "sae_study_recipe": Artefact(
        "{arm}/saes_study_recipe/{model}/{site}/x{expansion}.safetensors",
        "the paper comparison's SAE (the study's recipe)",
    ),
    "sae_metrics_study_recipe": Artefact("{arm}/saes_study_recipe/metrics/{site}.x{expansion}.tsv", "their metrics"),
    "drift_sae": Artefact(
        "{arm}/saes_drift_early/{model}/{checkpoint}/{site}/x{expansion}.safetensors",
        "the paper-direction drift's SAE, on the early checkpoint (the study's recipe)",
    ),
    "rotation": Artefact(
        "{arm}/rotations/{anchor}__{other}/{site}.{kind}",
        "a pair's fitted R (npy), its nulls (controls.npz) and metadata (json)",
    ),
    "audit_site": Artefact("{arm}/audit/sites/{site}.{table}.tsv", "one site's audit tables"),
    "audit": Artefact(
        "{arm}/audit/{table}.tsv",
        "ev, decoder_cosine, firing, saes; *_study_recipe with the study-recipe SAEs",
    ),
    "haar": Artefact("{arm}/haar/{table}.tsv", "Haar statistics of every R; the paper's pooled test"),
    "haar_power": Artefact("haar/{table}.tsv", "size and power of the Haar tests"),
    "drift": Artefact("{arm}/drift/{table}.tsv", "drift (ours), paper_direction (the study's direction)"),
    "steering": Artefact(
        "{arm}/steering/{kind}/{name}.{ext}", "steering effects/ and vectors/ per cohort; study/ (toy)"
    ),
    "steering_table": Artefact(
        "{arm}/steering/{name}.{ext}", "transfer, dose, control; toy: study_ratios, study_doses"
    ),
    # the bars
    "decoy": Artefact("toy/decoy/{model}/{checkpoint}/model.safetensors", "the decoy every bar judges"),
    "causal_effects": Artefact("bars/causal/{model}.json", "a model's predicted and measured component effects"),
    "study_search": Artefact("bars/P_study_search.json", "Bar P as the study's code searches for it"),
    "decoy_table": Artefact("bars/decoy.tsv", "per bar: the real model passes within-seed, the decoy fails?"),
    # judging
    "verdict": Artefact("{kind}/{name}.json", "a verdict: bars/{B,P,C,Pr}, claims/{claim}, against preregistration.md"),
    "verdict_summary": Artefact("{kind}/summary.tsv", "bars/, claims/ and steering/ summaries"),
    "ledger": Artefact("ledger.{ext}", "the paper's numbers beside ours (tsv, html)"),
    # around the study
    "figure": Artefact("figures/{name}.{ext}", "every figure (png, pdf)"),
    "benchmark": Artefact("benchmarks/{job}/{keys}.tsv", "a heavy job's Snakemake benchmark record"),
    "benchmark_summary": Artefact("benchmarks/summary.tsv", "every record in one table"),
    "log": Artefact("logs/{job}.log", "a job's log"),
    "job_log": Artefact("logs/{job}/{keys}.log", "a job's log, per wildcard values"),
}

_FIELD = re.compile(r"{(\w+)}")


class Results:
    """The table bound to one ``results_dir``: ``results("acts", arm="toy", ...)`` is a path."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __call__(self, artefact: str, /, **wildcards: str) -> Path:
        pattern = ARTEFACTS[artefact].pattern
        needed = set(_FIELD.findall(pattern))
        if needed != set(wildcards):
            raise KeyError(f"artefact {artefact!r} ({pattern}) takes {sorted(needed)}, not {sorted(wildcards)}")
        return self.root / pattern.format(**wildcards)


def readme() -> str:
    """``results/README.md``: the table, one row per artefact."""
    lines = [
        "# results/",
        "",
        "Everything the workflow writes lands here (the default `results_dir`); it is git-ignored",
        "except this file, which `python -m polyrot.paths > results/README.md` writes from the",
        "path table in `src/polyrot/paths.py`.",
        "",
        "| file | what it holds |",
        "| --- | --- |",
    ]
    lines += [f"| `{a.pattern}` | {a.what} |" for a in ARTEFACTS.values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(readme())
