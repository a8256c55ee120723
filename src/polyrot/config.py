"""Configuration: one schema, validation with messages that name the key, typed access.

``config.schema.yaml`` is the one source of every setting's type, bounds, description and
(for the sections library code takes as typed objects) default. ``load(raw)`` validates a
config dict (as Snakemake or ``yaml.safe_load`` produced it) against it, checks the
cross-field rules the schema cannot express, and returns a ``Config``: the validated dict
with its keys in canonical (sorted) order, read as attributes, plus the few derived facts
the workflow needs (cohorts, models, the GPT-NeoX pairs). The typed section classes
(``TaskConfig``, ``TrainConfig``, ``EarlyStop``, ``FamilyConfig``, ``CorpusConfig``) are
generated from the schema, so their fields, defaults and docs cannot drift from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# Settings that cannot change any output, so no rule declares them and changing them reruns
# nothing; every other setting reaches the rules that use it as a `params` entry.
NO_OUTPUT: dict[str, str] = {
    "train.threads": "CPU threads of a training job: how fast, not what (Snakemake may lower it to --cores)",
    "train.data_workers": "processes generating a training job's data: how fast, not what (the same function of seed and step)",
    "neox.extract.threads": "CPU threads of an extraction job",
    "neox.family.threads": "CPU threads of a family training job",
    "audit.temp_caches": "whether activation caches are deleted after use, not what any output holds",
}


class ConfigError(ValueError):
    """A config that the schema or a cross-field rule refuses; the message names the key."""


@cache
def schema() -> dict[str, Any]:
    text = resources.files("polyrot").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: Any) -> str:
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        unknown = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        prefix = "" if where == "<top level>" else where + "."
        names = ", ".join(f"'{prefix}{k}'" for k in unknown)
        hint = f" (allowed: {', '.join(sorted(known))})" if known else ""
        return f"unknown config key {names}{hint}"
    if error.validator == "required":
        return f"config key '{where}': {error.message}"
    if error.validator == "oneOf":
        return f"config key '{where}': {error.instance!r} must be null or an object with threshold and patience"
    return f"config key '{where}': {error.message}"


def _coerce_booleans(raw: Any, node: dict[str, Any]) -> Any:
    """``--config key=true`` reaches us as the string 'true': make it a bool where the
    schema says boolean (and nowhere else)."""
    if node.get("type") == "boolean" and isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if isinstance(raw, dict):
        props = node.get("properties", {})
        pattern_nodes = list(node.get("patternProperties", {}).values())
        for k, v in raw.items():
            child = props.get(k) or (pattern_nodes[0] if pattern_nodes else None)
            if child is not None:
                raw[k] = _coerce_booleans(v, child)
    return raw


def validate(raw: dict[str, Any]) -> None:
    """Raise ``ConfigError`` listing every schema violation and cross-field problem."""
    import jsonschema  # only validation needs it

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _cross_field_problems(raw)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def _cross_field_problems(raw: dict[str, Any]) -> list[str]:
    out = []
    task, train = raw["task"], raw["train"]
    if task["train_min_len"] > task["train_max_len"]:
        out.append(
            f"config key 'task.train_min_len' ({task['train_min_len']}) exceeds "
            f"'task.train_max_len' ({task['train_max_len']})"
        )
    for name, c in raw["cohorts"].items():
        if c["anchor"] not in c["seeds"]:
            out.append(
                f"config key 'cohorts.{name}.anchor' ({c['anchor']}) is not one of 'cohorts.{name}.seeds' {c['seeds']}"
            )
    if train["warmup_steps"] >= train["steps"]:
        out.append(
            f"config key 'train.warmup_steps' ({train['warmup_steps']}) must be smaller than 'train.steps' ({train['steps']})"
        )
    from polyrot.toy.transformer import SITES

    unknown = [site for site in raw["audit"]["toy"]["sites"] if site not in SITES]
    if unknown:
        out.append(f"config key 'audit.toy.sites' names unknown site(s) {unknown} (known: {list(SITES)})")
    if train["checkpoint_every"] > train["steps"]:
        out.append(
            f"config key 'train.checkpoint_every' ({train['checkpoint_every']}) exceeds 'train.steps' ({train['steps']})"
        )
    toy_models = [f"{name}{seed}" for name, c in raw["cohorts"].items() for seed in c["seeds"]]
    anchors = [f"{name}{c['anchor']}" for name, c in raw["cohorts"].items()]
    if raw["bars"]["decoy"]["model"] not in anchors:
        out.append(
            f"config key 'bars.decoy.model' ({raw['bars']['decoy']['model']!r}) is not a cohort anchor "
            f"(anchors: {anchors}); the decoy stands in for an anchor, as in the paper"
        )
    drift = raw["audit"]["toy"].get("drift")
    if drift is not None:
        out += _drift_problems("toy", drift, toy_models)
        for ckpt in drift["checkpoints"]:
            step = int(ckpt[4:])
            if not re.fullmatch(r"step\d{6,}", ckpt):
                out.append(
                    f"config key 'audit.toy.drift.checkpoints': {ckpt!r} is not a toy checkpoint name (stepNNNNNN)"
                )
            elif step % train["checkpoint_every"] or not 0 < step <= train["steps"]:
                out.append(
                    f"config key 'audit.toy.drift.checkpoints': {ckpt} is never written "
                    f"(checkpoints are every {train['checkpoint_every']} steps up to {train['steps']})"
                )
            elif train["early_stop"] is not None and step > train["early_stop"]["patience"]:
                out.append(
                    f"config key 'audit.toy.drift.checkpoints': {ckpt} is later than 'train.early_stop.patience' "
                    f"({train['early_stop']['patience']}), so early stopping could end training before it is written"
                )
        if not train["keep_all_checkpoints"]:
            out.append(
                "config key 'audit.toy.drift' needs 'train.keep_all_checkpoints: true' (earlier checkpoints are pruned)"
            )
    return out + _neox_problems(raw) + _steering_problems(raw)


def _steering_problems(raw: dict[str, Any]) -> list[str]:
    steering, out = raw["steering"], []
    missing = [a for a in (1, 2) if a not in steering["alphas"]]
    if missing:
        out.append(
            f"config key 'steering.alphas' must include {missing}: the registered steering claims read alpha 1 and 2"
        )
    if steering["toy"]["site"] not in raw["audit"]["toy"]["sites"]:
        out.append(
            f"config key 'steering.toy.site' ({steering['toy']['site']!r}) is not an audited site "
            f"{raw['audit']['toy']['sites']}: transfer through R needs the pair's R fitted there"
        )
    if steering["toy"]["eval_n"] > raw["audit"]["heldout_n"]:
        out.append(
            f"config key 'steering.toy.eval_n' ({steering['toy']['eval_n']}) exceeds 'audit.heldout_n' "
            f"({raw['audit']['heldout_n']}), the held-out batch it is taken from"
        )
    neox = steering.get("neox")
    if (neox is None) != (raw.get("neox") is None):
        out.append("config sections 'neox' and 'steering.neox' must be given together (or both left out)")
    elif neox is not None:
        if not re.fullmatch(r"resid_post_\d+", neox["site"]):
            out.append(f"config key 'steering.neox.site' ({neox['site']!r}) must be a layer's output, resid_post_<i>")
        elif neox["site"] not in (sites := raw["audit"].get("neox", {}).get("sites", [])):
            out.append(
                f"config key 'steering.neox.site' ({neox['site']!r}) is not an audited site "
                f"{sites}: transfer through R needs the pair's R fitted there"
            )
        if neox["eval_n"] > raw["neox"]["corpus"]["heldout_sequences"]:
            out.append(
                f"config key 'steering.neox.eval_n' ({neox['eval_n']}) exceeds 'neox.corpus.heldout_sequences' "
                f"({raw['neox']['corpus']['heldout_sequences']})"
            )
    return out


def _drift_problems(arm: str, drift: dict[str, Any], models: list[str]) -> list[str]:
    out = []
    if drift["model"] not in models:
        out.append(f"config key 'audit.{arm}.drift.model' ({drift['model']!r}) is not one of the arm's models {models}")
    if drift["early"] not in drift["checkpoints"]:
        out.append(f"config key 'audit.{arm}.drift.early' ({drift['early']!r}) is not one of its checkpoints")
    return out


def _neox_problems(raw: dict[str, Any]) -> list[str]:
    neox, audit = raw.get("neox"), raw["audit"].get("neox")
    if (neox is None) != (audit is None):
        return ["config sections 'neox' and 'audit.neox' must be given together (or both left out)"]
    if neox is None:
        return []
    out = []
    if neox["anchor"] not in neox["models"]:
        out.append(f"config key 'neox.anchor' ({neox['anchor']!r}) is not one of 'neox.models' {neox['models']}")
    for key, source in (("local_dir", "local"), ("hub_org", "hub"), ("family", "family")):
        if neox["source"] == source and key not in neox:
            out.append(f"config key 'neox.{key}' is required when 'neox.source' is {source}")
    if neox["source"] == "family" and neox["corpus"]["source"] != "python-docs":
        out.append(
            "config key 'neox.corpus.source' must be python-docs when 'neox.source' is family "
            "(the family's tokenizer and training text are the documentation's training documents)"
        )
    if neox["corpus"]["source"] == "file" and "path" not in neox["corpus"]:
        out.append("config key 'neox.corpus.path' is required when 'neox.corpus.source' is file")
    from polyrot import hooks  # the site registry

    bad_sites = [s for s in audit["sites"] if not hooks.names_a_site("gpt_neox", s)]
    if bad_sites:
        out.append(
            f"config key 'audit.neox.sites' names unknown site(s) {bad_sites} (GPT-NeoX sites: resid_pre_0, the "
            "embeddings, resid_post_<i>, the output of layer i, and resid_final, the final layer norm's output)"
        )
    if "resid_final" in audit["sites"] and audit["sites"][-1] != "resid_final":
        out.append("config key 'audit.neox.sites': resid_final (after the final norm) must be the last site")
    drift = audit.get("drift")
    if drift is not None:
        out += _drift_problems("neox", drift, neox["models"])
    family = neox.get("family")
    if neox["source"] == "family" and family is not None:
        unnamed = [m for m in neox["models"] if not re.search(r"-seed\d+$", m)]
        if unnamed:
            out.append(f"config key 'neox.models': family models must end in -seed<N> (the training seed): {unnamed}")
        seeds = [re.search(r"(\d+)$", m).group(1) for m in neox["models"] if m not in unnamed]
        if len(set(map(int, seeds))) != len(seeds):
            out.append("config key 'neox.models': two family models share a seed")
        if family["steps"] not in family["save_steps"]:
            out.append(f"config key 'neox.family.save_steps' must include the final step {family['steps']}")
        if any(s > family["steps"] for s in family["save_steps"]):
            out.append(f"config key 'neox.family.save_steps' has steps beyond 'neox.family.steps' ({family['steps']})")
        saved = {f"step{s}" for s in family["save_steps"]}
        wanted = [neox["revision"], *(drift["checkpoints"] if drift else [])]
        missing = [r for r in wanted if r not in saved]
        if drift and neox["revision"] in drift["checkpoints"]:
            out.append(f"config key 'audit.neox.drift.checkpoints' includes the audited revision {neox['revision']!r}")
        if missing:
            out.append(f"revision(s) {missing} (neox.revision, audit.neox.drift) are not in 'neox.family.save_steps'")
        if family["hidden_size"] % family["heads"]:
            out.append(
                f"config key 'neox.family.heads' ({family['heads']}) must divide hidden_size ({family['hidden_size']})"
            )
        too_deep = [s for s in audit["sites"] if s.startswith("resid_post_") and int(s[11:]) >= family["layers"]]
        if too_deep:
            out.append(f"config key 'audit.neox.sites': {too_deep} but the family has {family['layers']} layers")
    return out


def load(raw: Mapping[str, Any]) -> Config:
    """Validate ``raw`` and return the config, its keys in canonical (sorted) order."""
    raw = _coerce_booleans(json.loads(json.dumps(raw)), schema())  # plain, detached copy
    validate(raw)
    return Config(canonical(raw))


def canonical(obj: Any) -> Any:
    """``obj`` with every mapping's keys sorted (recursively) and tuples as lists: the form
    settings are passed to rules in, so that a config written in another key order is the
    same config to Snakemake's params check."""
    if isinstance(obj, Mapping):
        return {str(k): canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, list | tuple):
        return [canonical(v) for v in obj]
    return obj


class Section(Mapping):
    """A read-only view of a validated config section: ``cfg.train.steps``, ``cfg.train["steps"]``."""

    def __init__(self, data: Mapping[str, Any], where: str = "") -> None:
        self._data = data
        self._where = where

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return Section(value, f"{self._where}{key}.") if isinstance(value, Mapping) else value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key '{self._where}{key}'") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Section({self._where.rstrip('.') or 'config'}: {self._data!r})"


@dataclasses.dataclass(frozen=True)
class Cohort:
    """One cohort of independently seeded toy models (``cohorts.<name>``)."""

    name: str
    seeds: tuple[int, ...]
    anchor: int
    shared_io: bool

    def model(self, seed: int) -> str:
        return f"{self.name}{seed}"

    @property
    def models(self) -> list[str]:
        return [self.model(s) for s in self.seeds]

    @property
    def anchor_model(self) -> str:
        return self.model(self.anchor)


class Config(Section):
    """The whole validated configuration (see ``config.schema.yaml`` for every key)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        super().__init__(raw)
        self.raw = raw

    def params(self, key: str) -> Any:
        """The setting or section at dotted ``key`` as a rule's ``params`` entry: canonical,
        without the settings that change no output (``NO_OUTPUT``)."""
        node: Any = self.raw
        for part in key.split("."):
            node = node[part]
        return canonical(_without(node, key, NO_OUTPUT))

    @property
    def results_dir(self) -> Path:
        return Path(self.raw["results_dir"])

    @property
    def cohorts(self) -> dict[str, Cohort]:
        return {
            name: Cohort(name, tuple(c["seeds"]), c["anchor"], c["shared_io"])
            for name, c in self.raw["cohorts"].items()
        }

    @property
    def models(self) -> list[str]:
        return [m for c in self.cohorts.values() for m in c.models]

    def cohort_of(self, model: str) -> Cohort:
        for c in self.cohorts.values():
            if model in c.models:
                return c
        raise KeyError(f"model {model!r} is in no cohort of the config (models: {self.models})")

    def seed_of(self, model: str) -> int:
        return int(model[1:])

    def needs_anchor(self, model: str) -> bool:
        """Whether ``model`` trains on its cohort anchor's trained I/O (cohort A's other seeds)."""
        cohort = self.cohort_of(model)
        return cohort.shared_io and model != cohort.anchor_model

    @property
    def toy_stacks(self) -> dict[str, list[str]]:
        """The toy training jobs: name -> the models it trains as one stack.

        Models that need no other model's weights (every anchor, every seed of a cohort
        without shared I/O) are stacked first, then the seeds that wait for their anchor's
        trained I/O; each group is cut into stacks of ``train.stack`` in config order. A
        stack's name joins its models with ``+``.
        """
        size = int(self.raw["train"]["stack"])
        stacks: dict[str, list[str]] = {}
        for later in (False, True):
            group = [m for m in self.models if self.needs_anchor(m) == later]
            for i in range(0, len(group), size):
                stacks["+".join(group[i : i + size])] = group[i : i + size]
        return stacks

    def stack_of(self, model: str) -> str:
        """The name of the training stack that trains ``model``."""
        return next(name for name, models in self.toy_stacks.items() if model in models)

    @property
    def arms(self) -> list[str]:
        """The audited arms: toy, and neox where the config has a GPT-NeoX arm."""
        return [arm for arm in ARM_NAMES if arm in self.raw["audit"]]

    @property
    def neox_pairs(self) -> list[tuple[str, str]]:
        """(anchor, other) for every other GPT-NeoX model."""
        neox = self.raw["neox"]
        return [(neox["anchor"], m) for m in neox["models"] if m != neox["anchor"]]

    @property
    def neox_local_dir(self) -> str | None:
        """Where local (and the offline family's) GPT-NeoX models live: ``<dir>/<model>/<revision>/``."""
        neox = self.raw["neox"]
        if neox["source"] == "family":
            return str(self.results_dir / "neox" / "models")
        return neox.get("local_dir")


ARM_NAMES = ("toy", "neox")


def family_seed(model: str) -> int:
    """A family model's training seed, from its ``-seed<N>`` suffix."""
    m = re.search(r"-seed(\d+)$", model)
    if m is None:
        raise ValueError(f"GPT-NeoX family model {model!r} does not end in -seed<N>")
    return int(m.group(1))


def _without(node: Any, key: str, dropped: Mapping[str, str]) -> Any:
    if not isinstance(node, Mapping):
        return node
    return {k: _without(v, f"{key}.{k}", dropped) for k, v in node.items() if f"{key}.{k}" not in dropped}


# ------------------------------------------------- typed sections, generated from the schema
_TYPES = {"integer": int, "number": float, "boolean": bool, "string": str, "array": tuple, "object": dict}


def _node(key: str) -> dict[str, Any]:
    node = schema()
    for part in key.split("."):
        node = node["properties"][part]
        if "oneOf" in node:  # a section that may be null: its object form
            node = {**next(n for n in node["oneOf"] if n.get("type") != "null"), "default": node.get("default")}
    return node


def _section_class(name: str, key: str, nested: Mapping[str, type] | None = None) -> type:
    """A frozen dataclass with one field per setting of section ``key``, typed, defaulted and
    documented from the schema; ``from_dict`` builds one from a config section."""
    node, nested = _node(key), dict(nested or {})
    fields, docs = [], []
    for field, spec in node["properties"].items():
        default = spec.get("default")
        if field in nested and isinstance(default, dict):
            value = dataclasses.field(default_factory=lambda c=nested[field], d=default: c(**d))
        else:
            value = dataclasses.field(default=tuple(default) if isinstance(default, list) else default)
        annotation = (
            nested[field].__name__ + " | None" if field in nested else _TYPES[spec.get("type", "string")].__name__
        )
        fields.append((field, annotation, value))
        docs.append(f"    {field}: {spec.get('description', '')}")
    cls = dataclasses.make_dataclass(name, fields, frozen=True, namespace={"from_dict": classmethod(_from_dict)})
    cls.__doc__ = f"The ``{key}`` settings (config.schema.yaml).\n\n" + "\n".join(docs)
    cls.__module__ = __name__
    cls._nested = nested
    return cls


def _from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """An instance from a config section (lists become tuples, nested sections their class)."""
    values = {}
    for k, v in data.items():
        if k in cls._nested and v is not None:
            v = cls._nested[k].from_dict(v)
        values[k] = tuple(v) if isinstance(v, list) else v
    return cls(**values)


TaskConfig = _section_class("TaskConfig", "task")
EarlyStop = _section_class("EarlyStop", "train.early_stop")
TrainConfig = _section_class("TrainConfig", "train", {"early_stop": EarlyStop})
FamilyConfig = _section_class("FamilyConfig", "neox.family")
CorpusConfig = _section_class("CorpusConfig", "neox.corpus")


def load_file(path: str | Path) -> Config:
    """Read a YAML config file and ``load`` it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    return load(yaml.safe_load(path.read_text()) or {})


def sae_seed(seed: int, model: str, shared_init: bool) -> int:
    """The SAE seed of ``model``: ``seed`` if shared, else a stable per-model derivation."""
    if shared_init:
        return seed
    return int(np.random.SeedSequence([seed, zlib.crc32(model.encode())]).generate_state(1)[0])


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
