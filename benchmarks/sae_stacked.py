"""Training k SAEs: one after another with polyrot.sae.train_sae (the baseline, "sequential")
against all at once with polyrot.sae.train_saes_stacked ("stacked"), measured in one run.

Both train the same k SAEs (seeds 0..k-1, the same random Gaussian data sets of n rows each)
for the same steps and batch size; a short untimed run first absorbs one-time start-up costs.
Prints seconds for each and the ratio sequential / stacked (> 1: stacking is faster).

    python benchmarks/sae_stacked.py [--k 3] [--n 30000] [--d 64] [--expansion 8] [--steps 300]
                                     [--batch 1024] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from polyrot.sae import SAEConfig, train_sae, train_saes_stacked


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--expansion", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    sets = [torch.randn(args.n, args.d, generator=gen) for _ in range(args.k)]
    cfg = dataclasses.replace(SAEConfig.of(None, args.expansion), steps=args.steps, batch_size=args.batch)
    seeds = list(range(args.k))

    train_sae(sets[0], dataclasses.replace(cfg, steps=10), device=args.device, progress=False)  # warm-up
    _sync(args.device)

    start = time.perf_counter()
    for acts, seed in zip(sets, seeds, strict=True):
        train_sae(acts, dataclasses.replace(cfg, seed=seed), device=args.device, progress=False)
    _sync(args.device)
    sequential = time.perf_counter() - start

    start = time.perf_counter()
    train_saes_stacked(sets, cfg, device=args.device, progress=False, seeds=seeds)
    _sync(args.device)
    stacked = time.perf_counter() - start

    print(
        f"k={args.k} n={args.n} d={args.d} d_sae={args.expansion * args.d} steps={args.steps} "
        f"batch={args.batch} threads={args.threads} device={args.device}"
    )
    print(f"{'method':<12}{'seconds':>10}{'ms/step/SAE':>14}")
    for name, secs in (("sequential", sequential), ("stacked", stacked)):
        print(f"{name:<12}{secs:>10.2f}{1000 * secs / (args.steps * args.k):>14.2f}")
    print(f"ratio sequential/stacked: {sequential / stacked:.2f}")


if __name__ == "__main__":
    main()
