"""Publish one trained toy model: best/, final/, train_log.tsv and the checkpoints something
reads, from the checkpoints its training stack wrote (polyrot.toy.train.finish)."""

import logging
import shutil
from pathlib import Path

from polyrot import atomic
from polyrot.scripting import run_script
from polyrot.toy import train


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
    model = smk.wildcards.model
    entries = [e for e in atomic.read_json(smk.input.manifest)["models"] if e["model"] == model]
    if len(entries) != 1:
        raise RuntimeError(f"{smk.input.manifest} does not list model {model} once")
    entry = entries[0]
    model_dir = Path(smk.output.final).parent.parent
    state = train.finish(model_dir, entry["config_hash"])
    if state.step != entry["step"]:
        raise RuntimeError(
            f"{model_dir}'s newest checkpoint is step {state.step}, its stack finished at {entry['step']}"
        )
    # the intermediate checkpoints something reads, as files of their own (see toy_checkpoint_file)
    for path in smk.output.checkpoints:
        source = model_dir / Path(path).stem / "model.safetensors"
        if not source.is_file():
            raise FileNotFoundError(f"checkpoint {source.parent.name} of {model_dir.name} was not written ({source})")
        with atomic.atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
    logging.info(
        "published %s: step %d (best %s, stopped early: %s)", model, state.step, state.best_step, state.stopped_early
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
