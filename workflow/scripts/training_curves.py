"""Training-curve figure per cohort."""

import pandas as pd

from polyrot import figures
from polyrot.scripting import run_script


def main(smk) -> None:
    logs = {m: pd.read_csv(p, sep="\t") for m, p in zip(smk.params.models, smk.input, strict=True)}
    fig = figures.training_curves(logs, smk.params.cohorts)
    figures.save(fig, smk.output.png, smk.output.pdf)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
