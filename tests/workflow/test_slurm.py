"""The config/test.yaml DAG through profiles/slurm on a real SLURM (`.ci/slurm-up` starts a
single-node one): every cluster job goes through sbatch, the numbers equal a local run's,
and a job that fails on the cluster fails the workflow with its log shown."""

import importlib.util
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow import copy_workflow, snakemake

from polyrot import config

# the squeue status command: a single-node test cluster keeps no accounting for sacct;
# short polling so that the test DAG does not wait 40 s per round
SLURM_ARGS = [
    "--workflow-profile",
    "profiles/slurm",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
]


def _slurm_problem() -> str | None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no SLURM on this machine: run .ci/slurm-up (root, Debian's slurm-wlm and munge) first"
    states = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
    if states.returncode != 0 or "idle" not in states.stdout.split() and "mixed" not in states.stdout.split():
        return f"SLURM is installed but no node is up (sinfo: {states.stdout.strip() or states.stderr.strip()})"
    return None


SLURM_PROBLEM = _slurm_problem()  # sinfo once, at collection
pytestmark = [pytest.mark.integration, pytest.mark.skipif(SLURM_PROBLEM is not None, reason=str(SLURM_PROBLEM))]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, repo):
    work = copy_workflow(repo, tmp_path_factory.mktemp("slurm"))
    proc = snakemake(work, *SLURM_ARGS, "--configfile", "config/test.yaml")
    return work, proc.stdout + proc.stderr


def _localrules(log: str) -> set[str]:
    return set(re.findall(r"^localrule (\w+):", log, flags=re.M))


def _declared_local(repo) -> list[re.Pattern]:
    """The rules workflow/rules/*.smk declares ``localrule: True``, read from the rule files (a
    rule named in a loop, ``name: f"bar_{_bar}"``, as a pattern): Snakemake's public API does
    not list them, and a local run logs every job as local."""
    patterns = []
    for smk in sorted((repo / "workflow/rules").glob("*.smk")):
        current, lines = None, smk.read_text().splitlines()
        for i, line in enumerate(lines):
            if m := re.match(r"\s*(?:rule|checkpoint)\s+(\w+)\s*:", line):
                current = re.escape(m.group(1))
            elif re.match(r"\s*rule\s*:", line):
                current = None
            elif re.match(r"\s*name\s*:", line):
                text = line.split(":", 1)[1].strip() or lines[i + 1].strip()
                name = re.fullmatch(r"f?[\"']([^\"']+)[\"'],?", text).group(1)
                current = "".join(
                    r"\w+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", name)
                )
            elif re.match(r"\s*localrule\s*:\s*True", line):
                assert current is not None, f"{smk.name}:{i + 1}: localrule of an unnamed rule"
                patterns.append(re.compile(current))
    return patterns


def test_every_cluster_job_went_through_sbatch(cluster_run, repo):
    work, log = cluster_run
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    started = set(re.findall(r"^rule \w+:\n(?:.*\n)*?\s+jobid: (\d+)", log, flags=re.M))
    assert submitted and started == set(submitted), "a non-local job ran without sbatch"
    # outside sbatch ran only what the workflow itself declares local (and the target `all`)
    declared = _declared_local(repo)

    def local(name: str) -> bool:
        return name == "all" or any(p.fullmatch(name) for p in declared)

    assert local("ledger") and local("bar_B") and local("python_docs") and not local("train_toy_stack")
    assert all(local(name) for name in _localrules(log)), [n for n in _localrules(log) if not local(n)]
    # SLURM knows every job (finished jobs stay in squeue for MinJobAge; no accounting here)
    ids = sorted(submitted.values(), key=int)
    seen = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T", "-j", ",".join(ids)], capture_output=True, text=True
    ).stdout.split("\n")
    states = dict(line.split() for line in seen if line.strip())
    assert set(states) == set(ids) and set(states.values()) == {"COMPLETED"}
    logs = list((work / ".snakemake/slurm_logs").rglob("*.log"))
    assert len(logs) == len(ids)


def _numbers(path):
    if path.suffix == ".json":
        record = json.loads(path.read_text())
        return np.array([record.get("value", np.nan)] + [u["value"] for u in record.get("units", [])], dtype=float)
    frame = pd.read_csv(path, sep="\t", comment="#")
    return frame.select_dtypes("number").to_numpy(dtype=float)


def test_cluster_outputs_equal_a_local_run(cluster_run, run):
    work, _ = cluster_run
    tables = sorted(p.relative_to(run) for p in (run / "results").rglob("*") if p.suffix in (".tsv", ".json"))
    tables = [t for t in tables if "logs" not in t.parts and "benchmarks" not in t.parts]
    assert len(tables) > 40
    for rel in tables:
        assert (work / rel).exists(), rel
        if rel.suffix == ".json" and "verdict" not in (run / rel).read_text():
            continue  # sidecars with timestamps and paths, not numbers
        # CPU, same threads, same seeds: the numbers are identical, not just close
        np.testing.assert_array_equal(_numbers(work / rel), _numbers(run / rel), err_msg=str(rel))
    for rel in (
        "results/toy/models/A1/best/model.safetensors",
        "results/neox/models/tiny-neox-seed2/step20/model.safetensors",
    ):
        assert (work / rel).read_bytes() == (run / rel).read_bytes(), rel


def test_a_job_that_fails_on_the_cluster_fails_the_workflow_with_its_log(tmp_path, repo):
    work = copy_workflow(repo, tmp_path)
    cfg = config.load_file(work / "config/test.yaml").raw
    cfg["train"]["device"] = "cuda"  # valid config; the node has no GPU, so the job fails there
    (work / "gpu.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/toy/models/B100/final/model.safetensors"
    proc = snakemake(work, target, *SLURM_ARGS, "--configfile", "gpu.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"submitted with SLURM jobid \d+", out)
    assert "torch sees no CUDA device" in out  # the job's own log, shown by show-failed-logs
    assert not (work / target).exists()
