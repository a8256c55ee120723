"""How long the Haar statistics take for 56 rotations at d = 512 (the paper's Pythia count),
against the paper's own test (scipy.stats.ks_2samp on the pooled angles) in the same run.

    python benchmarks/haar_stats.py [--n 56] [--d 512] [--n-null 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from polyrot import haar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=56)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--n-null", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(123)
    Rs = [haar.sample_haar(args.d, rng, 1 if i % 2 == 0 else -1) for i in range(args.n)]
    start = time.perf_counter()
    for R in Rs:
        haar.summary(R, np.random.default_rng(0), n_null=args.n_null)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    haar.ks_pooled_paper(Rs, np.random.default_rng(1), n_reference=10)
    paper = time.perf_counter() - start
    print(f"{args.n} Haar matrices, d = {args.d}, Monte-Carlo nulls of {args.n_null} samples per component")
    print(f"{'statistics':52s} {'seconds':>8s} {'ratio':>6s}")
    print(f"{'paper: pooled ks_2samp against 10 Haar (baseline)':52s} {paper:8.1f} {1.0:6.2f}")
    print(f"{'ours: summary() per matrix (exact KS, nulls, perm)':52s} {ours:8.1f} {ours / paper:6.2f}")


if __name__ == "__main__":
    main()
