"""What a longer CPU default would buy and cost: trains one toy model (seed 0, cohort A's
anchor) per option of steps x batch with config/config.yaml's other settings, one thread
each, and prints its wall time against the first option's (the baseline, today's default),
its analysis-set accuracies, min held-out accuracy and within-seed Bar B (the default's
4,096 samples, the registered epsilon).

Run the options two at a time (``--parallel 2``) on a 2-core machine to see them as the
default run's two concurrent training jobs see the machine.

    python benchmarks/default_training_options.py --options 2500x64,2500x128,4000x128 --parallel 2
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from polyrot import atomic, config
from polyrot.bars import behavioural
from polyrot.toy import train

EPSILON = 1e-6  # preregistration.md, Bar B


def run(option: str, config_path: str) -> dict:
    steps, batch = (int(x) for x in option.split("x"))
    cfg = config.load_file(config_path)
    task = cfg.settings.task
    tcfg = dataclasses.replace(cfg.settings.train, steps=steps, batch_size=batch, device="cpu", threads=1)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train.train(tmp, 0, task, tcfg, progress=False)
        wall = time.perf_counter() - start
        best = atomic.read_json(Path(tmp) / "best" / "meta.json")
        model = train.load_weights(Path(tmp) / "best" / "model.safetensors").eval()
    b = cfg.bars.B
    unit = behavioural.bar_b_units({"m": model}, {}, task, b.n_samples, b.batch_size, b.seed, EPSILON, progress=False)
    m = best["metrics"]
    return {
        "option": option,
        "wall_s": wall,
        "best_step": best["step"],
        "acc_depth": m["acc_analysis_depth"],
        "acc_valid": m["acc_analysis_valid"],
        "min_heldout": m["min_heldout_acc"],
        "bar_b": unit[0]["value"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--options", default="2500x64,2500x128,4000x128", help="steps x batch, the first the baseline")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--config", default="config/config.yaml")
    args = parser.parse_args()
    options = args.options.split(",")
    with concurrent.futures.ProcessPoolExecutor(args.parallel) as pool:
        rows = list(pool.map(run, options, [args.config] * len(options)))
    base = rows[0]["wall_s"]
    print(
        f"{'steps x batch':14s} {'wall s':>7s} {'ratio':>6s} {'best':>6s} {'depth':>7s} {'valid':>7s} {'min h-o':>8s} {'Bar B':>9s}"
    )
    for r in rows:
        print(
            f"{r['option']:14s} {r['wall_s']:7.1f} {r['wall_s'] / base:6.2f} {r['best_step']:6d} {r['acc_depth']:7.4f} "
            f"{r['acc_valid']:7.4f} {r['min_heldout']:8.4f} {r['bar_b']:9.2e}"
        )


if __name__ == "__main__":
    main()
