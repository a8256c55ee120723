"""Gathering Snakemake benchmark records into one table."""

import pandas as pd
import pytest

from polyrot import job_timings

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_records_become_rows_and_rule_totals(tmp_path):
    paths = []
    for rule, job, wall, rss, cpu in (
        ("train_toy", "A0", 10.5, 400.0, 9.25),
        ("train_toy", "A1", 11.25, 450.0, 10.0),
        ("extract_toy", "A0-best", 2.0, 300.0, 1.5),
    ):
        path = tmp_path / rule / f"{job}.tsv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(HEADER + f"{wall}\t0:00:10\t{rss}\t1\t1\t1\t0\t0\t0\t{cpu}\n")
        paths.append(path)
    table = job_timings.gather(paths, tmp_path)
    assert table.to_dict("records")[0] == {
        "rule": "train_toy",
        "job": "A0",
        "wall_s": 10.5,
        "max_rss_mb": 400.0,
        "cpu_s": 9.25,
    }
    totals = job_timings.totals(table).set_index("rule")
    assert totals.loc["train_toy"].to_dict() == pytest.approx(
        {"jobs": 2, "wall_s": 21.75, "cpu_s": 19.25, "max_rss_mb": 450.0}
    )
    assert totals.loc["extract_toy", "jobs"] == 1
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["rule", "job", "wall_s", "max_rss_mb", "cpu_s"]
