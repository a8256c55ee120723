"""Gate with a summary (rules `bars`, `claims`): one table row per verdict, then print the
verdicts and exit non-zero if strict_bars and any failed."""

import sys

import pandas as pd

from polyrot import atomic, verdicts
from polyrot.scripting import run_script

COLUMNS = (
    "claim",
    "name",
    "verdict",
    "value",
    "comparison",
    "threshold",
    "ratio_to_threshold",
    "near_miss",
    "uncertain",
    "fragile",
    "worst_margin",
    "n_units",
    "n_failing",
    "n_fragile",
)


def main(smk) -> int:
    records = [verdicts.read(p) for p in smk.input]
    table = pd.DataFrame(
        [
            {k: getattr(r, k) for k in COLUMNS}
            | {"amendments": len(r.preregistration["amendments"]), "prereg_sha256": r.preregistration["sha256"]}
            for r in records
        ]
    )
    atomic.write_tsv(smk.output[0], table, header="one row per bar or claim; thresholds from preregistration.md")
    return verdicts.check(smk.input, strict=bool(smk.params.strict), log=smk.log[0])


if __name__ == "__main__":
    sys.exit(run_script(main, snakemake))  # noqa: F821
