"""Helpers of the integration tests: a copy of the workflow in a temporary directory and a
Snakemake call on it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_workflow(repo: Path, dest: Path) -> Path:
    for name in ("Snakefile", "preregistration.md", "preregistration.lock"):
        shutil.copy(repo / name, dest / name)
    for name in ("workflow", "config", "envs", "profiles"):
        shutil.copytree(repo / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc
