"""Figure 3: steering dose-response (KL on both arms; the toy's targeted accuracy drop). (Drawn by polyrot.figure_jobs, as `snakemake figures` redraws it.)"""

from polyrot import figure_jobs
from polyrot.scripting import run_script


def main(smk) -> None:
    figure_jobs.run("figure3", smk)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
