"""Train one toy model: a thin wrapper over polyrot.train.train."""

import dataclasses
import logging

from safetensors.torch import load_file

from polyrot import config, train
from polyrot.scripting import run_script
from polyrot.toy_model import IO_PARAMS


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = config.load(smk.config)
    frozen = None
    if "frozen_io" in smk.input.keys():
        weights = load_file(smk.input.frozen_io)
        frozen = {k: weights[k] for k in IO_PARAMS}
    # Snakemake may scale threads down to --cores
    train_cfg = dataclasses.replace(cfg.train, threads=smk.threads)
    state = train.train(smk.params.model_dir, smk.params.seed, cfg.task, train_cfg, frozen_io=frozen)
    logging.info("finished at step %d (best %s, stopped early: %s)", state.step, state.best_step, state.stopped_early)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
