"""The checkpoint-drift figure of every arm with a drift analysis. (Drawn by polyrot.figure_jobs, as `snakemake figures` redraws it.)"""

from polyrot import figure_jobs
from polyrot.scripting import run_script


def main(smk) -> None:
    figure_jobs.run("drift_figure", smk)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
