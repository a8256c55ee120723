"""The DAG as Snakemake's dry run prints it (its public command line): what it says of every
job agrees with the workflow's own lists."""

from __future__ import annotations

import re

import pytest
from _workflow import copy_workflow, snakemake

pytestmark = pytest.mark.integration


def _jobs(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """(rule, {directive: [paths]}) of every job ``snakemake -n`` prints."""
    jobs = []
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", text, flags=re.M):
        head = re.match(r"(?:local)?rule (\w+):$", block, flags=re.M)
        if head is None:
            continue
        fields = dict(re.findall(r"^    (input|output|benchmark): (.*)$", block, flags=re.M))
        jobs.append((head.group(1), {k: v.split(", ") for k, v in fields.items()}))
    return jobs


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/test.yaml", "config/paper.yaml"])
def test_every_benchmark_record_is_gathered(repo, tmp_path, configfile):
    """benchmark_table's inputs (a list common.smk keeps) are exactly the records of the
    jobs that write one: a heavy rule given a `benchmark:` is never left out of the table."""
    work = copy_workflow(repo, tmp_path)
    jobs = _jobs(snakemake(work, "-n", "--forceall", "--configfile", configfile).stdout)
    written = {p for _, f in jobs for p in f.get("benchmark", [])}
    (gathered,) = [f["input"] for rule, f in jobs if rule == "benchmark_table"]
    assert written and set(gathered) == written, (sorted(written - set(gathered)), sorted(set(gathered) - written))
