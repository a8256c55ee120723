"""Stacked toy training against one model at a time, and the data generator against what a
stack consumes, measured in one run on one machine.

Baseline ("per-seed loop"): the plain single-model step (``ToyTransformer``, ``loss_fn``,
``clip_grad_norm_``, AdamW over one model), on batches generated beforehand. Ours:
``polyrot.toy.train.train_stack`` with K = 1, 5, 10 models, everything included (its
data stream, per-model clipping, checkpoints and evaluation at the end); its ms/step is
the difference of two runs of different length over the difference of their steps, so
start-up and the final evaluation cancel. The printed ratio is the per-seed loop's time
for K models over the stack's.

The generator: sequences/s of one process running ``polyrot.toy.data.chunk``, and of a
``StackStream`` with ``--workers`` processes, against K x batch / (stacked s/step).

``--paper`` then runs ``config/paper.yaml``'s toy training for ``--paper-steps`` steps per
stack (its real batch, stacks, checkpoint interval and evaluation), and projects the wall
time of the full 60,000 steps (the paper's schedule cannot stop early: seed 0 was at
0.998 min held-out accuracy after 15,000 steps).

    python benchmarks/train_stacked.py --device cpu --threads 2 --batch 64 --steps 40
    python benchmarks/train_stacked.py --device cuda --batch 512 --steps 300 --workers 8 --paper
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch

from polyrot import config
from polyrot.config import TaskConfig, TrainConfig
from polyrot.toy import data, train, transformer
from polyrot.toy.evaluation import loss_fn


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def per_seed_loop(cfg: TrainConfig, task: TaskConfig, steps: int) -> float:
    """ms per step of the plain single-model loop (bf16 autocast on CUDA, as training)."""
    device = cfg.device
    model = transformer.build(0).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    stream = data.batches(task, cfg, 0)
    batches = [next(stream).to(device) for _ in range(steps + 5)]
    stream.close()

    def step(batch: torch.Tensor) -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cfg.amp and device == "cuda"):
            logits = model(batch[0])
        loss = loss_fn(logits, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()

    for b in batches[:5]:
        step(b)
    sync(device)
    start = time.perf_counter()
    for b in batches[5:]:
        step(b)
    sync(device)
    return (time.perf_counter() - start) / steps * 1000


def stacked_ms(cfg: TrainConfig, task: TaskConfig, k: int, steps: int) -> float:
    """ms per step of train_stack with k models: (t(2n) - t(n)) / n."""
    times = []
    for n in (steps, 2 * steps):
        run = dataclasses.replace(cfg, steps=n, checkpoint_every=n, warmup_steps=min(cfg.warmup_steps, n))
        with tempfile.TemporaryDirectory() as tmp:
            members = [train.Member(Path(tmp) / str(s), s) for s in range(k)]
            sync(cfg.device)
            start = time.perf_counter()
            train.train_stack(members, task, run, progress=False)
            sync(cfg.device)
            times.append(time.perf_counter() - start)
    return (times[1] - times[0]) / steps * 1000


def generator_rate(cfg: TrainConfig, task: TaskConfig, k: int, workers: int, chunks: int = 3) -> tuple[float, float]:
    """Sequences/s of one process calling chunk(), and of a StackStream of k models."""
    start = time.perf_counter()
    for i in range(chunks):
        data.chunk(task, cfg, 0, i)
    one = chunks * cfg.chunk_steps * cfg.batch_size / (time.perf_counter() - start)
    n = chunks * cfg.chunk_steps
    with data.StackStream(task, cfg, list(range(k)), workers=workers) as stream:
        next(stream)  # start-up (worker processes import torch)
        start = time.perf_counter()
        for _ in range(n):
            next(stream)
        pooled = n * k * cfg.batch_size / (time.perf_counter() - start)
    return one, pooled


def paper_arm(steps: int, device: str, repo: Path) -> None:
    cfg = config.load_file(repo / "config/paper.yaml")
    task = cfg.settings.task
    full = dataclasses.replace(cfg.settings.train, device=device)
    run = dataclasses.replace(full, steps=steps)
    print(f"\npaper.yaml toy arm: stacks {list(cfg.toy_stacks)}, {steps} steps each (of {full.steps})")
    total_projected = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        anchors: dict[str, dict[str, torch.Tensor]] = {}
        for name, models in cfg.toy_stacks.items():
            members = []
            for m in models:
                frozen = None
                if cfg.needs_anchor(m):
                    frozen = anchors[cfg.cohort_of(m).anchor_model]
                members.append(train.Member(Path(tmp) / m, cfg.seed_of(m), frozen))
            sync(device)
            start = time.perf_counter()
            train.train_stack(members, task, run, progress=False)
            sync(device)
            wall = time.perf_counter() - start
            for m in models:
                weights = train.load_weights(Path(tmp) / m / "best" / "model.safetensors")
                anchors[m] = {k: getattr(weights, k).detach() for k in transformer.IO_PARAMS}
            projected = wall / steps * full.steps
            total_projected += projected
            print(f"  {name}: {wall:.1f} s for {steps} steps -> {projected / 60:.1f} min projected for {full.steps}")
    print(f"  toy arm projected: {total_projected / 60:.1f} min (goal <= 20)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40, help="steps per timing (stacks run this and twice this)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="data processes of the stacks (0 = threads)")
    parser.add_argument("--ks", default="1,5,10", help="stack sizes")
    parser.add_argument("--bucketing", action="store_true", help="length bucketing (the CPU default config's)")
    parser.add_argument("--paper", action="store_true", help="also run a slice of paper.yaml's toy arm")
    parser.add_argument("--paper-steps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = TaskConfig(analysis_n=128, heldout_n=128)  # the evaluation at the end stays small
    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch,
        warmup_steps=10,
        checkpoint_every=min(200, args.steps),  # every 200 steps at most (a period may not exceed the run)
        log_every=50,
        early_stop=None,
        device=args.device,
        amp=True,
        threads=args.threads,
        length_bucketing=args.bucketing,
        data_workers=args.workers,
        keep_all_checkpoints=False,
    )
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{args.threads} CPU thread(s)"
    print(f"batch {args.batch}, bucketing {args.bucketing}, {where}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    base = per_seed_loop(cfg, task, args.steps)
    print(f"{'loop':28s} {'ms/step':>9s} {'ms/seed-step':>13s} {'speed-up':>9s}")
    print(f"{'per-seed loop (baseline)':28s} {base:9.2f} {base:13.2f} {1.0:9.2f}")
    step_ms = {}
    for k in (int(x) for x in args.ks.split(",")):
        ms = stacked_ms(cfg, task, k, args.steps)
        step_ms[k] = ms
        print(f"{f'stacked, K = {k}':28s} {ms:9.2f} {ms / k:13.2f} {base * k / ms:9.2f}")
    k = max(step_ms)
    one, pooled = generator_rate(cfg, task, k, args.workers)
    need = k * args.batch / (step_ms[k] / 1000)
    print(f"\ngenerator: {one:,.0f} seq/s in one process; StackStream of {k} models with {args.workers} workers:")
    print(f"  {pooled:,.0f} seq/s against {need:,.0f} seq/s that K = {k} consumes ({pooled / need:.2f}x)")
    if args.paper:
        paper_arm(args.paper_steps, args.device, Path(__file__).resolve().parent.parent)


if __name__ == "__main__":
    main()
