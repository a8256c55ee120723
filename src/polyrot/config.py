"""Configuration: loading, validation with messages that name the key, typed access.

``polyrot.settings`` is the one source of every setting's type, default, bounds,
documentation and cross-field checks. ``load(raw)`` writes a config dict (as Snakemake or
``yaml.safe_load`` produced it: a whole config or an overlay) over the defaults, validates it
and returns a ``Config``: the validated dict with its keys in canonical (sorted) order, read
as attributes, the typed settings beside it, and the few derived facts the workflow needs
(cohorts, models, training stacks, the GPT-NeoX pairs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

if TYPE_CHECKING:
    from polyrot import settings

# polyrot.settings (and pydantic) load on first use: a job that only hashes or reads a model
# does not pay for them.
_TYPED = ("TaskConfig", "TrainConfig", "EarlyStop", "FamilyConfig", "CorpusConfig")


def __getattr__(name: str) -> Any:
    """The typed sections (``config.TaskConfig`` ...) and ``NO_OUTPUT``, from polyrot.settings:
    settings that cannot change any output, so no rule declares them and changing them reruns
    nothing (each field says why, next to its definition)."""
    if name not in (*_TYPED, "NO_OUTPUT"):  # (the import system asks for __path__ and such)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from polyrot import settings

    return getattr(settings, name) if name in _TYPED else settings.no_output()


class ConfigError(ValueError):
    """A config that a setting's type, bounds or a cross-field rule refuses; the message names
    the key."""


def schema() -> dict[str, Any]:
    """The JSON schema of a complete config, generated from ``polyrot.settings``."""
    from polyrot import settings

    return settings.schema()


def merged(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` written over ``base`` as Snakemake merges config files: mappings key by key,
    anything else (lists, scalars, null) replaced whole."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            below = out.get(key)
            out[key] = merged(below if isinstance(below, Mapping) else {}, value)
        else:
            out[key] = value
    return out


def _where(loc: tuple) -> str:
    """A pydantic error location as a dotted config key (no class names)."""
    return ".".join(str(p) for p in loc if p != "[key]") or "<top level>"


def _qualified(where: str, key: str, message: str) -> str:
    prefix = "" if where == "<top level>" else where + "."
    message = re.sub(r"'@([A-Za-z_.]+)'", lambda m: f"'{prefix}{m.group(1)}'", message)
    return f"config key '{prefix}{key}' {message}"


def _describe(error: Mapping[str, Any]) -> list[str]:
    from polyrot import settings

    loc, kind = tuple(error["loc"]), error["type"]
    where = _where(loc)
    if kind == "value_error" and isinstance(error.get("ctx", {}).get("error"), settings.Problems):
        return [_qualified(where, key, message) for key, message in error["ctx"]["error"].problems]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return [f"unknown config key '{where}'"]
    if loc and loc[-1] == "[key]":
        return [f"unknown config key '{where}': {error['msg']}"]
    if kind in ("missing", "missing_argument"):
        return [f"config key '{where}' is required"]
    got = repr(error.get("input"))
    message = error["msg"].replace("a valid tuple", "a list").replace("Tuple should", "The list should")
    return [f"config key '{where}': {message} (got {got if len(got) <= 80 else got[:77] + '...'})"]


def parse(raw: Mapping[str, Any]) -> settings.Settings:
    """``raw`` (a config dict: a whole config or an overlay) over the defaults, as settings;
    ``ConfigError`` lists every problem, each naming its key."""
    import pydantic

    from polyrot import settings

    try:
        return settings.parse(settings.Settings, merged(settings.defaults(), raw))
    except pydantic.ValidationError as e:
        errors = e.errors()
        # a list that lost an invalid item is not also "too short": name the item alone
        below = [tuple(x["loc"]) for x in errors]
        errors = [
            x
            for x in errors
            if not (x["type"] == "too_short" and any(b[: len(x["loc"])] == tuple(x["loc"]) != b for b in below))
        ]
        problems = [line for error in errors for line in _describe(error)]
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems)) from None


def load(raw: Mapping[str, Any]) -> Config:
    """Validate ``raw`` over the defaults and return the config, its keys in canonical (sorted)
    order."""
    from polyrot import settings

    parsed = parse(json.loads(json.dumps(raw)))  # a plain, detached copy
    return Config(canonical(settings.dump(parsed)), parsed)


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
    """The whole validated configuration: ``raw``, the canonical dict rules take their params
    from, and ``settings``, the typed ``polyrot.settings.Settings`` (every key documented there)."""

    def __init__(self, raw: dict[str, Any], typed: settings.Settings) -> None:
        super().__init__(raw)
        self.raw = raw
        self.settings = typed

    def params(self, key: str) -> Any:
        """The setting or section at dotted ``key`` as a rule's ``params`` entry: canonical,
        without the settings that change no output (``NO_OUTPUT``)."""
        node: Any = self.raw
        for part in key.split("."):
            node = node[part]
        from polyrot import settings

        return canonical(_without(node, key, settings.no_output()))

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
        return [arm for arm in ARM_NAMES if self.raw["audit"].get(arm) is not None]

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


def load_file(path: str | Path) -> Config:
    """Read a YAML config file (a whole config or an overlay on the defaults) and ``load`` it."""
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
