"""Accuracy table of every model's best and final checkpoint."""

import torch

from polyrot import atomic, settings
from polyrot.scripting import run_script
from polyrot.toy import evaluation, train


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    models = {
        (m, which): train.load_weights(path)
        for which in ("best", "final")
        for m, path in zip(smk.params.models, smk.input[which], strict=True)
    }
    models = dict(sorted(models.items(), key=lambda kv: (smk.params.models.index(kv[0][0]), kv[0][1])))
    table = evaluation.accuracy_table(models, settings.parse(settings.TaskConfig, smk.params.task))
    atomic.write_tsv(
        smk.output[0], table, header="accuracy = fraction of non-PAD positions whose argmax equals the label"
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
