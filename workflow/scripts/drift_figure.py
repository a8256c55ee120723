"""The checkpoint-drift figure of every arm with a drift analysis."""

import pandas as pd

from polyrot import figures
from polyrot.scripting import run_script


def main(smk) -> None:
    frame = pd.concat([pd.read_csv(p, sep="\t", comment="#") for p in smk.input], ignore_index=True)
    figures.save(figures.drift_figure(frame), smk.output.png, smk.output.pdf)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
