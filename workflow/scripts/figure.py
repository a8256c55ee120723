"""Every figure rule's script: the job polyrot.figure_jobs.JOBS holds under the rule's name
(the same job `snakemake figures` runs on existing results)."""

from polyrot import figure_jobs
from polyrot.scripting import run_script


def main(smk) -> None:
    figure_jobs.run(smk.rule, smk)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
