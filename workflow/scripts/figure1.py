"""Figure 1 (EV per site with nulls) and the decoder-cosine figure, from every arm's tables. (Drawn by polyrot.figure_jobs, as `snakemake figures` redraws it.)"""

from polyrot import figure_jobs
from polyrot.scripting import run_script


def main(smk) -> None:
    figure_jobs.run("figure1", smk)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
