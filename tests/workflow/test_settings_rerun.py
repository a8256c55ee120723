"""Every setting reruns what it changes, and nothing else changes what reruns.

For each leaf key of config/test.yaml, a config with that one value changed to another
valid value must make ``snakemake -n`` against the completed test run schedule at least
one job, unless the key is on ``polyrot.config.NO_OUTPUT`` (then it must schedule none).
Keys no test.yaml run can exercise (the hub's organisation, a local model directory, a
corpus file) are checked by comparing the DAG's job params between two configs that differ
in that key alone. A schema key covered by neither fails the test, so a new setting needs
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

from polyrot import config

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


def schema_node(path: tuple) -> dict:
    node = config.schema()
    for p in path:
        if "$ref" in node:
            node = config.schema()["$defs"][node["$ref"].rsplit("/", 1)[1]]
        if "oneOf" in node:
            node = next(n for n in node["oneOf"] if n.get("type") != "null")
        if isinstance(p, int):
            node = node["items"]
        elif p in node.get("properties", {}):
            node = node["properties"][p]
        else:
            node = next(iter(node["patternProperties"].values()))
    return node


def generic(value: Any, node: dict) -> Any:
    """Another valid value of a scalar, within the schema's bounds."""
    if isinstance(value, bool):
        return not value
    if "enum" in node:
        options = node["enum"]
        return options[(options.index(value) + 1) % len(options)]
    top = node.get("maximum", node.get("exclusiveMaximum"))
    if isinstance(value, int):
        return value + 1 if top is None or value + 1 <= top and value + 1 != node.get("exclusiveMaximum") else value - 1
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

# Keys no completed test run exercises: (base change, the key's change); the DAG's job
# params under the two configs must differ.
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
        lambda raw, workdir: raw["audit"]["toy"].pop("drift"),
        lambda raw, workdir: (raw["audit"]["toy"].pop("drift"), put(raw, ("train", "keep_all_checkpoints"), False)),
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
        put(raw, path, generic(get(raw, path), schema_node(path)))
    config.load(raw)  # a mutation must itself be a valid config
    return raw


def dry_runs(workdir: Path, configs: dict[str, Raw]) -> dict[str, dict]:
    folder = workdir / "mutations"
    folder.mkdir(exist_ok=True)
    files = {}
    for name, raw in configs.items():
        files[name] = folder / f"{len(files):03d}.yaml"
        files[name].write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_dryrun.py")), str(workdir), *map(str, files.values())],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    out = json.loads(proc.stdout)
    return {name: out[str(f)] for name, f in files.items()}


def schema_leaves(node: dict, path: tuple = ()) -> set[str]:
    if "$ref" in node:
        node = config.schema()["$defs"][node["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in node:
        node = next(n for n in node["oneOf"] if n.get("type") != "null")
    if node.get("type") == "array" and node.get("items", {}).get("type") == "object":
        return schema_leaves(node["items"], (*path, "*"))
    children = dict(node.get("properties", {}))
    children.update(("*", n) for n in node.get("patternProperties", {}).values())
    if node.get("type") != "object" or not children:
        return {dotted(path)}
    return set().union(*(schema_leaves(n, (*path, k)) for k, n in children.items()))


def generalised(key: str) -> str:
    """A test.yaml key in the schema's terms: cohort names and list indices become '*'."""
    parts = key.split(".")
    if parts[0] == "cohorts":
        parts[1] = "*"
    return ".".join("*" if p.isdigit() else p for p in parts)


def test_every_schema_key_is_exercised_or_listed(repo):
    base = yaml.safe_load((repo / "config/test.yaml").read_text())
    covered = {generalised(dotted(p)) for p in leaves(base)} | set(PARAM_DIFFS) | set(config.NO_OUTPUT)
    assert schema_leaves(config.schema()) - covered == set(), "settings no test changes: add them to config/test.yaml"
    assert set(config.NO_OUTPUT) <= schema_leaves(config.schema())


def test_every_setting_reruns_what_it_changes(run):
    base = yaml.safe_load((run / "config/test.yaml").read_text())
    paths = leaves(base)
    paths = [p for p in paths if dotted(p) not in PARAM_DIFFS]
    configs = {dotted(p): mutated(base, p, run) for p in paths}
    for key, (before, after) in PARAM_DIFFS.items():
        for tag, change in (("before", before), ("after", after)):
            raw = copy.deepcopy(base)
            change(raw, run)
            config.load(raw)
            configs[f"{key}#{tag}"] = raw
    configs["#sorted"] = json.loads(json.dumps(base, sort_keys=True))
    results = dry_runs(run, configs)

    errors = {k: r["error"] for k, r in results.items() if "error" in r}
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
    same = [k for k in PARAM_DIFFS if results[f"{k}#before"]["jobs"] == results[f"{k}#after"]["jobs"]]
    if same:
        problems.append(f"settings that reach no job's params or inputs: {same}")
    assert not problems, "\n".join(problems)


def test_temp_caches_opt_in_marks_only_activation_caches(run):
    from _workflow import snakemake

    raw = yaml.safe_load((run / "config/test.yaml").read_text())
    raw["audit"]["temp_caches"] = True
    raw["results_dir"] = "results_temp"
    (run / "temp_caches.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    out = snakemake(run, "-n", "--cores", "1", "--configfile", "temp_caches.yaml").stdout
    removed = re.findall(r"Would remove temporary output (\S+)", out)
    assert removed and all("/acts/" in p and p.endswith(".npz") for p in removed)
    assert {p.split("/")[1] for p in removed} == {"toy", "neox"}
