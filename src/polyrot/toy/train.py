"""Training the toy transformer: data stream, schedule, evaluation, checkpoints, resume.

Layout under a model directory (``results/toy/models/{model}/``)::

    step000200/            one checkpoint: model.safetensors, optim.pt, meta.json, log.tsv
    best/, final/          model.safetensors + meta.json (the DAG's outputs)
    train_log.tsv          one row per log or evaluation step

Checkpoints are written to a temporary directory and renamed, so a directory named
``stepNNNNNN`` is always complete. ``train()`` resumes from the newest checkpoint whose
config hash matches; checkpoints from another config are removed, never mixed in.
Data are a pure function of (data seed, step), so a resumed run is bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from polyrot import atomic
from polyrot.config import FamilyConfig, TaskConfig, TrainConfig, stable_hash
from polyrot.toy import dyck
from polyrot.toy.evaluation import eval_sets, evaluate, loss_fn
from polyrot.toy.transformer import IO_PARAMS, ToyTransformer, build

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"^step(\d{6,})$")


def step_dir_name(step: int) -> str:
    return f"step{step:06d}"


def data_seed(seed: int) -> int:
    """The data-order seed of a model: differs from its init seed's stream."""
    return int(np.random.SeedSequence([seed, 0xDA7A]).generate_state(1)[0])


# ---------------------------------------------------------------- data
def _chunk(task: TaskConfig, cfg: TrainConfig, seed: int, index: int) -> list[np.ndarray]:
    """The ``index``-th chunk of ``chunk_steps`` batches of token ids (labels recomputed on use)."""
    rng = np.random.default_rng(np.random.SeedSequence([data_seed(seed), index]))
    n = cfg.chunk_steps * cfg.batch_size
    batch = dyck.sample(n, rng, task.train_min_len, task.train_max_len, task.p_valid, task.p_open)
    stacked = batch.stacked()
    if cfg.length_bucketing:
        order = np.argsort((batch.tokens != dyck.PAD).sum(1), kind="stable")
        stacked = stacked[:, order]
    parts = [stacked[:, i * cfg.batch_size : (i + 1) * cfg.batch_size] for i in range(cfg.chunk_steps)]
    if cfg.length_bucketing:
        perm = rng.permutation(cfg.chunk_steps)
        parts = [parts[i] for i in perm]
    out = []
    for p in parts:
        width = int((p[0] != dyck.PAD).sum(1).max()) if cfg.length_bucketing else dyck.N_CTX
        out.append(np.ascontiguousarray(p[:, :, :width]))
    return out


def batches(task: TaskConfig, cfg: TrainConfig, seed: int, start_step: int = 0) -> Iterator[torch.Tensor]:
    """Infinite stream of ``(3, batch, T)`` int64 tensors (tokens, depth, valid) from
    ``start_step`` on; the next chunk is generated in a background thread."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dyck-data")
    index = start_step // cfg.chunk_steps
    skip = start_step % cfg.chunk_steps
    future = pool.submit(_chunk, task, cfg, seed, index)
    try:
        while True:
            parts = future.result()
            index += 1
            future = pool.submit(_chunk, task, cfg, seed, index)
            for p in parts[skip:]:
                yield torch.from_numpy(p)
            skip = 0
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


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
    """A ToyTransformer with weights from a safetensors file."""
    model = ToyTransformer()
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model.to(device)


def _write_checkpoint(
    model_dir: Path, model: ToyTransformer, opt: torch.optim.Optimizer, state: RunState, rows: list[dict], metrics: dict
) -> None:
    with atomic.atomic_dir(model_dir / step_dir_name(state.step)) as tmp:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors")
        )
        torch.save(opt.state_dict(), tmp / "optim.pt")
        pd.DataFrame(rows).to_csv(tmp / "log.tsv", sep="\t", index=False)
        meta = {**asdict(state), "metrics": metrics}
        (tmp / "meta.json").write_text(atomic.dumps(meta))


def _prune(model_dir: Path, state: RunState, keep_all: bool) -> None:
    if keep_all:
        return
    for step in list_checkpoints(model_dir):
        if step not in (state.step, state.best_step):
            shutil.rmtree(model_dir / step_dir_name(step))


# ---------------------------------------------------------------- the loop
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config asks for device cuda but torch sees no CUDA device; use cpu or auto")
    return torch.device(name)


def run_hash(task: TaskConfig, cfg: TrainConfig, seed: int, frozen_io: dict[str, torch.Tensor] | None) -> str:
    """Everything that determines the trained weights (not threads, device or logging)."""
    relevant = {
        k: v for k, v in asdict(cfg).items() if k not in ("threads", "log_every", "keep_all_checkpoints", "device")
    }
    io_hash = None
    if frozen_io is not None:
        io_hash = stable_hash({k: v.cpu().numpy().tobytes().hex() for k, v in sorted(frozen_io.items())})
    return stable_hash(
        {"task": asdict(task), "train": relevant, "seed": seed, "frozen_io": io_hash, "arch": "toy-104448"}
    )


def train(
    model_dir: str | Path,
    seed: int,
    task: TaskConfig,
    cfg: TrainConfig,
    frozen_io: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> RunState:
    """Train one model into ``model_dir`` (resuming if possible) and write best/ and final/.

    ``frozen_io`` (cohort A's non-anchor seeds) replaces W_E and the three unembeddings,
    which then receive no update at all (not even weight decay). ``stop_after`` stops the
    loop after that many steps of this call without writing best/final (for tests that
    simulate a killed job).
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    config_hash = run_hash(task, cfg, seed, frozen_io)

    model = build(seed).to(device)
    if frozen_io is not None:
        missing = set(IO_PARAMS) - set(frozen_io)
        if missing:
            raise ValueError(f"frozen I/O weights lack {sorted(missing)}")
        with torch.no_grad():
            for name in IO_PARAMS:
                getattr(model, name).copy_(frozen_io[name])
                getattr(model, name).requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    state = RunState(step=0, config_hash=config_hash)
    rows: list[dict] = []
    for tmp in model_dir.glob(".*.tmp"):  # half-written checkpoints of a killed run
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    metas = {s: atomic.read_json(model_dir / step_dir_name(s) / "meta.json") for s in list_checkpoints(model_dir)}
    for s, meta in metas.items():
        if meta["config_hash"] != config_hash:
            log.warning("removing checkpoint step %d of another config", s)
            shutil.rmtree(model_dir / step_dir_name(s))
    resumable = [s for s, meta in metas.items() if meta["config_hash"] == config_hash]
    if resumable:
        step = max(resumable)
        ckpt = model_dir / step_dir_name(step)
        model.load_state_dict(load_file(str(ckpt / "model.safetensors"), device=str(device)))
        opt.load_state_dict(torch.load(ckpt / "optim.pt", map_location=device, weights_only=True))
        meta = {k: v for k, v in metas[step].items() if k != "metrics"}
        best_score = meta.pop("best_score")
        state = RunState(**meta, best_score=tuple(best_score) if best_score else None)
        rows = pd.read_csv(ckpt / "log.tsv", sep="\t").to_dict("records")
        log.info("resumed %s from checkpoint step %d", model_dir.name, step)
        print(f"[polyrot] resumed {model_dir} from checkpoint step {step}", flush=True)

    sets = eval_sets(task)
    use_amp = cfg.amp and device.type == "cuda"
    model.train()
    running = torch.zeros((), device=device)
    n_running = 0
    start = state.step
    bar = tqdm(
        total=cfg.steps, initial=start, desc=model_dir.name, disable=not progress, mininterval=1.0, dynamic_ncols=True
    )
    stream = batches(task, cfg, seed, start)
    done = state.stopped_early or state.step >= cfg.steps
    try:
        while not done:
            step = state.step
            data = next(stream).to(device, non_blocking=True)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(data[0])
            loss = loss_fn(logits, data)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            running += loss.detach()
            n_running += 1
            state.step = step + 1
            bar.update(1)

            at_ckpt = state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps
            if state.step % cfg.log_every == 0 or at_ckpt:
                row = {"step": state.step, "lr": lr_at(step, cfg), "train_loss": float(running) / n_running}
                running.zero_()
                n_running = 0
                if at_ckpt:
                    metrics = evaluate(model, sets, device)
                    row.update(metrics)
                    _update_best(state, metrics)
                    if cfg.early_stop is not None:
                        if state.threshold_step is None and metrics["min_heldout_acc"] >= cfg.early_stop.threshold:
                            state.threshold_step = state.step
                        if (
                            state.threshold_step is not None
                            and state.step >= state.threshold_step + cfg.early_stop.patience
                        ):
                            state.stopped_early = True
                    bar.set_postfix(loss=f"{row['train_loss']:.4f}", min_acc=f"{metrics['min_heldout_acc']:.4f}")
                else:
                    bar.set_postfix(loss=f"{row['train_loss']:.4f}")
                rows.append(row)
                if at_ckpt:
                    _write_checkpoint(model_dir, model, opt, state, rows, {**metrics, "train_loss": row["train_loss"]})
                    _prune(model_dir, state, cfg.keep_all_checkpoints)
            done = state.stopped_early or state.step >= cfg.steps
            if stop_after is not None and state.step - start >= stop_after:
                return state
    finally:
        bar.close()
        stream.close()

    _finish(model_dir, state, rows)
    return state


def _update_best(state: RunState, metrics: dict) -> None:
    score = (metrics["min_heldout_acc"], -metrics["loss_heldout"])
    if state.best_score is None or score > tuple(state.best_score):
        state.best_score = score
        state.best_step = state.step


def _finish(model_dir: Path, state: RunState, rows: list[dict]) -> None:
    """Write train_log.tsv, best/ and final/ from the checkpoints."""
    frame = pd.DataFrame(rows)
    atomic.write_tsv(model_dir / "train_log.tsv", frame)
    final_step = list_checkpoints(model_dir)[-1]
    assert final_step == state.step, (final_step, state.step)
    for name, step in (("best", state.best_step), ("final", state.step)):
        src = model_dir / step_dir_name(step)
        meta = atomic.read_json(src / "meta.json")
        meta.update(selected_as=name, source_checkpoint=src.name)
        with atomic.atomic_dir(model_dir / name) as tmp:
            shutil.copy2(src / "model.safetensors", tmp / "model.safetensors")
            (tmp / "meta.json").write_text(atomic.dumps(meta))
