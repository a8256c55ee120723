"""One hook mechanism for every model the pipeline reads or steers: a site registry per
architecture, one context manager that replaces values at sites (``patched``) and one that
records them (``recorded``).

A *site* is a name such as ``resid_post_1``. ``ARCHITECTURES`` maps each site, per
architecture, to a module of the model and a point on it: ``post`` (the module's output, or
its first element when it returns a tuple) or ``pre`` (its first input). The toy model has
identity ``HookPoint`` modules at each of its sites (as TransformerLens' ``HookPoint``);
Hugging Face decoders are hooked on their own modules. A new decoder family is a table
entry: the path of its layer list and its site templates, where ``{i}`` is a layer index and
``{L}`` the number of layers.

Extraction (``toy.extract``, ``neox.extract``), steering (``SteeringVector.apply``) and the
causal bars' per-component outputs all go through these two context managers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

Edit = Callable[[torch.Tensor], torch.Tensor]


class HookPoint(nn.Module):
    """The identity, named: a place in a forward pass where hooks see (and may replace) the
    value passing through."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass(frozen=True)
class Point:
    """Where a site's value is: ``module`` (a dotted path in the model) and ``kind`` "post"
    (its output) or "pre" (its first input)."""

    module: str
    kind: str = "post"


@dataclass(frozen=True)
class Architecture:
    """A model family's sites: ``layers`` the dotted path of its layer list; ``sites`` (site
    template, module template, point kind), the first match wins."""

    name: str
    layers: str
    sites: tuple[tuple[str, str, str], ...]


ARCHITECTURES: dict[str, Architecture] = {
    "toy": Architecture(
        "toy",
        "blocks",
        (
            ("resid_pre_{L}", "hook_resid_final", "post"),
            ("resid_pre_{i}", "blocks.{i}.hook_resid_pre", "post"),
            ("resid_mid_{i}", "blocks.{i}.hook_resid_mid", "post"),
            ("resid_post_{i}", "blocks.{i}.hook_resid_post", "post"),
            ("mlp_pre_{i}", "blocks.{i}.hook_mlp_pre", "post"),
            ("mlp_post_{i}", "blocks.{i}.hook_mlp_post", "post"),
            # the causal bars' components: each head's output (forward(per_head=True)), each MLP's
            ("L{i}.H{h}", "blocks.{i}.hook_head_out.{h}", "post"),
            ("L{i}.MLP", "blocks.{i}.hook_mlp_out", "post"),
        ),
    ),
    "gpt_neox": Architecture(
        "gpt_neox",
        "gpt_neox.layers",
        (
            ("resid_pre_0", "gpt_neox.emb_dropout", "post"),
            ("resid_post_{i}", "gpt_neox.layers.{i}", "post"),
            # the final layer norm's output: no residual stream, the study's last Pythia site
            ("resid_final", "gpt_neox.final_layer_norm", "post"),
        ),
    ),
    "gpt2": Architecture(
        "gpt2",
        "transformer.h",
        (
            ("resid_pre_0", "transformer.drop", "post"),
            ("resid_post_{i}", "transformer.h.{i}", "post"),
            ("resid_final", "transformer.ln_f", "post"),
        ),
    ),
    "llama": Architecture(
        "llama",
        "model.layers",
        (
            ("resid_pre_{i}", "model.layers.{i}", "pre"),
            ("resid_post_{i}", "model.layers.{i}", "post"),
            ("resid_final", "model.norm", "post"),
        ),
    ),
}


def architecture_of(model: nn.Module) -> Architecture:
    """The registry entry of ``model``: the toy model, or a Hugging Face model by its
    ``config.model_type``."""
    from polyrot.toy.transformer import ToyTransformer

    if isinstance(model, ToyTransformer):
        return ARCHITECTURES["toy"]
    kind = getattr(getattr(model, "config", None), "model_type", None)
    if kind not in ARCHITECTURES:
        raise ValueError(
            f"no site registry for a {type(model).__name__} (model_type {kind!r}): {sorted(ARCHITECTURES)}"
        )
    return ARCHITECTURES[kind]


@functools.cache
def _regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join(f"(?P<{p[1:-1]}>\\d+)" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def names_a_site(arch: str, site: str) -> bool:
    """Whether ``site`` is a site name of architecture ``arch`` for some number of layers
    (config validation, before any model exists)."""
    return any(_regex(template).match(site) for template, _, _ in ARCHITECTURES[arch].sites)


def _n_layers(model: nn.Module, arch: Architecture) -> int:
    return len(model.get_submodule(arch.layers))


def point_of(model: nn.Module, site: str) -> Point:
    """Where ``site`` is in ``model`` (``ValueError`` naming the sites it knows if nowhere)."""
    arch = architecture_of(model)
    n = _n_layers(model, arch)
    for template, module, kind in arch.sites:
        m = _regex(template).match(site)
        if m is None:
            continue
        fields = {k: int(v) for k, v in m.groupdict().items()}
        if "L" in fields and fields.pop("L") != n:
            continue
        if "i" in fields and not 0 <= fields["i"] < n:
            raise ValueError(f"site {site!r}: the {arch.name} model has {n} layers")
        return Point(module.format(**fields), kind)
    known = ", ".join(t for t, _, _ in arch.sites)
    raise ValueError(f"unknown {arch.name} site {site!r} (its sites: {known})")


def _order(model: nn.Module) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(model.named_modules())}


def _hook(model: nn.Module, point: Point, fn: Callable[[torch.Tensor], torch.Tensor | None]):
    """Register ``fn`` on ``point``: it sees the value there and may return a replacement."""
    module = model.get_submodule(point.module)
    if point.kind == "pre":

        def pre(_module, args):
            new = fn(args[0])
            return None if new is None else (new, *args[1:])

        return module.register_forward_pre_hook(pre)

    def post(_module, _args, output):
        new = fn(output[0] if isinstance(output, tuple) else output)
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return module.register_forward_hook(post)


_PATCHED = "_polyrot_patched_sites"


@contextmanager
def patched(model: nn.Module, edits: Mapping[str, Edit]) -> Iterator[nn.Module]:
    """While inside, the value at each site of ``edits`` is replaced by ``edits[site](value)``
    (steering, ablation, an interpolated component output). A site already patched by an
    enclosing ``patched`` is refused, so two edits never stack silently."""
    active: set[str] = getattr(model, _PATCHED, set())
    twice = sorted(set(edits) & active)
    if twice:
        raise RuntimeError(f"{', '.join(twice)} already patched")
    handles = [_hook(model, point_of(model, site), fn) for site, fn in edits.items()]
    object.__setattr__(model, _PATCHED, active | set(edits))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()
        object.__setattr__(model, _PATCHED, active)


class _Stop(Exception):
    """Raised after the last recorded site: nothing later in the forward pass is needed."""


@contextmanager
def recorded(model: nn.Module, sites: Sequence[str], stop: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """While inside, the value at each of ``sites`` is stored in the yielded dict as the
    forward pass meets it (after any ``patched`` edit registered before). With ``stop``, the
    forward pass ends after the last of them (in module order), and the ``with`` block ends
    there too: put only the forward call in it."""
    store: dict[str, torch.Tensor] = {}
    points = {site: point_of(model, site) for site in sites}
    last = None
    if stop and points:
        order = _order(model)
        last = max(points.values(), key=lambda p: (order[p.module], p.kind == "post"))

    def keep(site: str, point: Point):
        def fn(value: torch.Tensor) -> None:
            store[site] = value.detach()
            if point == last and all(s in store for s in sites):
                raise _Stop

        return fn

    handles = [_hook(model, p, keep(s, p)) for s, p in points.items()]
    try:
        yield store
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()


def is_hooked(model: nn.Module) -> bool:
    """Whether any hook is registered anywhere in ``model`` (it computes something other
    than its plain function, or records)."""
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
