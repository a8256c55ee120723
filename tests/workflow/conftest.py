"""Workflow tests: the Snakemake DAG of config/test.yaml, run once per session."""

import pytest


@pytest.fixture(scope="session")
def run(tmp_path_factory, repo):
    """The whole DAG of config/test.yaml, run locally once per session."""
    from _workflow import copy_workflow, snakemake

    work = copy_workflow(repo, tmp_path_factory.mktemp("wf"))
    snakemake(work, "--cores", "2", "--configfile", "config/test.yaml")
    return work
