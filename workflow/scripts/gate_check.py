"""Gate without an output (rule `bar_B`): print the verdict; exit non-zero if strict_bars
and it failed."""

import sys

from polyrot import verdicts
from polyrot.scripting import run_script


def main(smk) -> int:
    return verdicts.check(smk.input, strict=bool(smk.params.strict), log=smk.log[0])


if __name__ == "__main__":
    sys.exit(run_script(main, snakemake))  # noqa: F821
