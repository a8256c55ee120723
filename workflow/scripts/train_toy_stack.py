"""Train one stack of toy models: a thin wrapper over polyrot.toy.train.train_stack."""

import logging
from pathlib import Path

from safetensors.torch import load_file

from polyrot import atomic, settings
from polyrot.scripting import run_script
from polyrot.toy import train
from polyrot.toy.transformer import IO_PARAMS


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
    members = []
    for model, seed, model_dir in zip(smk.params.models, smk.params.seeds, smk.params.model_dirs, strict=True):
        frozen = None
        if f"frozen_io_{model}" in smk.input.keys():
            weights = load_file(smk.input[f"frozen_io_{model}"])
            frozen = {k: weights[k] for k in IO_PARAMS}
        members.append(train.Member(Path(model_dir), seed, frozen))
    # threads are not a setting of the run (polyrot.settings: no_output): Snakemake's, scaled to --cores
    train_cfg = settings.parse(settings.TrainConfig, {**smk.params.train, "threads": smk.threads})
    task = settings.parse(settings.TaskConfig, smk.params.task)
    states = train.train_stack(members, task, train_cfg, finish_runs=False)
    record = {
        "models": [
            {"model": model, "seed": m.seed, "model_dir": str(m.model_dir), **vars(state)}
            for model, m, state in zip(smk.params.models, members, states, strict=True)
        ]
    }
    atomic.write_json(smk.output.manifest, record)
    for entry in record["models"]:
        logging.info(
            "%s finished at step %d (best %s, stopped early: %s)",
            entry["model"],
            entry["step"],
            entry["best_step"],
            entry["stopped_early"],
        )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
