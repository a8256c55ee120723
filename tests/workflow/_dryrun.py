"""Many Snakemake dry runs of one workflow copy, fast, through Snakemake's public API only.

``python _dryrun.py WORKDIR CONFIG...`` prints one JSON object per config file: ``needrun``,
the rules of the jobs Snakemake would run against the results in WORKDIR (the jobs whose
``snakemake --summary`` plan is "update pending", as ``snakemake -n`` decides it), or
``error`` for a config the workflow refuses.

``python _dryrun.py --touched WORKDIR BEFORE AFTER [BEFORE AFTER ...]``: for each pair, in a
copy of WORKDIR, mark BEFORE's jobs as done (``snakemake --touch``: their outputs and their
params recorded as BEFORE has them), then dry-run AFTER: the jobs a change from BEFORE to
AFTER reruns, for settings that no completed run can exercise (a hub organisation, a local
model directory).

Importing Snakemake's plugins costs ~10 s; each dry run is a fork of one warm process, so a
config costs about a second and no state leaks from one dry run into the next.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import shutil
import sys
import tempfile
from pathlib import Path

import snakemake.api  # noqa: F401  (warm imports, inherited by every fork)
import snakemake.executors.dryrun  # noqa: F401
import snakemake.executors.touch  # noqa: F401
from snakemake.api import SnakemakeApi
from snakemake.settings.enums import Quietness
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

import polyrot.audit  # noqa: F401
import polyrot.config  # noqa: F401
import polyrot.prereg  # noqa: F401


@contextlib.contextmanager
def _dag(workdir: str, configfile: str):
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[Path(configfile)]),
            snakefile=Path(workdir) / "Snakefile",
            workdir=Path(workdir),
        )
        yield wf.dag(dag_settings=DAGSettings())


def needrun(workdir: str, configfile: str) -> list[str]:
    """The rules of the jobs that would run, from the public summary (one row per output)."""
    out = io.StringIO()
    with _dag(workdir, configfile) as dag, contextlib.redirect_stdout(out):
        dag.summary()
    rows = [line.split("\t") for line in out.getvalue().splitlines() if "\t" in line]
    header = rows[0]
    rule, plan = header.index("rule"), header.index("plan")
    return sorted(row[rule] for row in rows[1:] if row[plan] == "update pending")


def dry_run(args: tuple[str, str]) -> dict:
    workdir, configfile = args
    try:
        return {"needrun": needrun(workdir, configfile)}
    except Exception as e:  # a config the workflow refuses: report it, do not hide it
        return {"error": f"{type(e).__name__}: {e}"}


def touched_run(args: tuple[str, str, str]) -> dict:
    workdir, before, after = args
    with tempfile.TemporaryDirectory(dir=Path(workdir).parent) as tmp:
        copy = Path(tmp) / "work"
        shutil.copytree(workdir, copy, symlinks=True, ignore=shutil.ignore_patterns("mutations"))
        try:
            with _dag(str(copy), before) as dag:
                dag.execute_workflow(executor="touch")
            left = needrun(str(copy), before)
            if left:
                return {"error": f"{before} still reruns {sorted(set(left))} after --touch"}
            return {"needrun": needrun(str(copy), after)}
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"}


def main(argv: list[str]) -> None:
    if argv[0] == "--touched":
        workdir, pairs = argv[1], argv[2:]
        jobs = [
            (workdir, str(Path(b).resolve()), str(Path(a).resolve()))
            for b, a in zip(pairs[::2], pairs[1::2], strict=True)
        ]
        with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
            results = pool.map(touched_run, jobs, chunksize=1)
        json.dump(dict(zip(pairs[1::2], results, strict=True)), sys.stdout)
        return
    workdir, configs = argv[0], argv[1:]
    with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
        results = pool.map(dry_run, [(workdir, c) for c in configs], chunksize=1)
    json.dump(dict(zip(configs, results, strict=True)), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
