"""Gather the heavy rules' benchmark records into results/benchmarks/summary.tsv."""

import pandas as pd

from polyrot import atomic, job_timings
from polyrot.scripting import run_script


def main(smk) -> None:
    table = job_timings.gather(smk.input, smk.params.root)
    total = job_timings.totals(table).assign(job="(all)")
    atomic.write_tsv(
        smk.output[0],
        pd.concat([table, total[table.columns.tolist()]], ignore_index=True),
        header="Snakemake benchmark records: wall_s (seconds), max_rss_mb (peak resident MB), cpu_s (CPU seconds);\n"
        "rows with job '(all)' sum a rule's jobs (max_rss_mb: their largest).",
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
