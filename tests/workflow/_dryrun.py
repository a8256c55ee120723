"""Many Snakemake dry-runs of one workflow copy, fast: ``python _dryrun.py WORKDIR CONFIG...``
prints one JSON object per config file: the rules of the jobs Snakemake would run
(``needrun``, as ``snakemake -n`` decides it against the results in WORKDIR), every
job's params and inputs (``jobs``, for comparing two configs' DAGs without a run) and the
rules the workflow declares ``localrule: True`` (``localrules``).

Importing Snakemake's plugins costs ~10 s; each dry-run is a fork of one warm process, so
a config costs about a second and no state leaks from one dry-run into the next.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

import snakemake.api  # noqa: F401  (warm imports, inherited by every fork)
import snakemake.executors.dryrun  # noqa: F401
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

import polyrot.audit  # noqa: F401
import polyrot.config  # noqa: F401
import polyrot.prereg  # noqa: F401


def dry_run(args: tuple[str, str]) -> dict:
    workdir, configfile = args
    try:
        with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
            wf = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(configfiles=[Path(configfile)]),
                snakefile=Path(workdir) / "Snakefile",
                workdir=Path(workdir),
            )
            wf.dag(dag_settings=DAGSettings())
            workflow = wf._workflow
            workflow._prepare_dag(forceall=False, ignore_incomplete=False, lock_warn_only=True)
            workflow._build_dag()
            dag = workflow.dag
            jobs = {
                f"{job.rule.name}{sorted(job.wildcards_dict.items())}": {
                    "params": workflow.persistence._params(job),
                    "input": sorted(map(str, job.input)),
                }
                for job in dag.jobs
            }
            return {
                "needrun": sorted(job.rule.name for job in dag.needrun_jobs()),
                "jobs": jobs,
                "localrules": sorted(workflow._localrules),
            }
    except Exception as e:  # a config the workflow refuses: report it, do not hide it
        return {"error": f"{type(e).__name__}: {e}"}


def main(workdir: str, configs: list[str]) -> None:
    with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
        results = pool.map(dry_run, [(workdir, c) for c in configs], chunksize=1)
    json.dump(dict(zip(configs, results, strict=True)), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
