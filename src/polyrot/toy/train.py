"""Training the toy transformers, one or a stack of K at a time: schedule, evaluation,
checkpoints, resume (the data stream is ``polyrot.toy.data``, the stacked model
``polyrot.toy.stacked``).

Layout under a model directory (``results/toy/models/{model}/``)::

    step000200/            one checkpoint: model.safetensors, optim.pt, meta.json, log.tsv
    best/, final/          model.safetensors + meta.json (the DAG's outputs)
    train_log.tsv          one row per log or evaluation step

Checkpoints are written to a temporary directory and renamed, so a directory named
``stepNNNNNN`` is always complete. ``train_stack()`` resumes from the newest checkpoint
whose config hash matches (for a stack: the newest that every unfinished model has);
checkpoints from another config are removed, never mixed in. Data are a pure function of
(data seed, step), so a resumed run is bit-identical to an uninterrupted one on a CPU.
A stack writes each model's checkpoints exactly as training it alone would (weights,
the single-model AdamW state, log), so stacks and single runs resume each other.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from polyrot import atomic, files
from polyrot.config import stable_hash
from polyrot.toy.data import StackStream, batches, data_seed
from polyrot.toy.evaluation import eval_sets, evaluate, loss_fn
from polyrot.toy.stacked import StackedToy, clip_per_model, per_model_loss
from polyrot.toy.transformer import IO_PARAMS, ToyConfig, ToyTransformer, build

if TYPE_CHECKING:
    from polyrot.settings import FamilyConfig, TaskConfig, TrainConfig


__all__ = [
    "Member",
    "RunState",
    "batches",
    "data_seed",
    "finish",
    "list_checkpoints",
    "load_weights",
    "loss_fn",
    "lr_at",
    "resolve_device",
    "run_hash",
    "step_dir_name",
    "train",
    "train_stack",
]

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"^step(\d{6,})$")


def step_dir_name(step: int) -> str:
    return f"step{step:06d}"


# ---------------------------------------------------------------- loss, schedule, eval
def lr_at(step: int, cfg: TrainConfig | FamilyConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``final_lr_fraction * lr`` at ``steps``
    (the toy models' and the GPT-NeoX family's schedule)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    floor = cfg.final_lr_fraction
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


# ---------------------------------------------------------------- checkpoints
@dataclass
class RunState:
    """What a checkpoint's sidecar records beyond the weights."""

    step: int
    config_hash: str
    best_step: int | None = None
    best_score: tuple[float, float] | None = None  # (min held-out acc, -held-out loss)
    threshold_step: int | None = None  # first step the early-stop threshold was reached
    stopped_early: bool = False


def list_checkpoints(model_dir: Path) -> list[int]:
    """Steps of the complete checkpoints under ``model_dir``, ascending."""
    if not model_dir.exists():
        return []
    steps = []
    for p in model_dir.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir() and (p / "meta.json").exists():
            steps.append(int(m.group(1)))
    return sorted(steps)


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> ToyTransformer:
    """A ToyTransformer with weights from a safetensors file (``files.BadFile`` if it is not
    a readable one)."""
    model = ToyTransformer()
    model.load_state_dict(files.load_safetensors(path, "pt", device=str(device)))
    return model.to(device)


def _prune(model_dir: Path, state: RunState, keep_all: bool) -> None:
    if keep_all:
        return
    for step in list_checkpoints(model_dir):
        if step not in (state.step, state.best_step):
            shutil.rmtree(model_dir / step_dir_name(step))


def finish(model_dir: str | Path, config_hash: str | None = None) -> RunState:
    """Write ``train_log.tsv``, ``best/`` and ``final/`` from a finished run's checkpoints.

    The newest checkpoint is the final one; its log holds every row. With ``config_hash``
    a checkpoint of another config is refused (a manifest and its checkpoints disagree).
    """
    model_dir = Path(model_dir)
    steps = list_checkpoints(model_dir)
    if not steps:
        raise FileNotFoundError(f"{model_dir} holds no checkpoint: train the model first")
    newest = model_dir / step_dir_name(steps[-1])
    state = _state_of(atomic.read_json(newest / "meta.json"))
    if config_hash is not None and state.config_hash != config_hash:
        raise RuntimeError(
            f"{newest} was trained with another config ({state.config_hash[:12]}, not {config_hash[:12]})"
        )
    frame = pd.read_csv(newest / "log.tsv", sep="\t")
    atomic.write_tsv(model_dir / "train_log.tsv", frame)
    for name, step in (("best", state.best_step), ("final", state.step)):
        src = model_dir / step_dir_name(step)
        meta = atomic.read_json(src / "meta.json")
        meta.update(selected_as=name, source_checkpoint=src.name)
        with atomic.atomic_dir(model_dir / name) as tmp:
            shutil.copy2(src / "model.safetensors", tmp / "model.safetensors")
            (tmp / "meta.json").write_text(atomic.dumps(meta))
    return state


def _state_of(meta: dict) -> RunState:
    fields = {k: v for k, v in meta.items() if k in RunState.__dataclass_fields__}
    best = fields.pop("best_score", None)
    return RunState(**fields, best_score=tuple(best) if best else None)


def _update_best(state: RunState, metrics: dict) -> None:
    score = (metrics["min_heldout_acc"], -metrics["loss_heldout"])
    if state.best_score is None or score > tuple(state.best_score):
        state.best_score = score
        state.best_step = state.step


# ---------------------------------------------------------------- the loop
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config asks for device cuda but torch sees no CUDA device; use cpu or auto")
    return torch.device(name)


#: Training settings that decide how fast, not what: left out of a run's hash.
SPEED_ONLY = ("threads", "log_every", "keep_all_checkpoints", "device", "stack", "data_workers")


def run_hash(
    task: TaskConfig,
    cfg: TrainConfig,
    seed: int,
    frozen_io: dict[str, torch.Tensor] | None,
    partners: list[int] | None = None,
) -> str:
    """Everything that determines the trained weights (not threads, device or logging).

    Stacking changes nothing a model computes while every batch is 64 tokens wide (on a
    CPU the stacked run is then bitwise the single one). With length bucketing a stacked
    model's batch is padded to the widest of its stack, which changes float rounding in
    the sums over positions: the seeds it is stacked with (``partners``) then enter the
    hash, so a checkpoint is never resumed under other padding.
    """
    relevant = {k: v for k, v in asdict(cfg).items() if k not in SPEED_ONLY}
    io_hash = None
    if frozen_io is not None:
        io_hash = stable_hash({k: v.cpu().numpy().tobytes().hex() for k, v in sorted(frozen_io.items())})
    record = {"task": asdict(task), "train": relevant, "seed": seed, "frozen_io": io_hash, "arch": "toy-104448"}
    if cfg.length_bucketing and partners and len(partners) > 1:
        record["padded_with"] = sorted(partners)
    return stable_hash(record)


@dataclass
class Member:
    """One model of a training stack."""

    model_dir: Path
    """Where its checkpoints, ``best/``, ``final/`` and ``train_log.tsv`` go."""
    seed: int
    """Initialisation seed (the data seed derives from it)."""
    frozen_io: dict[str, torch.Tensor] | None = None
    """Cohort A's non-anchor seeds: W_E and the three unembeddings, kept bit-identical."""


@dataclass
class _Run:
    member: Member
    config_hash: str
    state: RunState
    rows: list[dict]
    resumable: list[int]
    metrics: dict = field(default_factory=dict)

    def done(self, cfg: TrainConfig) -> bool:
        return self.state.stopped_early or self.state.step >= cfg.steps


def _prepare(member: Member, task: TaskConfig, cfg: TrainConfig, partners: list[int]) -> _Run:
    """Clear a killed run's debris and other configs' checkpoints; read the newest state."""
    model_dir = member.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    if member.frozen_io is not None:
        missing = set(IO_PARAMS) - set(member.frozen_io)
        if missing:
            raise ValueError(f"frozen I/O weights lack {sorted(missing)}")
    config_hash = run_hash(task, cfg, member.seed, member.frozen_io, partners)
    for tmp in model_dir.glob(".*.tmp"):  # half-written checkpoints of a killed run
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    metas = {s: atomic.read_json(model_dir / step_dir_name(s) / "meta.json") for s in list_checkpoints(model_dir)}
    for s, meta in metas.items():
        if meta["config_hash"] != config_hash:
            log.warning("removing checkpoint step %d of %s: another config", s, model_dir.name)
            shutil.rmtree(model_dir / step_dir_name(s))
    resumable = [s for s, meta in metas.items() if meta["config_hash"] == config_hash]
    state = _state_of(metas[resumable[-1]]) if resumable else RunState(step=0, config_hash=config_hash)
    return _Run(member, config_hash, state, [], resumable)


def _initial_state(member: Member, device: torch.device) -> dict[str, torch.Tensor]:
    weights = {k: v.detach() for k, v in build(member.seed).state_dict().items()}
    if member.frozen_io is not None:
        for name in IO_PARAMS:
            weights[name] = member.frozen_io[name].detach().to(weights[name].dtype).clone()
    return {k: v.to(device) for k, v in weights.items()}


class _Optimiser:
    """One AdamW over a stack's trainable weights, converting its state to and from the
    single-model optimiser's (``optim.pt`` stays what ``torch.optim.AdamW`` over one
    model's trainable parameters saves, so checkpoints do not depend on the stacking)."""

    def __init__(self, stack: StackedToy, frozen: list[bool], cfg: TrainConfig) -> None:
        self.stack, self.frozen = stack, frozen
        all_frozen = all(frozen)
        self.names = [n for n in stack.names if not (all_frozen and n in IO_PARAMS)]
        for n in stack.names:
            stack.param(n).requires_grad_(n in self.names)
        self.params = [stack.param(n) for n in self.names]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        # models whose I/O stays frozen while another model of the stack trains its own
        self.masked = [i for i, f in enumerate(frozen) if f] if not all_frozen and any(frozen) else []
        self.frozen_values = {n: stack.param(n)[self.masked].detach().clone() for n in IO_PARAMS if self.masked}

    def member_names(self, k: int) -> list[str]:
        return [n for n in self.stack.names if not (self.frozen[k] and n in IO_PARAMS)]

    def load(self, singles: list[dict]) -> None:
        """Stack the single-model optimiser states ``singles`` (one per model, same step)."""
        state = {}
        for i, name in enumerate(self.names):
            per_model = []
            for k, single in enumerate(singles):
                names = self.member_names(k)
                per_model.append(single["state"][names.index(name)] if name in names else None)
            ref = next(s for s in per_model if s is not None)
            state[i] = {
                "step": ref["step"].clone(),
                "exp_avg": torch.stack([s["exp_avg"] if s else torch.zeros_like(ref["exp_avg"]) for s in per_model]),
                "exp_avg_sq": torch.stack(
                    [s["exp_avg_sq"] if s else torch.zeros_like(ref["exp_avg_sq"]) for s in per_model]
                ),
            }
        self.opt.load_state_dict({"state": state, "param_groups": self.opt.state_dict()["param_groups"]})

    def single(self, k: int) -> dict:
        """Model ``k``'s optimiser state as a single-model AdamW's ``state_dict()``."""
        group = {key: v for key, v in self.opt.param_groups[0].items() if key != "params"}
        names = self.member_names(k)
        state = {}
        for j, name in enumerate(names):
            s = self.opt.state[self.stack.param(name)]
            state[j] = {key: (v.clone() if key == "step" else v[k].detach().clone()) for key, v in s.items()}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(names)))}]}

    def step(self, lr: float, max_norm: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr
        if self.masked:
            for n in IO_PARAMS:
                self.stack.param(n).grad[self.masked] = 0
        clip_per_model(self.params, max_norm)
        self.opt.step()
        if self.masked:  # undo the weight decay AdamW applied to them
            with torch.no_grad():
                for n, v in self.frozen_values.items():
                    self.stack.param(n)[self.masked] = v


def _write_checkpoint(
    model_dir: Path, weights: dict, optim: dict, state: RunState, rows: list[dict], metrics: dict
) -> None:
    with atomic.atomic_dir(model_dir / step_dir_name(state.step)) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
        torch.save(optim, tmp / "optim.pt")
        pd.DataFrame(rows).to_csv(tmp / "log.tsv", sep="\t", index=False)
        meta = {**asdict(state), "metrics": metrics}
        (tmp / "meta.json").write_text(atomic.dumps(meta))


def _start(runs: list[_Run], device: torch.device) -> tuple[int, list[dict], list[dict | None]]:
    """The step every unfinished model resumes from (the newest checkpoint they all have),
    their weights there and their optimiser states (None on a fresh start)."""
    common = set.intersection(*(set(r.resumable) for r in runs)) if runs else set()
    start = max(common, default=0)
    weights, optims = [], []
    for r in runs:
        if start == 0:
            r.state, r.rows = RunState(step=0, config_hash=r.config_hash), []
            weights.append(_initial_state(r.member, device))
            optims.append(None)
            continue
        ckpt = r.member.model_dir / step_dir_name(start)
        r.state = _state_of(atomic.read_json(ckpt / "meta.json"))
        r.rows = pd.read_csv(ckpt / "log.tsv", sep="\t").to_dict("records")
        weights.append(load_file(str(ckpt / "model.safetensors"), device=str(device)))
        # on the CPU: AdamW moves the moments to the weights' device and keeps its step
        # counts on the host (a step count on a GPU costs a sync per parameter per step)
        optims.append(torch.load(ckpt / "optim.pt", map_location="cpu", weights_only=True))
        log.info("resumed %s from checkpoint step %d", r.member.model_dir.name, start)
        print(f"[polyrot] resumed {r.member.model_dir} from checkpoint step {start}", flush=True)
    return start, weights, optims


def train_stack(
    members: list[Member],
    task: TaskConfig,
    cfg: TrainConfig,
    progress: bool = True,
    stop_after: int | None = None,
    finish_runs: bool = True,
) -> list[RunState]:
    """Train ``members`` as one stacked model (resuming where their checkpoints allow).

    Each model keeps the semantics of training it alone: its own initialisation and data
    stream, AdamW, gradient clipping by its own norm, the shared schedule, evaluation,
    best/final selection and early stop (a stopped model leaves the stack; the job ends
    when none is left) and, for cohort A's non-anchor seeds, frozen I/O. Checkpoints are
    written per model, in the single-model layout. ``stop_after`` stops after that many
    steps of this call without writing best/final (tests simulate a killed job with it);
    ``finish_runs=False`` leaves best/final to ``finish`` (the workflow's per-model rule).
    """
    if not members:
        raise ValueError("train_stack needs at least one model")
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    seeds = [m.seed for m in members]
    runs = [_prepare(m, task, cfg, seeds) for m in members]
    active = [r for r in runs if not r.done(cfg)]
    start, weights, optims = _start(active, device)

    sets = eval_sets(task)
    use_amp = cfg.amp and device.type == "cuda"
    label = "+".join(r.member.model_dir.name for r in runs)
    bar = tqdm(
        total=cfg.steps, initial=start, desc=label[:40], disable=not progress, mininterval=1.0, dynamic_ncols=True
    )
    stream = StackStream(task, cfg, [r.member.seed for r in active], start, workers=cfg.data_workers)
    stack = opt = None
    if active:
        stack = StackedToy(weights, ToyConfig()).to(device).train()
        opt = _Optimiser(stack, [r.member.frozen_io is not None for r in active], cfg)
        if start > 0:
            opt.load(optims)
    running = torch.zeros(len(active), device=device)
    n_running = 0
    step = start
    try:
        while active:
            data = next(stream).to(device, non_blocking=True).long()
            lr = lr_at(step, cfg)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = stack(data[:, 0])
            losses = per_model_loss(logits, data)
            opt.opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step(lr, cfg.grad_clip)
            running += losses.detach()
            n_running += 1
            step += 1
            for r in active:
                r.state.step = step
            bar.update(1)

            at_ckpt = step % cfg.checkpoint_every == 0 or step == cfg.steps
            if step % cfg.log_every == 0 or at_ckpt:
                mean_losses = [v / n_running for v in running.tolist()]
                running.zero_()
                n_running = 0
                for k, r in enumerate(active):
                    row = {"step": step, "lr": lr, "train_loss": mean_losses[k]}
                    if at_ckpt:
                        metrics = evaluate(stack.single(k), sets, device)
                        row.update(metrics)
                        r.metrics = {**metrics, "train_loss": mean_losses[k]}
                        _update_best(r.state, metrics)
                        _early_stop(r.state, metrics, cfg)
                    r.rows.append(row)
                if at_ckpt:
                    for k, r in enumerate(active):
                        _write_checkpoint(r.member.model_dir, stack.state(k), opt.single(k), r.state, r.rows, r.metrics)
                    for r in active:  # only once every model's checkpoint of this step exists
                        _prune(r.member.model_dir, r.state, cfg.keep_all_checkpoints)
                    accs = [r.metrics["min_heldout_acc"] for r in active]
                    bar.set_postfix(loss=f"{min(mean_losses):.4f}", min_acc=f"{min(accs):.4f}", models=len(active))
                else:
                    bar.set_postfix(loss=f"{min(mean_losses):.4f}", models=len(active))
            if stop_after is not None and step - start >= stop_after:
                return [r.state for r in runs]
            keep = [k for k, r in enumerate(active) if not r.done(cfg)]
            if len(keep) < len(active):
                active = [active[k] for k in keep]
                stream.keep(keep)
                if active:
                    stack, opt = _restack(stack, opt, keep, active, cfg)
                    running = running[keep]
    finally:
        bar.close()
        stream.close()

    if finish_runs:
        for r in runs:
            finish(r.member.model_dir, r.config_hash)
    return [r.state for r in runs]


def _early_stop(state: RunState, metrics: dict, cfg: TrainConfig) -> None:
    if cfg.early_stop is None:
        return
    if state.threshold_step is None and metrics["min_heldout_acc"] >= cfg.early_stop.threshold:
        state.threshold_step = state.step
    if state.threshold_step is not None and state.step >= state.threshold_step + cfg.early_stop.patience:
        state.stopped_early = True


def _restack(
    stack: StackedToy, opt: _Optimiser, keep: list[int], active: list[_Run], cfg: TrainConfig
) -> tuple[StackedToy, _Optimiser]:
    """The models at ``keep`` as a new stack, with their optimiser states."""
    singles = [opt.single(k) for k in keep]
    smaller = stack.select(keep).train()
    new = _Optimiser(smaller, [r.member.frozen_io is not None for r in active], cfg)
    new.load(singles)
    return smaller, new


def train(
    model_dir: str | Path,
    seed: int,
    task: TaskConfig,
    cfg: TrainConfig,
    frozen_io: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> RunState:
    """Train one model into ``model_dir`` (resuming if possible) and write best/ and final/:
    ``train_stack`` with a stack of one."""
    return train_stack([Member(Path(model_dir), seed, frozen_io)], task, cfg, progress, stop_after)[0]
