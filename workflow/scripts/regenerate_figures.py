"""`snakemake figures`: every paper figure redrawn from existing results, nothing upstream
recomputed; a missing result is named (all of them) and the job fails."""

import sys

from polyrot import figure_jobs
from polyrot.scripting import run_script


def main(smk) -> None:
    try:
        figure_jobs.regenerate(smk.params.jobs)
    except figure_jobs.MissingResults as e:
        print(e, file=sys.stderr)
        raise


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
