"""Sparse autoencoders (docs/methods.md §6: ReLU SAE with an L1 penalty, unit-norm decoder rows).

``f = relu((x - b_pre) @ W_enc + b_enc)`` and ``x̂ = f @ W_dec + b_pre``. The loss is the
study's own (docs/methods.md §6): ``mean_{batch, dims} (x̂ - x)² + l1 · mean_batch Σ_features |f|``, that
is, the squared error averaged over *every element* (rows × dimensions) and the L1 term
summed over features and averaged over rows. ``l1`` therefore means what it means in the
paper (toy 1e-3, Pythia 1e-5); under an MSE summed over dimensions the same number would be d
times weaker. Before each Adam step the gradient component parallel to each decoder row is
removed; after it every decoder row is renormalised to unit length.

``train_saes_stacked`` trains k independent SAEs in one process with batched matmuls over a
leading k dimension; ``train_sae`` is the same code with k = 1, so SAE i of a stack equals
``train_sae`` on the same data and seed up to float round-off. All randomness (initialisation
and batch order) comes from one ``torch.Generator`` per SAE, seeded with its seed; the global
RNG is never used.

Two recipes (``RECIPES``), the same loss and the same gradient step:

- ``ours`` (the registered SAEs): decoder rows random unit vectors, the encoder their
  transpose, the pre-encoder bias at the data mean, batches drawn without replacement within
  each epoch, and after each step the decoder rows renormalised;
- ``study`` (the paper comparison: the study's ``analysis/lens2_saes.py``): the encoder drawn
  independently, N(0, 1/d), then the decoder (N(0, 1/d_sae), each feature's direction
  normalised), in that order from the generator, as the study draws them after
  ``torch.manual_seed``; biases at zero; every batch drawn with replacement (``randint``);
  after each step the decoder renormalised with the scale moved into the encoder's column
  and bias (the reconstruction unchanged). On the CPU it draws the very numbers the study's
  code draws for the same seed.

``python -m polyrot.sae CACHE.npz [CACHE2.npz ...]`` trains one SAE per activation cache
(stacked) with the given settings and prints each one's metrics (self EV, L0, dead fraction)
as a TSV row, on the cache itself and on a held-out cache beside it: a quick check of how
dense the dictionaries are at settings other than the config's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from polyrot import atomic, files, metrics

Array = np.ndarray | torch.Tensor

META_KEY = "polyrot"
"""Key of the JSON-encoded metadata in a saved SAE's safetensors header."""

LOG_EVERY = 100
"""Steps between host reads of the running loss (the only host syncs in the loop)."""


@dataclass(frozen=True)
class SAEConfig:
    """Training of one sparse autoencoder (docs/methods.md §6): one expansion of an arm's SAE
    settings (``polyrot.settings.SAESettings``, documented there with their defaults; build one
    from them with ``SAEConfig.of``)."""

    expansion: int
    """Dictionary size as a multiple of the input width: ``d_sae = expansion * d``."""
    l1: float
    """Weight of the L1 penalty ``mean_batch Σ_features |f|`` against an MSE averaged over every
    element (rows × dimensions): the study's normalisation, so paper values apply unchanged."""
    lr: float
    """Adam learning rate (constant)."""
    batch_size: int
    """Activation rows per step, drawn without replacement within each epoch."""
    steps: int
    """Optimiser steps."""
    seed: int
    """Seed of the ``torch.Generator`` that draws the initialisation and then the batch order."""
    recipe: str = "ours"
    """``ours`` (registered) or ``study`` (the study's initialisation, sampling and renormalisation)."""

    @classmethod
    def of(
        cls, arm: Mapping[str, Any] | None, expansion: int | None = None, l1: float | None = None, recipe: str = "ours"
    ) -> SAEConfig:
        """One expansion of an arm's SAE settings (``audit.<arm>.sae`` as a rule's params; None:
        the defaults; ``expansion`` None: its first); ``l1`` overrides the arm's (the drift SAEs'
        ``early_sae_l1``)."""
        from polyrot import settings

        s = settings.parse(settings.SAESettings, dict(arm or {}))
        expansion = s.expansions[0] if expansion is None else expansion
        return cls(int(expansion), s.l1 if l1 is None else float(l1), s.lr, s.batch_size, s.steps, s.seed, recipe)


RECIPES = ("ours", "study")


class SAE(torch.nn.Module):
    """A ReLU sparse autoencoder with a pre-encoder bias and unit-norm decoder rows."""

    def __init__(self, d: int, d_sae: int) -> None:
        super().__init__()
        self.d = d
        self.d_sae = d_sae
        self.W_enc = torch.nn.Parameter(torch.zeros(d, d_sae))
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae))
        self.W_dec = torch.nn.Parameter(torch.zeros(d_sae, d))
        self.b_pre = torch.nn.Parameter(torch.zeros(d))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations ``relu((x - b_pre) @ W_enc + b_enc)``, shape (..., d_sae)."""
        return torch.relu(torch.addmm(self.b_enc, (x - self.b_pre).reshape(-1, self.d), self.W_enc)).reshape(
            *x.shape[:-1], self.d_sae
        )

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``f @ W_dec + b_pre``, shape (..., d)."""
        return torch.addmm(self.b_pre, f.reshape(-1, self.d_sae), self.W_dec).reshape(*f.shape[:-1], self.d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x̂, f)``."""
        f = self.encode(x)
        return self.decode(f), f


def _as_tensor(acts: Array) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(acts)) if isinstance(acts, np.ndarray) else acts
    if t.ndim != 2:
        raise ValueError(f"activations must be 2-D (n, d), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError("activations have no rows")
    return t.to(torch.float32)


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=0, dtype=torch.float64).to(torch.float32)


def init_sae(d: int, d_sae: int, data_mean: Array, generator: torch.Generator) -> SAE:
    """Decoder rows random unit vectors (Gaussian, normalised), ``W_enc = W_dec.T``, ``b_enc = 0``,
    ``b_pre = data_mean``. On the CPU; draws ``d_sae * d`` normals from ``generator``."""
    sae = SAE(d, d_sae)
    w = torch.randn(d_sae, d, generator=generator, dtype=torch.float32)
    w /= w.norm(dim=1, keepdim=True)
    mean = torch.as_tensor(np.asarray(data_mean) if not isinstance(data_mean, torch.Tensor) else data_mean)
    if mean.shape != (d,):
        raise ValueError(f"data_mean must have shape ({d},), got {tuple(mean.shape)}")
    with torch.no_grad():
        sae.W_dec.copy_(w)
        sae.W_enc.copy_(w.T)
        sae.b_pre.copy_(mean.to(torch.float32))
    return sae


def init_study_sae(d: int, d_sae: int, generator: torch.Generator) -> SAE:
    """The study's initialisation: ``W_enc`` (its ``(d_sae, d)`` draw, transposed) N(0, 1/d);
    then ``W_dec`` (its ``(d, d_sae)`` draw, N(0, 1/d_sae), each feature's column divided by
    its norm + 1e-9, transposed to our rows); ``b_enc = b_pre = 0``."""
    sae = SAE(d, d_sae)
    w_enc = torch.randn(d_sae, d, generator=generator, dtype=torch.float32) / d**0.5
    w_dec = torch.randn(d, d_sae, generator=generator, dtype=torch.float32) / d_sae**0.5
    w_dec = w_dec / (w_dec.norm(dim=0, keepdim=True) + 1e-9)
    with torch.no_grad():
        sae.W_enc.copy_(w_enc.T)
        sae.W_dec.copy_(w_dec.T)
    return sae


class _ReplacementStream:
    """Row indices drawn with replacement, one ``randint`` of ``batch`` per step (the study's)."""

    def __init__(self, n: int, batch: int, generator: torch.Generator) -> None:
        self.n, self.batch, self.generator = n, batch, generator

    def take(self, count: int) -> torch.Tensor:
        steps = [torch.randint(0, self.n, (self.batch,), generator=self.generator) for _ in range(count // self.batch)]
        return torch.cat(steps)


class _IndexStream:
    """Row indices of an endless sequence of epochs, each a fresh permutation from ``generator``."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n = n
        self.generator = generator
        self.buf = torch.empty(0, dtype=torch.int64)

    def take(self, count: int) -> torch.Tensor:
        pieces, have = [self.buf], self.buf.numel()
        while have < count:
            pieces.append(torch.randperm(self.n, generator=self.generator))
            have += self.n
        flat = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        self.buf = flat[count:]
        return flat[:count]


@torch.no_grad()
def _step(x: torch.Tensor, params: tuple[torch.Tensor, ...], l1: float, running: torch.Tensor) -> None:
    """Set the gradients of the stacked parameters for one batch ``x`` (k, B, d); add the summed
    loss times ``B`` (``B`` times the sum over SAEs of each one's loss) to ``running``.

    The backward pass is written out by hand: it is the gradient of
    ``Σ_k [mean_{B,d} (x̂ - x)² + l1 · mean_B Σ_m f]`` (the tests check it against an autograd
    reference written in the paper's form, ``F.mse_loss`` plus the row-averaged L1), takes
    the encoder's share of ``∂/∂b_pre`` as ``-(Σ_B ∂/∂pre) @ W_encᵀ`` (a matrix-vector product
    instead of autograd's full (B, m) @ (m, d) matmul), and projects out of each decoder row's
    gradient its component along the row.
    """
    W_enc, b_enc, W_dec, b_pre = params
    B, d = x.shape[1], x.shape[2]
    xc = x - b_pre.unsqueeze(1)
    f = torch.baddbmm(b_enc.unsqueeze(1), xc, W_enc).relu_()  # (k, B, m)
    err = torch.baddbmm(b_pre.unsqueeze(1), f, W_dec).sub_(x)  # x̂ - x, (k, B, d)
    running += err.square().sum() / d + l1 * f.sum()  # f ≥ 0, so Σ f = Σ |f|
    g_out = err.mul_(2.0 / (B * d))  # ∂L/∂x̂ of the element-wise mean
    g_dec = torch.bmm(f.transpose(1, 2), g_out)
    g_dec.sub_((g_dec * W_dec).sum(-1, keepdim=True) * W_dec)
    g_pre = torch.bmm(g_out, W_dec.transpose(1, 2)).add_(l1 / B)  # ∂L/∂f
    # ∂L/∂pre = ∂L/∂f where f > 0, else 0 (relu'(0) = 0), in place: ~15x faster than .mul_(f > 0) on CPU.
    torch.ops.aten.threshold_backward.grad_input(g_pre, f, 0.0, grad_input=g_pre)
    g_b_enc = g_pre.sum(1)
    W_enc.grad = torch.bmm(xc.transpose(1, 2), g_pre)
    b_enc.grad = g_b_enc
    W_dec.grad = g_dec
    b_pre.grad = g_out.sum(1) - torch.bmm(g_b_enc.unsqueeze(1), W_enc.transpose(1, 2)).squeeze(1)


def train_sae(acts: Array, cfg: SAEConfig, device: str | torch.device = "cpu", progress: bool = True) -> SAE:
    """Train one SAE on ``acts`` (n, d) with seed ``cfg.seed``; the SAE is returned on ``device``."""
    return train_saes_stacked([acts], cfg, device=device, progress=progress)[0]


def train_saes_stacked(
    acts_list: Sequence[Array],
    cfg: SAEConfig,
    device: str | torch.device = "cpu",
    progress: bool = True,
    seeds: Sequence[int] | None = None,
    recipes: Sequence[str] | None = None,
) -> list[SAE]:
    """Train ``len(acts_list)`` independent SAEs at once (batched matmuls over a leading k axis).

    All sets must share ``d``; their row counts may differ. SAE i uses ``seeds[i]`` (default
    ``cfg.seed`` for all) for its initialisation and batch order, ``recipes[i]`` (default
    ``cfg.recipe`` for all) and sees only ``acts_list[i]``; the summed loss has
    block-diagonal gradients and Adam is elementwise, so each SAE trains exactly as it would
    alone. Returns the SAEs on ``device``.
    """
    k = len(acts_list)
    if k == 0:
        raise ValueError("acts_list is empty")
    seeds = [cfg.seed] * k if seeds is None else [int(s) for s in seeds]
    if len(seeds) != k:
        raise ValueError(f"{len(seeds)} seeds for {k} activation sets")
    recipes = [cfg.recipe] * k if recipes is None else list(recipes)
    if len(recipes) != k or any(r not in RECIPES for r in recipes):
        raise ValueError(f"recipes must be {k} of {RECIPES}, got {recipes}")
    device = torch.device(device)
    tensors = [_as_tensor(a) for a in acts_list]
    d = tensors[0].shape[1]
    if any(t.shape[1] != d for t in tensors):
        raise ValueError(f"activation widths differ: {[t.shape[1] for t in tensors]}")
    d_sae = cfg.expansion * d
    B = cfg.batch_size

    # One generator per SAE: initialisation first, then the batch order.
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    inits = [
        init_study_sae(d, d_sae, g) if r == "study" else init_sae(d, d_sae, _mean(t), g)
        for t, g, r in zip(tensors, gens, recipes, strict=True)
    ]
    streams = [
        _ReplacementStream(t.shape[0], B, g) if r == "study" else _IndexStream(t.shape[0], g)
        for t, g, r in zip(tensors, gens, recipes, strict=True)
    ]
    # the study's renormalisation moves each decoder row's norm into the encoder: 1 = ours
    any_study = "study" in recipes
    moves_scale = torch.tensor([r == "study" for r in recipes], device=device).view(k, 1, 1)
    study_eps = torch.where(moves_scale, 1e-9, 0.0).to(torch.float32)
    offsets = np.cumsum([0] + [t.shape[0] for t in tensors[:-1]]).tolist()
    data = (tensors[0] if k == 1 else torch.cat(tensors)).to(device)

    def stacked(name: str) -> torch.nn.Parameter:
        return torch.nn.Parameter(torch.stack([getattr(s, name).detach() for s in inits]).to(device))

    W_enc, b_enc, W_dec, b_pre = (stacked(n) for n in ("W_enc", "b_enc", "W_dec", "b_pre"))
    params = (W_enc, b_enc, W_dec, b_pre)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    running = torch.zeros((), device=device)

    bar = tqdm(total=cfg.steps, desc=f"SAE x{k}" if k > 1 else "SAE", disable=not progress, mininterval=1.0)
    try:
        step = 0
        while step < cfg.steps:
            chunk = min(LOG_EVERY - step % LOG_EVERY, cfg.steps - step)
            idx = torch.stack([s.take(chunk * B).view(chunk, B) + o for s, o in zip(streams, offsets, strict=True)], 1)
            idx = idx.to(device)
            with torch.no_grad():
                for t in range(chunk):
                    _step(data.index_select(0, idx[t].view(-1)).view(k, B, d), params, cfg.l1, running)
                    opt.step()
                    norms = W_dec.norm(dim=-1, keepdim=True).add_(study_eps)  # (k, m, 1)
                    W_dec.div_(norms)
                    if any_study:
                        scale = torch.where(moves_scale, norms, 1.0)
                        W_enc.mul_(scale.transpose(1, 2))
                        b_enc.mul_(scale.squeeze(-1))
            step += chunk
            bar.update(chunk)
            if progress:
                bar.set_postfix(loss=f"{float(running) / (chunk * k * B):.4g}")
            running.zero_()
    finally:
        bar.close()

    saes = []
    for i in range(k):
        sae = SAE(d, d_sae).to(device)
        with torch.no_grad():
            for name, p in (("W_enc", W_enc), ("b_enc", b_enc), ("W_dec", W_dec), ("b_pre", b_pre)):
                getattr(sae, name).copy_(p[i])
        saes.append(sae)
    return saes


@torch.no_grad()
def sae_metrics(sae: SAE, acts: Array, chunk: int = 8192) -> dict[str, float]:
    """Reconstruction and sparsity of ``sae`` on ``acts`` (n, d), evaluated ``chunk`` rows at a time.

    ``ev_centred`` / ``ev_scalar``: ``polyrot.metrics.explained_variance`` under each convention;
    ``mse``: mean over rows of Σ_dims (x̂ - x)²; ``l0``: mean number of active (> 0) features per
    row; ``dead_fraction``: fraction of features active on no row.
    """
    x = _as_tensor(acts)
    device = sae.W_dec.device
    x_hat = torch.empty_like(x, device="cpu")
    active = torch.zeros(sae.d_sae, dtype=torch.bool, device=device)
    l0 = torch.zeros((), dtype=torch.float64, device=device)
    for lo in range(0, x.shape[0], chunk):
        xb = x[lo : lo + chunk].to(device)
        rec, f = sae(xb)
        on = f > 0
        l0 += on.sum(dtype=torch.float64)
        active |= on.any(dim=0)
        x_hat[lo : lo + chunk] = rec.cpu()
    ev = metrics.both(x, x_hat)
    return {
        "ev_centred": ev["centred"],
        "ev_scalar": ev["scalar"],
        "l0": float(l0) / x.shape[0],
        "dead_fraction": float((~active).sum()) / sae.d_sae,
        "mse": float((x.double() - x_hat.double()).square().sum(dim=1).mean()),
    }


def save_sae(sae: SAE, path: str | os.PathLike[str], meta: dict) -> None:
    """Write the SAE's tensors as safetensors, with ``meta`` JSON-encoded under the header key ``polyrot``."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: atomic.dumps(meta)})


def load_sae(path: str | os.PathLike[str]) -> tuple[SAE, dict]:
    """``(sae, meta)`` from a file ``save_sae`` wrote; the SAE is on the CPU."""
    header = files.safetensors_metadata(path)
    if META_KEY not in header:
        raise files.BadFile(path, f"no {META_KEY!r} metadata; not written by polyrot.sae.save_sae")
    tensors = files.load_safetensors(path, "pt")
    d_sae, d = tensors["W_dec"].shape
    sae = SAE(d, d_sae)
    sae.load_state_dict(tensors)
    return sae, json.loads(header[META_KEY])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m polyrot.sae CACHE.npz ... [--expansion E] [--l1 L1] [--steps N] ...``: train one
    SAE per cache (stacked; all caches must share d) and print a TSV of their metrics, on the
    cache and, where ``X.heldout.npz`` sits beside ``X.fit.npz``, on the held-out rows."""
    from polyrot import activations

    parser = argparse.ArgumentParser(prog="python -m polyrot.sae", description=main.__doc__.splitlines()[0])
    parser.add_argument("caches", nargs="+", metavar="CACHE.npz", help="activation caches (polyrot.activations)")
    from polyrot import settings  # the options and their defaults

    default = SAEConfig.of(None)
    parser.add_argument(
        "--expansion", type=int, default=default.expansion, help=f"d_sae / d (default {default.expansion})"
    )
    settings.add_options(parser, settings.SAESettings, ["l1", "lr", "batch_size", "steps", "seed"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        acts = [activations.read_cache(p).acts for p in args.caches]
    except (OSError, ValueError) as e:  # files.BadFile is a ValueError naming the file
        print(f"error: cannot read a cache: {e}", file=sys.stderr)
        return 2
    cfg = SAEConfig(args.expansion, args.l1, args.lr, args.batch_size, args.steps, args.seed)
    saes = train_saes_stacked(acts, cfg, device=args.device, progress=sys.stderr.isatty())
    cols = ("ev_centred", "ev_scalar", "l0", "dead_fraction")
    print("\t".join(["cache", "split", "expansion", "l1", "steps", "batch_size", *cols]))
    columns = [str(args.expansion), f"{args.l1:g}", str(args.steps), str(args.batch_size)]
    for path, x, model in zip(args.caches, acts, saes, strict=True):
        splits = [("fit", x)]
        held = str(path).replace(".fit.npz", ".heldout.npz")
        if held != str(path) and os.path.exists(held):
            splits.append(("heldout", activations.read_cache(held).acts))
        for split, rows in splits:
            m = sae_metrics(model.cpu(), rows)
            print("\t".join([str(path), split, *columns, *(f"{m[c]:.4f}" for c in cols)]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
