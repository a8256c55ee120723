"""Gate target: print verdicts; exit non-zero if strict_bars and a bar failed.

With an output (rule `bars`), also writes a summary table first.
"""

import sys

import pandas as pd

from polyrot import io
from polyrot.bars import gate
from polyrot.scripting import run_script


def main(smk) -> int:
    if len(smk.output):
        records = [io.read_json(p) for p in smk.input]
        table = pd.DataFrame(
            [
                {
                    k: r.get(k)
                    for k in (
                        "claim",
                        "name",
                        "verdict",
                        "value",
                        "comparison",
                        "threshold",
                        "ratio_to_threshold",
                        "near_miss",
                        "uncertain",
                        "n_units",
                        "n_failing",
                    )
                }
                | {
                    "amendments": len(r["preregistration"]["amendments"]),
                    "prereg_sha256": r["preregistration"]["sha256"],
                }
                for r in records
            ]
        )
        io.write_tsv(smk.output[0], table, header="one row per bar or claim; thresholds from preregistration.md")
    return gate.check(smk.input, strict=bool(smk.params.strict), log=smk.log[0])


if __name__ == "__main__":
    sys.exit(run_script(main, snakemake))  # noqa: F821
