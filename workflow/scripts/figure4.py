"""Figure 4: the four bars' units against their thresholds; IG vs attribution patching. (Drawn by polyrot.figure_jobs, as `snakemake figures` redraws it.)"""

from polyrot import figure_jobs
from polyrot.scripting import run_script


def main(smk) -> None:
    figure_jobs.run("figure4", smk)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
