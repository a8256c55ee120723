"""Accuracy table of every model's best and final checkpoint."""

import torch

from polyrot import config, evaluation, io, train
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    cfg = config.load(smk.config)
    models = {
        (m, which): train.load_weights(cfg.model_dir(m) / which / "model.safetensors")
        for m in smk.params.models
        for which in ("best", "final")
    }
    table = evaluation.accuracy_table(models, cfg.task)
    io.write_tsv(smk.output[0], table, header="accuracy = fraction of non-PAD positions whose argmax equals the label")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
