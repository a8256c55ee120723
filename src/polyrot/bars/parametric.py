"""Bar P, parametric (docs/methods.md §8): align a toy model to a reference under the architecture's
symmetry group and measure what is left, as the maximum over tensors of the per-entry MSE.

The group, for a model whose RMSNorm gains are folded into the weights that read each
norm's output (the final norm's gain into the three unembeddings):

- an orthogonal rotation R of the residual stream (row vectors, x -> x R): W_E -> W_E R,
  every matrix that reads the stream -> R^T W, every matrix that writes it -> W R, the
  unembeddings -> R^T W_U. The fixed positional buffer rotates with the stream (the aligned
  model's would be ``pos R``) but is left out of the comparison: it is no parameter, and
  the statistic is over the weights. The study's code rotates it *and compares* it, so its
  values penalise every R that moves the six positional dimensions (its search, ported in
  ``polyrot.bars.study_search``, is reported beside ours);
- per layer, a permutation of the heads and, per head, orthogonal rotations A of the
  query-key subspace (W_Q_h -> W_Q_h A, W_K_h -> W_K_h A) and B of the value-output
  subspace (W_V_h -> W_V_h B, W_O_h -> B^T W_O_h);
- per layer, a permutation of the MLP neurons with a positive scale each (ReLU is
  positively homogeneous): W_in[:, n] -> s_n W_in[:, n], W_out[n, :] -> W_out[n, :] / s_n.

Search (``align``): R is first solved from quantities the head and neuron symmetries leave
unchanged (W_E, the unembeddings, and per layer the circuits W_Q W_K^T, W_V W_O, W_in W_out,
which a rotation conjugates), by linear least squares and a polar projection onto O(d).
Then coordinate descent: heads by Hungarian matching on the per-pair Procrustes residuals,
neurons by Hungarian matching on scale-balanced weights then the least-squares scale, R by
one weighted Procrustes over every tensor; several restarts; then a continuous refinement
of R on O(d) (Cayley-parametrised steps, Adam) against the registered statistic itself,
the maximum per-tensor MSE, kept only where it lowers it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg

Weights = dict[str, np.ndarray]

IO_TENSORS = ("W_E", "W_U_tok", "W_U_depth", "W_U_valid")
LAYER_TENSORS = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out")


def fold_gains(state: dict[str, Any]) -> Weights:
    """Float64 weights with every RMSNorm gain folded into the matrices that read its output."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}
    layers = n_layers(w)
    out = {k: w[k] for k in IO_TENSORS}
    for i in range(layers):
        g1, g2 = w[f"blocks.{i}.ln1.gain"], w[f"blocks.{i}.ln2.gain"]
        for name in ("W_Q", "W_K", "W_V"):
            out[f"blocks.{i}.{name}"] = g1[:, None] * w[f"blocks.{i}.{name}"]
        out[f"blocks.{i}.W_O"] = w[f"blocks.{i}.W_O"]
        out[f"blocks.{i}.W_in"] = g2[:, None] * w[f"blocks.{i}.W_in"]
        out[f"blocks.{i}.W_out"] = w[f"blocks.{i}.W_out"]
    g = w["ln_final.gain"]
    for name in IO_TENSORS[1:]:
        out[name] = g[:, None] * w[name]
    return out


def n_layers(w: Weights) -> int:
    return len({k.split(".")[1] for k in w if k.startswith("blocks.")})


def tensor_names(layers: int) -> list[str]:
    return [*IO_TENSORS, *(f"blocks.{i}.{t}" for i in range(layers) for t in LAYER_TENSORS)]


@dataclass
class Alignment:
    """A group element: apply it to the other model to bring it onto the reference."""

    R: np.ndarray
    head_perm: list[np.ndarray] = field(default_factory=list)
    """Per layer: reference head i takes the other model's head ``head_perm[l][i]``."""
    A: list[np.ndarray] = field(default_factory=list)
    """Per layer (heads, d_head, d_head): query-key rotations."""
    B: list[np.ndarray] = field(default_factory=list)
    """Per layer (heads, d_head, d_head): value-output rotations."""
    neuron_perm: list[np.ndarray] = field(default_factory=list)
    scale: list[np.ndarray] = field(default_factory=list)


def _heads(W: np.ndarray, n_heads: int, axis: int) -> list[np.ndarray]:
    return np.split(W, n_heads, axis=axis)


def apply(w: Weights, al: Alignment, n_heads: int) -> Weights:
    """The folded weights ``w`` transformed by the group element ``al``."""
    R = al.R
    out = {"W_E": w["W_E"] @ R, **{k: R.T @ w[k] for k in IO_TENSORS[1:]}}
    for i in range(n_layers(w)):
        p, A, B = al.head_perm[i], al.A[i], al.B[i]
        q, k, v = (_heads(R.T @ w[f"blocks.{i}.{t}"], n_heads, 1) for t in ("W_Q", "W_K", "W_V"))
        o = _heads(w[f"blocks.{i}.W_O"] @ R, n_heads, 0)
        out[f"blocks.{i}.W_Q"] = np.concatenate([q[p[h]] @ A[h] for h in range(n_heads)], axis=1)
        out[f"blocks.{i}.W_K"] = np.concatenate([k[p[h]] @ A[h] for h in range(n_heads)], axis=1)
        out[f"blocks.{i}.W_V"] = np.concatenate([v[p[h]] @ B[h] for h in range(n_heads)], axis=1)
        out[f"blocks.{i}.W_O"] = np.concatenate([B[h].T @ o[p[h]] for h in range(n_heads)], axis=0)
        n, s = al.neuron_perm[i], al.scale[i]
        out[f"blocks.{i}.W_in"] = (R.T @ w[f"blocks.{i}.W_in"])[:, n] * s[None, :]
        out[f"blocks.{i}.W_out"] = (w[f"blocks.{i}.W_out"] @ R)[n, :] / s[:, None]
    return out


def tensor_mse(ref: Weights, aligned: Weights) -> dict[str, float]:
    return {k: float(np.mean((ref[k] - aligned[k]) ** 2)) for k in tensor_names(n_layers(ref))}


def random_rotation(d: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """exp of a random skew-symmetric matrix with entries of size ``scale``: a rotation
    that is near the identity for small ``scale``."""
    G = rng.standard_normal((d, d)) * scale / np.sqrt(d)
    return scipy.linalg.expm(G - G.T)


# ---------------------------------------------------------------- the search's steps
def invariant_rotation(ref: Weights, other: Weights) -> np.ndarray:
    """R from what heads and neurons leave unchanged: W_E_ref = W_E R, W_U_ref^T = W_U^T R,
    and R C_ref = C R for every layer's circuits C (conjugated by R), by least squares
    (LSQR) and the nearest orthogonal matrix."""
    d = ref["W_E"].shape[1]
    rows = [(other["W_E"], ref["W_E"])] + [(other[k].T, ref[k].T) for k in IO_TENSORS[1:]]
    circuits = []
    for i in range(n_layers(ref)):
        b = f"blocks.{i}."
        for x, y in (("W_Q", "W_K"), ("W_V", "W_O"), ("W_in", "W_out")):
            y_ref = ref[b + y] if y in ("W_O", "W_out") else ref[b + y].T
            y_oth = other[b + y] if y in ("W_O", "W_out") else other[b + y].T
            circuits.append((other[b + x] @ y_oth, ref[b + x] @ y_ref))
    # each equation scaled to unit norm so that no one dominates
    rows = [(a / np.linalg.norm(t), t / np.linalg.norm(t)) for a, t in rows]
    circuits = [(c / np.linalg.norm(c), c_ref / np.linalg.norm(c_ref)) for c, c_ref in circuits]
    n_rows = sum(a.shape[0] * d for a, _ in rows) + len(circuits) * d * d

    def matvec(r: np.ndarray) -> np.ndarray:
        R = r.reshape(d, d)
        parts = [(a @ R).ravel() for a, _ in rows] + [(c @ R - R @ c_ref).ravel() for c, c_ref in circuits]
        return np.concatenate(parts)

    def rmatvec(y: np.ndarray) -> np.ndarray:
        G, at = np.zeros((d, d)), 0
        for a, _ in rows:
            n = a.shape[0] * d
            G += a.T @ y[at : at + n].reshape(a.shape[0], d)
            at += n
        for c, c_ref in circuits:
            Y = y[at : at + d * d].reshape(d, d)
            G += c.T @ Y - Y @ c_ref.T
            at += d * d
        return G.ravel()

    op = scipy.sparse.linalg.LinearOperator((n_rows, d * d), matvec=matvec, rmatvec=rmatvec)
    target = np.concatenate([t.ravel() for _, t in rows] + [np.zeros(d * d) for _ in circuits])
    r = scipy.sparse.linalg.lsqr(op, target, atol=1e-14, btol=1e-14, iter_lim=5000, x0=np.eye(d).ravel())[0]
    U, _, Vt = np.linalg.svd(r.reshape(d, d))
    return U @ Vt


def _procrustes(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float]:
    """The orthogonal Q minimising ||X Q - Y||, and that minimum squared."""
    Q, _ = scipy.linalg.orthogonal_procrustes(X, Y)
    return Q, float(np.sum((X @ Q - Y) ** 2))


def match_heads(ref: Weights, other: Weights, R: np.ndarray, layer: int, n_heads: int):
    """Head permutation and per-head Q-K and V-O rotations for ``layer`` given R."""
    b = f"blocks.{layer}."
    rq, rk, rv = (_heads(ref[b + t], n_heads, 1) for t in ("W_Q", "W_K", "W_V"))
    ro = _heads(ref[b + "W_O"], n_heads, 0)
    q, k, v = (_heads(R.T @ other[b + t], n_heads, 1) for t in ("W_Q", "W_K", "W_V"))
    o = _heads(other[b + "W_O"] @ R, n_heads, 0)
    cost = np.zeros((n_heads, n_heads))
    rots: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for i in range(n_heads):
        for j in range(n_heads):
            A, ca = _procrustes(np.vstack([q[j], k[j]]), np.vstack([rq[i], rk[i]]))
            B, cb = _procrustes(np.vstack([v[j], o[j].T]), np.vstack([rv[i], ro[i].T]))
            cost[i, j], rots[i, j] = ca + cb, (A, B)
    _, perm = scipy.optimize.linear_sum_assignment(cost)
    A = np.stack([rots[i, perm[i]][0] for i in range(n_heads)])
    B = np.stack([rots[i, perm[i]][1] for i in range(n_heads)])
    return perm, A, B


def _best_scale(a: np.ndarray, u: np.ndarray, b: np.ndarray, v: np.ndarray) -> float:
    """The s > 0 minimising ||a - s u||^2 + ||b - v / s||^2 (a root of a quartic)."""
    uu, au, bv, vv = u @ u, a @ u, b @ v, v @ v
    roots = np.roots([uu, -au, 0.0, bv, -vv])
    cands = [r.real for r in roots if abs(r.imag) < 1e-9 * max(1.0, abs(r)) and r.real > 0]
    if not cands:
        return 1.0
    return min(cands, key=lambda s: np.sum((a - s * u) ** 2) + np.sum((b - v / s) ** 2))


def match_neurons(ref: Weights, other: Weights, R: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Neuron permutation and positive scales for ``layer`` given R."""
    b = f"blocks.{layer}."
    a_in, a_out = ref[b + "W_in"].T, ref[b + "W_out"]  # (n, d) each
    u_in, u_out = (R.T @ other[b + "W_in"]).T, other[b + "W_out"] @ R

    def balanced(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.sqrt(np.linalg.norm(y, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-30))[:, None]
        return x * c, y / c

    ra, rb = balanced(a_in, a_out)
    ua, ub = balanced(u_in, u_out)
    cost = (
        (ra**2).sum(1)[:, None]
        + (ua**2).sum(1)[None, :]
        - 2 * ra @ ua.T
        + (rb**2).sum(1)[:, None]
        + (ub**2).sum(1)[None, :]
        - 2 * rb @ ub.T
    )
    _, perm = scipy.optimize.linear_sum_assignment(cost)
    scale = np.array([_best_scale(a_in[i], u_in[perm[i]], a_out[i], u_out[perm[i]]) for i in range(len(perm))])
    return perm, scale


def _writes_stream(name: str) -> bool:
    """Whether tensor ``name`` writes the residual stream (W R) rather than reads it (R^T W)."""
    return name == "W_E" or name.endswith(("W_O", "W_out"))


def _without_rotation(other: Weights, al: Alignment, n_heads: int) -> Weights:
    """``other`` under ``al``'s head and neuron transforms only: R is applied on top."""
    return apply(other, dataclasses.replace(al, R=np.eye(al.R.shape[0])), n_heads)


def fit_rotation(ref: Weights, other: Weights, al: Alignment, n_heads: int) -> np.ndarray:
    """R minimising the sum of per-tensor MSEs with the head and neuron transforms fixed."""
    fixed = _without_rotation(other, al, n_heads)
    X, Y = [], []
    for name in tensor_names(n_layers(ref)):
        weight = 1.0 / np.sqrt(ref[name].size)
        if _writes_stream(name):
            X.append(weight * fixed[name])
            Y.append(weight * ref[name])
        else:
            X.append(weight * fixed[name].T)
            Y.append(weight * ref[name].T)
    R, _ = scipy.linalg.orthogonal_procrustes(np.vstack(X), np.vstack(Y))
    return R


def refine_rotation(ref: Weights, other: Weights, al: Alignment, n_heads: int, steps: int, lr: float = 1e-3):
    """Continuous refinement of R on O(d) against the maximum per-tensor MSE: R = R0 C(S)
    with C the Cayley map of a skew-symmetric S, S trained by Adam on a smooth maximum
    (log-sum-exp, sharpening over the steps); the best R by the true maximum is kept."""
    import torch

    names = tensor_names(n_layers(ref))
    fixed = _without_rotation(other, al, n_heads)
    reads = {n: not _writes_stream(n) for n in names}
    F = {n: torch.from_numpy(fixed[n]) for n in names}
    T = {n: torch.from_numpy(ref[n]) for n in names}
    R0 = torch.from_numpy(al.R)
    d = al.R.shape[0]
    S = torch.zeros(d, d, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([S], lr=lr)
    eye = torch.eye(d, dtype=torch.float64)

    def mses(R: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.mean(((R.T @ F[n] if reads[n] else F[n] @ R) - T[n]) ** 2) for n in names])

    best_R, best = al.R, float(mses(R0).max())
    for step in range(steps):
        K = S - S.T
        R = R0 @ torch.linalg.solve(eye + K, eye - K)
        m = mses(R)
        temperature = 1e-2 * best * (1 - step / steps) + 1e-12
        loss = temperature * torch.logsumexp(m / temperature, dim=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        current = float(m.detach().max())
        if current < best:
            best, best_R = current, R.detach().numpy().copy()
    return best_R


EXACT = 1e-24
"""A max per-tensor MSE below this is zero to float64 precision (weights of size ~0.1 to 1,
squared errors of ~1e-32 per entry): the search stops there."""


@dataclass
class Result:
    max_tensor_mse: float
    tensors: dict[str, float]
    alignment: Alignment
    restarts: list[float]
    refined_from: float
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {
            "max_tensor_mse": self.max_tensor_mse,
            "worst_tensor": max(self.tensors, key=self.tensors.get),
            "tensors": self.tensors,
            "head_perm": [p.tolist() for p in self.alignment.head_perm],
            "restarts_max_mse": self.restarts,
            "before_refinement": self.refined_from,
            "seconds": self.seconds,
        }


def align(
    ref: Weights,
    other: Weights,
    n_heads: int = 4,
    restarts: int = 3,
    iterations: int = 20,
    refine_steps: int = 300,
    seed: int = 0,
) -> Result:
    """Align the folded weights ``other`` to ``ref`` (see the module docstring)."""
    start = time.perf_counter()
    layers, d = n_layers(ref), ref["W_E"].shape[1]
    rng = np.random.default_rng(seed)
    R_inv = invariant_rotation(ref, other)
    found: list[tuple[float, Alignment]] = []
    for restart in range(restarts):
        R = R_inv if restart == 0 else R_inv @ random_rotation(d, rng, 0.3 * restart)
        al = Alignment(R)
        last, mse = np.inf, None
        for _ in range(iterations):
            heads = [match_heads(ref, other, al.R, i, n_heads) for i in range(layers)]
            neurons = [match_neurons(ref, other, al.R, i) for i in range(layers)]
            al = Alignment(
                al.R,
                [h[0] for h in heads],
                [h[1] for h in heads],
                [h[2] for h in heads],
                [n[0] for n in neurons],
                [n[1] for n in neurons],
            )
            al.R = fit_rotation(ref, other, al, n_heads)
            mse = tensor_mse(ref, apply(other, al, n_heads))
            total = sum(mse.values())
            if total > last * (1 - 1e-10):
                break
            last = total
        if mse is None:  # no iteration ran
            mse = tensor_mse(ref, apply(other, al, n_heads))
        found.append((max(mse.values()), al))
        if found[-1][0] < EXACT:  # no restart can do better (a model against itself)
            break
    before, al = min(found, key=lambda f: f[0])
    if refine_steps and before >= EXACT:
        al.R = refine_rotation(ref, other, al, n_heads, refine_steps)
    tensors = tensor_mse(ref, apply(other, al, n_heads))
    return Result(
        max_tensor_mse=max(tensors.values()),
        tensors=tensors,
        alignment=al,
        restarts=[f[0] for f in found],
        refined_from=before,
        seconds=time.perf_counter() - start,
    )


def unit(ref: str, model: str, result: Result) -> dict[str, Any]:
    """One judged unit of Bar P: ``model`` aligned to ``ref`` (within-seed when equal)."""
    from polyrot.bars import unit_fields

    return {
        **unit_fields(model, ref),
        "value": result.max_tensor_mse,
        **{k: v for k, v in result.summary().items() if k != "max_tensor_mse"},
    }


def load_toy(path: str | Path) -> tuple[Weights, int]:
    """A saved toy model's folded weights and its number of heads; ``files.BadFile`` (a
    ``ValueError``) if the file is not a toy model."""
    from polyrot import files
    from polyrot.toy.transformer import ToyConfig

    state = files.load_safetensors(path, "numpy")
    needed = {*IO_TENSORS, "ln_final.gain", "blocks.0.W_Q", "blocks.0.ln1.gain"}
    if not needed <= set(state):
        raise files.BadFile(path, f"not a toy model (missing {sorted(needed - set(state))})")
    return fold_gains(state), ToyConfig().n_heads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m polyrot.bars.parametric",
        description="Align OTHER to REF under the toy model's symmetry group; print Bar P's statistic as JSON.",
    )
    parser.add_argument("ref", help="reference model (.safetensors)")
    parser.add_argument("other", help="model aligned to the reference (.safetensors)")
    from polyrot import settings  # the options and their defaults

    settings.add_options(parser, settings.BarP, ["restarts", "iterations", "refine_steps", "seed"])
    args = parser.parse_args(argv)
    try:
        ref, n_heads = load_toy(args.ref)
        other, _ = load_toy(args.other)
        shapes = {k: (ref[k].shape, other[k].shape) for k in ref}
        bad = {k: v for k, v in shapes.items() if v[0] != v[1]}
        if set(ref) != set(other) or bad:
            raise ValueError(f"the models differ in shape: {bad or sorted(set(ref) ^ set(other))}")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = align(ref, other, n_heads, args.restarts, args.iterations, args.refine_steps, args.seed)
    print(json.dumps(result.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
