"""Bar P as the study's code searches for it, beside ours (``polyrot.bars.parametric``).

Ported from what the study's ``symmetry_search.align`` (its baseline search) and
``experiments/bar_p_joint/joint_align.joint_align`` at λ = 0 (its "refined" numbers) compute,
written for our weight layout. Both models are folded first (every RMSNorm gain into the
matrices that read its output, as ours), and every comparison is over the study's tensor set:
every parameter of the folded model (its gains included, now ones) and the positional buffer,
which the search rotates with the stream *and compares* (ours rotates it and leaves it out).

The baseline search, from each start:

- ``starts`` head-permutation starts per layer (the first the identity, the others drawn as
  the study draws them, Python's ``random.Random(seed).sample``), each run twice: with the
  residual-rotation step and with R = I;
- ``rounds`` rounds of coordinate descent, each: (1) R by orthogonal Procrustes on every
  stream-reading and stream-writing vector stacked (W_E and positional rows, the Q, K, V
  and MLP-input columns, the attention- and MLP-output rows, the unembedding columns), with
  heads and neurons as they stand; (2) per layer, heads matched by Hungarian on the raw
  Frobenius distance of their Q, K, V and O blocks, before any per-head rotation; then per
  head a Q–K and a V–O Procrustes rotation; then neurons matched by Hungarian on the cosine
  of their input and output weights, and each rescaled by the geometric-mean heuristic
  ``sqrt(|w_in_ref| |w_out| / (|w_in| |w_out_ref|))`` clamped to [1e-4, 1e4];
- after every step the state is scored by (max per-tensor MSE, total MSE), and the best
  state of every run and then of every start and mode is kept, in that lexicographic order.

*The rotation step as the study applies it.* The study's Procrustes fit returns the R with
``M_other R ≈ M_ref`` for rows, then applies it as ``x ↦ R x`` to column vectors, that is
``W ↦ W Rᵀ`` to rows: the transpose of its fit. A model rotated by a known R is not brought
back by that step (it is rotated by R twice; checked against the study's own functions), so
the step helps only where the fitted R is near-symmetric. ``rotation_step="study"`` applies it
as the study does (the paper-comparison value); ``"fitted"`` applies the fit itself, to show
what the same search gives with the step the right way round.

The refinement (cohort A's published numbers): from the baseline's best state, heads,
neurons and per-head rotations fixed, R = Cayley(A) with ``A`` trained by Adam (lr 0.05,
``steps`` steps, from zero) on the total MSE over every tensor; evaluated after the first
step and every 20th, the best by (max, total) kept (the identity itself is never scored).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

from polyrot.bars import parametric

Weights = dict[str, np.ndarray]
ROTATION_STEPS = ("study", "fitted")
EVAL_EVERY = 20
"""The refinement scores its R after the first step and every ``EVAL_EVERY`` steps, as the study's."""


def study_weights(state: Mapping[str, Any], n_ctx: int | None = None) -> Weights:
    """The study's tensor set of a toy model's state dict: the folded weights (our names),
    ``pos`` (the positional buffer) and every gain (ones after folding), float64."""
    from polyrot.toy.transformer import ToyConfig, position_features

    w = parametric.fold_gains(state)
    d = w["W_E"].shape[1]
    w["pos"] = position_features(n_ctx or ToyConfig().n_ctx, d).numpy().astype(np.float64)
    for i in range(parametric.n_layers(w)):
        w[f"blocks.{i}.ln1.gain"] = np.ones(d)
        w[f"blocks.{i}.ln2.gain"] = np.ones(d)
    w["ln_final.gain"] = np.ones(d)
    return w


def load(path: str | Path) -> Weights:
    """``study_weights`` of a saved toy model."""
    from polyrot import files

    return study_weights(files.load_safetensors(path, "numpy"))


def tensor_names(w: Mapping[str, np.ndarray]) -> list[str]:
    """The compared tensors, in the study's order (embedding, buffer, layers, final gain, unembeddings)."""
    names = ["W_E", "pos"]
    for i in range(parametric.n_layers(w)):
        b = f"blocks.{i}."
        names += [
            b + "ln1.gain",
            *(b + t for t in ("W_Q", "W_K", "W_V", "W_O")),
            b + "ln2.gain",
            b + "W_in",
            b + "W_out",
        ]
    return [*names, "ln_final.gain", *parametric.IO_TENSORS[1:]]


def tensor_mse(ref: Weights, w: Weights) -> dict[str, float]:
    return {k: float(np.mean((ref[k] - w[k]) ** 2)) for k in tensor_names(ref)}


def score(ref: Weights, w: Weights) -> tuple[float, float]:
    """(max per-tensor MSE, total MSE over every element of every tensor): the study's order."""
    sq = n = 0.0
    worst = 0.0
    for k in tensor_names(ref):
        d = ref[k] - w[k]
        s = float(np.sum(d * d))
        sq, n = sq + s, n + d.size
        worst = max(worst, s / d.size)
    return worst, sq / n


# ---------------------------------------------------------------- the group's moves
def rotate(w: Weights, Q: np.ndarray) -> Weights:
    """The stream rotated ``x ↦ x Q``: rows that write it (W_E, pos, W_O, W_out) times Q,
    columns that read it (W_Q, W_K, W_V, W_in, the unembeddings) by Qᵀ. Arrays or tensors
    alike (the refinement differentiates through it)."""
    out = dict(w)
    for k in ("W_E", "pos"):
        out[k] = w[k] @ Q
    for i in range(parametric.n_layers(w)):
        b = f"blocks.{i}."
        for t in ("W_Q", "W_K", "W_V", "W_in"):
            out[b + t] = Q.T @ w[b + t]
        for t in ("W_O", "W_out"):
            out[b + t] = w[b + t] @ Q
    for k in parametric.IO_TENSORS[1:]:
        out[k] = Q.T @ w[k]
    return out


def stream_rows(w: Weights) -> np.ndarray:
    """Every stream-reading and stream-writing vector of ``w`` as a row (N, d)."""
    rows = [w["W_E"], w["pos"]]
    for i in range(parametric.n_layers(w)):
        b = f"blocks.{i}."
        rows += [w[b + "W_Q"].T, w[b + "W_K"].T, w[b + "W_V"].T, w[b + "W_O"], w[b + "W_in"].T, w[b + "W_out"]]
    return np.vstack(rows + [w[k].T for k in parametric.IO_TENSORS[1:]])


def residual_rotation(ref: Weights, w: Weights, step: str) -> np.ndarray:
    """The rotation the search's first move applies to ``w``: the Procrustes fit P of its
    stream vectors onto the reference's (``M_w P ≈ M_ref``), or, as the study's code applies
    it, Pᵀ (see the module docstring)."""
    P, _ = scipy.linalg.orthogonal_procrustes(stream_rows(w), stream_rows(ref))
    return P.T if step == "study" else P


def _head(W: np.ndarray, h: int, dh: int, axis: int) -> np.ndarray:
    return W[:, h * dh : (h + 1) * dh] if axis == 1 else W[h * dh : (h + 1) * dh]


def permute_heads(w: Weights, layer: int, perm: Sequence[int], n_heads: int) -> Weights:
    """Head slot i of ``layer`` takes head ``perm[i]``."""
    out, b = dict(w), f"blocks.{layer}."
    dh = w[b + "W_Q"].shape[1] // n_heads
    for t in ("W_Q", "W_K", "W_V"):
        out[b + t] = np.concatenate([_head(w[b + t], p, dh, 1) for p in perm], axis=1)
    out[b + "W_O"] = np.concatenate([_head(w[b + "W_O"], p, dh, 0) for p in perm], axis=0)
    return out


def match_heads(ref: Weights, w: Weights, layer: int, n_heads: int) -> np.ndarray:
    """perm[i] = the head of ``w`` for reference head i: Hungarian on the summed squared
    Frobenius distance of the Q, K, V and O blocks, with no per-head rotation."""
    b = f"blocks.{layer}."
    dh = w[b + "W_Q"].shape[1] // n_heads
    cost = np.zeros((n_heads, n_heads))
    for t, axis in (("W_Q", 1), ("W_K", 1), ("W_V", 1), ("W_O", 0)):
        for i in range(n_heads):
            for j in range(n_heads):
                cost[i, j] += np.sum((_head(ref[b + t], i, dh, axis) - _head(w[b + t], j, dh, axis)) ** 2)
    return scipy.optimize.linear_sum_assignment(cost)[1]


def rotate_heads(ref: Weights, w: Weights, layer: int, n_heads: int) -> Weights:
    """Per head, the Q–K rotation (Procrustes of its stacked Q and K columns onto the
    reference head's) and then the V–O rotation (its V columns with its O rows transposed)."""
    out, b = dict(w), f"blocks.{layer}."
    dh = w[b + "W_Q"].shape[1] // n_heads
    q, k, v, o = (out[b + t].copy() for t in ("W_Q", "W_K", "W_V", "W_O"))
    for h in range(n_heads):
        cols = slice(h * dh, (h + 1) * dh)
        A, _ = scipy.linalg.orthogonal_procrustes(
            np.vstack([q[:, cols], k[:, cols]]), np.vstack([ref[b + "W_Q"][:, cols], ref[b + "W_K"][:, cols]])
        )
        q[:, cols], k[:, cols] = q[:, cols] @ A, k[:, cols] @ A
        B, _ = scipy.linalg.orthogonal_procrustes(
            np.vstack([v[:, cols], o[cols].T]), np.vstack([ref[b + "W_V"][:, cols], ref[b + "W_O"][cols].T])
        )
        v[:, cols], o[cols] = v[:, cols] @ B, B.T @ o[cols]
    out[b + "W_Q"], out[b + "W_K"], out[b + "W_V"], out[b + "W_O"] = q, k, v, o
    return out


def match_neurons(ref: Weights, w: Weights, layer: int) -> Weights:
    """Neurons matched by Hungarian on 1 − the cosine of their (input, output) weights, then
    each rescaled by the study's geometric-mean heuristic."""
    out, b = dict(w), f"blocks.{layer}."

    def signature(x: Weights) -> np.ndarray:
        s = np.hstack([x[b + "W_in"].T, x[b + "W_out"]])
        return s / (np.linalg.norm(s, axis=1, keepdims=True) + 1e-9)

    _, perm = scipy.optimize.linear_sum_assignment(1.0 - signature(ref) @ signature(w).T)
    w_in, w_out = w[b + "W_in"][:, perm], w[b + "W_out"][perm]
    n_in, n_out = np.linalg.norm(w_in, axis=0), np.linalg.norm(w_out, axis=1)
    r_in, r_out = np.linalg.norm(ref[b + "W_in"], axis=0), np.linalg.norm(ref[b + "W_out"], axis=1)
    alpha = np.sqrt(np.maximum(r_in * n_out, 1e-12) / np.maximum(n_in * r_out, 1e-12)).clip(1e-4, 1e4)
    out[b + "W_in"], out[b + "W_out"] = w_in * alpha[None, :], w_out / alpha[:, None]
    return out


# ---------------------------------------------------------------- the search
@dataclass
class _Best:
    score: tuple[float, float]
    weights: Weights
    heads: list[np.ndarray]


@dataclass
class Search:
    """The best state of the baseline search."""

    max_tensor_mse: float
    total_mse: float
    weights: Weights
    head_perm: list[np.ndarray]
    """Per layer: reference head i is matched to the other model's head ``head_perm[l][i]``."""
    use_rotation: bool
    start: int
    seconds: float
    runs: list[tuple[float, float]] = field(default_factory=list)


def starts(n_starts: int, n_heads: int, layers: int, seed: int) -> list[list[np.ndarray]]:
    """The head-permutation starts, as the study draws them: the identity, then per start and
    layer ``random.Random(seed).sample(range(n_heads), n_heads)``."""
    rng = random.Random(seed)
    out = [[np.arange(n_heads) for _ in range(layers)]]
    for _ in range(n_starts - 1):
        out.append([np.array(rng.sample(range(n_heads), n_heads)) for _ in range(layers)])
    return out


def _run(
    ref: Weights, other: Weights, start: Sequence[np.ndarray], rounds: int, use_rotation: bool, step: str, n_heads: int
) -> _Best:
    """One trajectory from one start; the best state over every step."""
    layers = parametric.n_layers(ref)
    w, heads = other, [np.asarray(p) for p in start]
    for i, p in enumerate(heads):
        w = permute_heads(w, i, p, n_heads)
    best = _Best(score(ref, w), w, [h.copy() for h in heads])

    def track() -> None:
        nonlocal best
        s = score(ref, w)
        if s < best.score:
            best = _Best(s, w, [h.copy() for h in heads])

    for _ in range(rounds):
        if use_rotation:
            w = rotate(w, residual_rotation(ref, w, step))
            track()
        for i in range(layers):
            p = match_heads(ref, w, i, n_heads)
            w, heads[i] = permute_heads(w, i, p, n_heads), heads[i][p]
            track()
            w = rotate_heads(ref, w, i, n_heads)
            track()
            w = match_neurons(ref, w, i)
            track()
    return best


def search(
    ref: Weights,
    other: Weights,
    n_heads: int = 4,
    n_starts: int = 16,
    rounds: int = 6,
    seed: int = 0,
    rotation_step: str = "study",
) -> Search:
    """The study's multi-start search of ``other`` onto ``ref`` (both ``study_weights``)."""
    if rotation_step not in ROTATION_STEPS:
        raise ValueError(f"rotation_step must be one of {ROTATION_STEPS}, not {rotation_step!r}")
    t0 = time.perf_counter()
    found: _Best | None = None
    where = (True, 0)
    runs = []
    for use_rotation in (True, False):
        for i, start in enumerate(starts(n_starts, n_heads, parametric.n_layers(ref), seed)):
            best = _run(ref, other, start, rounds, use_rotation, rotation_step, n_heads)
            runs.append(best.score)
            if found is None or best.score < found.score:
                found, where = best, (use_rotation, i)
            if found.score == (0.0, 0.0):  # nothing can score below exact equality
                break
        if found.score == (0.0, 0.0):
            break
    return Search(
        max_tensor_mse=found.score[0],
        total_mse=found.score[1],
        weights=found.weights,
        head_perm=found.heads,
        use_rotation=where[0],
        start=where[1],
        seconds=time.perf_counter() - t0,
        runs=runs,
    )


@dataclass
class Refinement:
    max_tensor_mse: float
    total_mse: float
    weights: Weights
    step: int
    seconds: float


def refine(ref: Weights, aligned: Weights, steps: int = 400, lr: float = 5e-2) -> Refinement:
    """The study's Cayley refinement of the residual rotation (λ = 0): see the module docstring.
    In float32, as the study's."""
    import torch

    t0 = time.perf_counter()
    names = tensor_names(ref)
    W = {k: torch.from_numpy(aligned[k]).float() for k in names}
    T = {k: torch.from_numpy(ref[k]).float() for k in names}
    d = W["W_E"].shape[1]
    eye = torch.eye(d)
    A = torch.zeros(d, d, requires_grad=True)
    opt = torch.optim.Adam([A], lr=lr)
    n_total = sum(t.numel() for t in T.values())

    def cayley() -> torch.Tensor:
        skew = 0.5 * (A - A.T)
        return torch.linalg.solve(eye - skew, eye + skew)

    def moved(R: torch.Tensor) -> dict[str, torch.Tensor]:
        return rotate(W, R.T)  # the study's x ↦ R x on column vectors is x ↦ x Rᵀ on rows

    best: tuple[tuple[float, float], torch.Tensor | None, int] = ((np.inf, np.inf), None, -1)
    for step in range(steps):
        m = moved(cayley())
        loss = sum(torch.sum((m[k] - T[k]) ** 2) for k in names) / n_total
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 0 or (step + 1) % EVAL_EVERY == 0:
            with torch.no_grad():
                R = cayley()
                m = moved(R)
                mse = [float(torch.mean((m[k] - T[k]) ** 2)) for k in names]
                total = float(sum(torch.sum((m[k] - T[k]) ** 2) for k in names)) / n_total
            if (max(mse), total) < best[0]:
                best = ((max(mse), total), R.clone(), step + 1)
    (worst, total), R, at = best
    out = rotate(aligned, R.double().numpy().T) if R is not None else dict(aligned)
    return Refinement(worst, total, out, at, time.perf_counter() - t0)


def _summary(ref: Weights, w: Weights) -> dict[str, Any]:
    mse = tensor_mse(ref, w)
    return {"max_tensor_mse": max(mse.values()), "worst_tensor": max(mse, key=mse.get), "tensors": mse}


def unit_entry(
    ref: Weights,
    other: Weights,
    n_heads: int,
    settings: Mapping[str, Any],
    refine_it: bool,
) -> dict[str, Any]:
    """A unit's ``study_search`` entry: the baseline search (as the study applies its rotation
    step, and with the step as fitted), and where ``refine_it`` the refinement of the baseline."""
    out: dict[str, Any] = {
        "starts": int(settings["starts"]),
        "rounds": int(settings["rounds"]),
        "seed": int(settings["seed"]),
        "modes": ["residual rotation step", "R = I"],
        "tensors_compared": "every parameter of the folded model and the positional buffer (rotated and compared)",
    }
    for step, key in (("study", "baseline"), ("fitted", "baseline_rotation_as_fitted")):
        s = search(ref, other, n_heads, settings["starts"], settings["rounds"], settings["seed"], step)
        out[key] = {
            **_summary(ref, s.weights),
            "total_mse": s.total_mse,
            "head_perm": [p.tolist() for p in s.head_perm],
            "use_rotation": s.use_rotation,
            "start": s.start,
            "seconds": s.seconds,
        }
        if step == "study":
            found = s
    if refine_it:
        r = refine(ref, found.weights, settings["refine_steps"], settings["refine_lr"])
        out["refined"] = {
            **_summary(ref, r.weights),
            "total_mse": r.total_mse,
            "step": r.step,
            "steps": int(settings["refine_steps"]),
            "lr": float(settings["refine_lr"]),
            "seconds": r.seconds,
        }
    return out
