"""Training throughput of polyrot.toy.train against a plain PyTorch loop, measured in one run.

The baseline ("plain") is the obvious loop over the same model, batch size and task: each
step generates its batch inline, runs the full 64-token context, and reads the loss with
``.item()``. Ours runs ``polyrot.toy.train.train`` (background data generation, no per-step
host sync, optional length bucketing; evaluation and a checkpoint at the end included).
Both count sequences per second; the printed ratio is ours / plain.

    python benchmarks/train_throughput.py [--steps 300] [--batch 64] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import torch

from polyrot.config import TaskConfig, TrainConfig
from polyrot.toy import dyck, train, transformer


def plain_loop(steps: int, batch: int, device: str, seed: int = 0) -> float:
    model = transformer.build(seed).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=1e-4)
    start = time.perf_counter()
    for step in range(steps):
        b = dyck.sample(batch, seed * 1_000_003 + step)
        data = torch.from_numpy(b.stacked()).to(device)
        loss = train.loss_fn(model(data[0]), data)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def our_loop(steps: int, cfg: TrainConfig, seed: int = 0) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train.train(tmp, seed, TaskConfig(analysis_n=256, heldout_n=256), cfg, progress=False)
        return steps * cfg.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch,
        warmup_steps=10,
        checkpoint_every=args.steps,
        log_every=50,
        early_stop=None,
        device=args.device,
        amp=False,
        threads=args.threads,
        length_bucketing=False,
    )
    plain_loop(20, args.batch, args.device)  # warm-up
    plain = plain_loop(args.steps, args.batch, args.device)
    ours_full = our_loop(args.steps, cfg)
    ours_bucketed = our_loop(args.steps, dataclasses.replace(cfg, length_bucketing=True))
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{args.threads} CPU thread(s)"
    print(f"batch {args.batch}, {args.steps} steps, {where}, torch {torch.__version__} (fp32 in both loops)")
    print(f"{'loop':32s} {'seq/s':>9s} {'ratio':>7s}")
    print(f"{'plain PyTorch (baseline)':32s} {plain:9.0f} {1.0:7.2f}")
    print(f"{'polyrot, full 64-token context':32s} {ours_full:9.0f} {ours_full / plain:7.2f}")
    print(f"{'polyrot, length bucketing':32s} {ours_bucketed:9.0f} {ours_bucketed / plain:7.2f}")


if __name__ == "__main__":
    main()
