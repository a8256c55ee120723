"""Every setting reruns what it changes, and nothing else changes what reruns.

For each leaf key of config/test.yaml (its defaults filled in), a config with that one value changed to another
valid value must make ``snakemake -n`` against the completed test run schedule at least
one job, unless the key is on ``polyrot.config.NO_OUTPUT`` (then it must schedule none).
Keys no test.yaml run can exercise alone (the hub's organisation, a local model directory,
a corpus file) are checked from a second config that needs them: in a copy of the completed
run, ``snakemake --touch`` marks that config's jobs done, and the key's change must then
rerun a job. Only Snakemake's public API is used (tests/workflow/_dryrun.py). A setting
covered by neither fails the test, so a new setting needs
a rule that uses it or a place on the no-output list. The converse: the same config with
its keys written in another order reruns nothing.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from polyrot import config, settings

pytestmark = pytest.mark.integration
Raw = dict[str, Any]


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of the leaves of a config: dicts and lists of dicts are walked into."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaves(v, (*path, k))]
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        return [p for i, v in enumerate(node) for p in leaves(v, (*path, i))]
    return [path]


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def get(raw: Raw, path: tuple) -> Any:
    for p in path:
        raw = raw[p]
    return raw


def put(raw: Raw, path: tuple, value: Any) -> None:
    get(raw, path[:-1])[path[-1]] = value


LEAVES = {leaf.key: leaf for leaf in settings.leaves()}


def leaf_of(path: tuple) -> settings.Leaf:
    return LEAVES[generalised(dotted(path))]


def generic(value: Any, leaf: settings.Leaf) -> Any:
    """Another valid value of a scalar, within the setting's bounds."""
    if isinstance(value, bool):
        return not value
    if leaf.choices:
        options = list(leaf.choices)
        return options[(options.index(value) + 1) % len(options)]
    top = leaf.bounds.get("le", leaf.bounds.get("lt"))
    if isinstance(value, int):
        return value + 1 if top is None or value + 1 <= top and value + 1 != leaf.bounds.get("lt") else value - 1
    if isinstance(value, float):
        up = value * 1.25 if value else 0.1
        return up if top is None or up < top else value * 0.8
    raise TypeError("no generic mutation")


def setter(*changes: tuple[str, Any]) -> Callable[[Raw, Path], None]:
    def apply(raw: Raw, workdir: Path) -> None:
        for key, value in changes:
            put(raw, tuple(int(p) if p.isdigit() else p for p in key.split(".")), value)

    return apply


def copied(key: str, name: str) -> Callable[[Raw, Path], None]:
    """Point a file setting at a copy of its file under another name."""

    def apply(raw: Raw, workdir: Path) -> None:
        shutil.copy2(workdir / get(raw, tuple(key.split("."))), workdir / name)
        put(raw, tuple(key.split(".")), name)

    return apply


# Keys the generic rule cannot change alone to a valid value: the change, and where it
# needs a second key changed to stay valid, that change too (named in the comment).
MUTATIONS: dict[str, Callable[[Raw, Path], None]] = {
    "results_dir": setter(("results_dir", "results_elsewhere")),
    "preregistration.document": copied("preregistration.document", "prereg_copy.md"),
    "preregistration.lock": copied("preregistration.lock", "prereg_copy.lock"),
    "cohorts.A.seeds": setter(("cohorts.A.seeds", [0, 1, 2])),
    "cohorts.B.seeds": setter(("cohorts.B.seeds", [100, 101, 102])),
    "train.betas": setter(("train.betas", [0.9, 0.96])),
    # checkpoints must still fall on the drift checkpoint, step 20
    "train.checkpoint_every": setter(("train.checkpoint_every", 10)),
    "audit.toy.sites": setter(("audit.toy.sites", ["resid_pre_0", "resid_mid_0", "resid_post_1", "resid_mid_1"])),
    "audit.toy.sae.expansions": setter(("audit.toy.sae.expansions", [2, 4])),
    "audit.toy.drift.model": setter(("audit.toy.drift.model", "A1")),
    # (also the decoy: it stands in for a cohort anchor)
    "cohorts.A.anchor": setter(("cohorts.A.anchor", 1), ("bars.decoy.model", "A1")),
    # the decoy stands in for a cohort anchor
    "bars.decoy.model": setter(("bars.decoy.model", "B100")),
    # (also drift.early: it must name one of the checkpoints)
    "audit.toy.drift.checkpoints": setter(
        ("audit.toy.drift.checkpoints", ["step000040"]), ("audit.toy.drift.early", "step000040")
    ),
    # (also the steering site, which must be audited)
    "audit.neox.sites": setter(
        ("audit.neox.sites", ["resid_pre_0", "resid_post_1"]), ("steering.neox.site", "resid_post_1")
    ),
    "steering.alphas": setter(("steering.alphas", [1, 2, 4])),
    "steering.toy.study_alphas": setter(("steering.toy.study_alphas", [0.5, 1, 4])),
    "steering.toy.site": setter(("steering.toy.site", "resid_post_1")),
    "steering.neox.site": setter(("steering.neox.site", "resid_post_1")),
    "steering.neox.contrasts": copied("steering.neox.contrasts", "contrasts_copy.yaml"),
    "audit.neox.sae.expansions": setter(("audit.neox.sae.expansions", [2, 4])),
    "audit.neox.drift.model": setter(("audit.neox.drift.model", "tiny-neox-seed2")),
    # (also drift.early, and save_steps so that step5 is written)
    "audit.neox.drift.checkpoints": setter(
        ("neox.family.save_steps", [5, 10, 20]),
        ("audit.neox.drift.checkpoints", ["step5"]),
        ("audit.neox.drift.early", "step5"),
    ),
    "neox.models": setter(("neox.models", ["tiny-neox-seed1", "tiny-neox-seed2", "tiny-neox-seed3"])),
    "neox.anchor": setter(("neox.anchor", "tiny-neox-seed2")),
    # (also local_dir: the family's own models, read as a local source)
    "neox.source": setter(("neox.source", "local"), ("neox.local_dir", "results/neox/models")),
    "neox.family.save_steps": setter(("neox.family.save_steps", [5, 10, 20])),
    # (also save_steps: the final step is always saved)
    "neox.family.steps": setter(("neox.family.steps", 30), ("neox.family.save_steps", [10, 20, 30])),
    # heads must divide hidden_size (16)
    "neox.family.heads": setter(("neox.family.heads", 4)),
}

# Keys no completed test run exercises: (base change, the key's change). In a copy of the
# run, the base change is marked done with --touch; the key's change must then rerun a job.
PARAM_DIFFS: dict[str, tuple[Callable[[Raw, Path], None], Callable[[Raw, Path], None]]] = {
    "neox.hub_org": (
        setter(("neox.source", "hub"), ("neox.hub_org", "EleutherAI")),
        setter(("neox.source", "hub"), ("neox.hub_org", "SomeoneElse")),
    ),
    "neox.local_dir": (
        setter(("neox.source", "local"), ("neox.local_dir", "models_a")),
        setter(("neox.source", "local"), ("neox.local_dir", "models_b")),
    ),
    # a file corpus needs hub or local models (the family trains on python-docs)
    "neox.corpus.source": (
        setter(("neox.source", "local"), ("neox.local_dir", "models")),
        setter(
            ("neox.source", "local"),
            ("neox.local_dir", "models"),
            ("neox.corpus.source", "file"),
            ("neox.corpus.path", "a.jsonl"),
        ),
    ),
    "neox.corpus.path": (
        setter(
            ("neox.source", "local"),
            ("neox.local_dir", "models"),
            ("neox.corpus.source", "file"),
            ("neox.corpus.path", "a.jsonl"),
        ),
        setter(
            ("neox.source", "local"),
            ("neox.local_dir", "models"),
            ("neox.corpus.source", "file"),
            ("neox.corpus.path", "b.jsonl"),
        ),
    ),
    # only without a toy drift analysis (it needs every checkpoint kept)
    "train.keep_all_checkpoints": (
        setter(("audit.toy.drift", None)),
        setter(("audit.toy.drift", None), ("train.keep_all_checkpoints", False)),
    ),
    # drift.early alone: with two checkpoints, pick the other one
    "audit.toy.drift.early": (
        setter(("audit.toy.drift.checkpoints", ["step000020", "step000040"])),
        setter(("audit.toy.drift.checkpoints", ["step000020", "step000040"]), ("audit.toy.drift.early", "step000040")),
    ),
    "audit.neox.drift.early": (
        setter(
            ("neox.family.save_steps", [5, 10, 20]),
            ("audit.neox.drift.checkpoints", ["step5", "step10"]),
            ("audit.neox.drift.early", "step5"),
        ),
        setter(
            ("neox.family.save_steps", [5, 10, 20]),
            ("audit.neox.drift.checkpoints", ["step5", "step10"]),
            ("audit.neox.drift.early", "step10"),
        ),
    ),
    # the other saved revision is the drift checkpoint: save one more
    "neox.revision": (
        setter(("neox.family.save_steps", [5, 10, 20])),
        setter(("neox.family.save_steps", [5, 10, 20]), ("neox.revision", "step5")),
    ),
    # hidden_size alone: 16 -> 32 keeps heads dividing it
    "neox.family.hidden_size": (setter(), setter(("neox.family.hidden_size", 32))),
}


def mutated(base: Raw, path: tuple, workdir: Path) -> Raw:
    raw = copy.deepcopy(base)
    key = dotted(path)
    if key in MUTATIONS:
        MUTATIONS[key](raw, workdir)
    else:
        put(raw, path, generic(get(raw, path), leaf_of(path)))
    config.load(raw)  # a mutation must itself be a valid config
    return raw


def _written(workdir: Path, configs: dict[str, Raw]) -> dict[str, Path]:
    folder = workdir / "mutations"
    folder.mkdir(exist_ok=True)
    files = {}
    for name, raw in configs.items():
        files[name] = folder / f"{len(list(folder.iterdir())):03d}.yaml"
        files[name].write_text(yaml.safe_dump(raw, sort_keys=False))
    return files


def _dryrun(workdir: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_dryrun.py")), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(proc.stdout)


def dry_runs(workdir: Path, configs: dict[str, Raw]) -> dict[str, dict]:
    """What ``snakemake -n`` would rerun under each config, against the results in workdir."""
    files = _written(workdir, configs)
    out = _dryrun(workdir, str(workdir), *map(str, files.values()))
    return {name: out[str(f)] for name, f in files.items()}


def touched_runs(workdir: Path, pairs: dict[str, tuple[Raw, Raw]]) -> dict[str, dict]:
    """For each (before, after): what after reruns once before's jobs are marked done (in a
    copy of workdir)."""
    before = _written(workdir, {k: b for k, (b, _) in pairs.items()})
    after = _written(workdir, {k: a for k, (_, a) in pairs.items()})
    out = _dryrun(workdir, "--touched", str(workdir), *(str(f) for k in pairs for f in (before[k], after[k])))
    return {k: out[str(after[k])] for k in pairs}


def generalised(key: str) -> str:
    """A test.yaml key in the schema's terms: cohort names and list indices become '*'."""
    parts = key.split(".")
    if parts[0] == "cohorts":
        parts[1] = "*"
    return ".".join("*" if p.isdigit() else p for p in parts)


def test_every_setting_is_exercised_or_listed(repo):
    """Every setting of polyrot.settings is changed by the rerun test below (a leaf of the
    test config, defaults filled in) or compared through the DAG's params (PARAM_DIFFS)."""
    base = config.load_file(repo / "config/test.yaml").raw
    changed = {generalised(dotted(p)) for p in leaves(base)} - {k for k in LEAVES if get_or_none(base, k) is None}
    covered = changed | set(PARAM_DIFFS) | set(config.NO_OUTPUT)
    assert set(LEAVES) - covered == set(), "settings no test changes: give them a value in config/test.yaml"
    assert set(config.NO_OUTPUT) <= set(LEAVES)


def get_or_none(raw: Raw, key: str) -> Any:
    for p in key.split("."):
        if not isinstance(raw, dict) or p not in raw:
            return "<walked>"  # a cohort name or list index: not a plain path
        raw = raw[p]
    return raw


def test_every_setting_reruns_what_it_changes(run):
    base = config.load_file(run / "config/test.yaml").raw
    paths = [p for p in leaves(base) if dotted(p) not in PARAM_DIFFS and get(base, p) is not None]
    configs = {dotted(p): mutated(base, p, run) for p in paths}
    configs["#sorted"] = json.loads(json.dumps(base, sort_keys=True))
    pairs = {}
    for key, changes in PARAM_DIFFS.items():
        pairs[key] = tuple(copy.deepcopy(base) for _ in changes)
        for raw, change in zip(pairs[key], changes, strict=True):
            change(raw, run)
            config.load(raw)  # both must be valid configs
    results = dry_runs(run, configs)
    touched = touched_runs(run, pairs)

    errors = {k: r["error"] for k, r in (results | touched).items() if "error" in r}
    assert not errors, errors
    problems = []
    if results["#sorted"]["needrun"]:
        problems.append(f"the same config in another key order reruns {sorted(set(results['#sorted']['needrun']))}")
    silent = [dotted(p) for p in paths if not results[dotted(p)]["needrun"] and dotted(p) not in config.NO_OUTPUT]
    if silent:
        problems.append(f"settings whose change reruns nothing: {silent}")
    loud = {dotted(p): sorted(set(results[dotted(p)]["needrun"])) for p in paths if dotted(p) in config.NO_OUTPUT}
    if any(loud.values()):
        problems.append(f"'changes no output' settings that rerun jobs: {loud}")
    unused = [k for k in PARAM_DIFFS if not touched[k]["needrun"]]
    if unused:
        problems.append(f"settings whose change reruns nothing once the config that needs them has run: {unused}")
    assert not problems, "\n".join(problems)


def test_temp_caches_opt_in_marks_only_activation_caches(run):
    from _workflow import snakemake

    raw = config.load_file(run / "config/test.yaml").raw
    raw["audit"]["temp_caches"] = True
    raw["results_dir"] = "results_temp"
    (run / "temp_caches.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    out = snakemake(run, "-n", "--cores", "1", "--configfile", "temp_caches.yaml").stdout
    removed = re.findall(r"Would remove temporary output (\S+)", out)
    assert removed and all("/acts/" in p and p.endswith(".npz") for p in removed)
    assert {p.split("/")[1] for p in removed} == {"toy", "neox"}
