"""Train one toy model: a thin wrapper over polyrot.toy.train.train."""

import logging
import shutil
from pathlib import Path

from safetensors.torch import load_file

from polyrot import atomic, config
from polyrot.scripting import run_script
from polyrot.toy import train
from polyrot.toy.transformer import IO_PARAMS


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
    frozen = None
    if "frozen_io" in smk.input.keys():
        weights = load_file(smk.input.frozen_io)
        frozen = {k: weights[k] for k in IO_PARAMS}
    # threads are not a setting of the run (config.NO_OUTPUT): Snakemake's, scaled to --cores
    train_cfg = config.TrainConfig.from_dict({**smk.params.train, "threads": smk.threads})
    model_dir = Path(smk.output.final).parent.parent
    state = train.train(
        model_dir, smk.params.seed, config.TaskConfig.from_dict(smk.params.task), train_cfg, frozen_io=frozen
    )
    # the intermediate checkpoints something reads, as files of their own (see toy_checkpoint_file)
    for path in smk.output.checkpoints:
        source = model_dir / Path(path).stem / "model.safetensors"
        if not source.is_file():
            raise FileNotFoundError(f"checkpoint {source.parent.name} of {model_dir.name} was not written ({source})")
        with atomic.atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
    logging.info("finished at step %d (best %s, stopped early: %s)", state.step, state.best_step, state.stopped_early)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
