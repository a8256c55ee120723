"""How long would config/paper.yaml take here? Trains one seed with the paper's
hyper-parameters for a few steps, runs Bar B on a slice of samples, and projects both to
the paper's scale (60,000 steps; 10^7 Bar B sequences per model).

    python benchmarks/paper_scale_probe.py [--config config/paper.yaml] [--steps 1000] [--bar-samples 50000]
        [--bar-models 11]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import torch

from polyrot import atomic, config
from polyrot.bars import behavioural
from polyrot.toy import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/paper.yaml")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--bar-samples", type=int, default=50_000)
    parser.add_argument("--bar-models", type=int, default=11, help="models Bar B judges (paper: 10 seeds + the decoy)")
    args = parser.parse_args()
    cfg = config.load_file(args.config)
    task = cfg.settings.task
    device = train.resolve_device(cfg.train.device)
    tcfg = dataclasses.replace(
        cfg.settings.train,
        steps=args.steps,
        warmup_steps=min(cfg.train.warmup_steps, args.steps // 4),
        checkpoint_every=args.steps,
        early_stop=None,
    )
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {tcfg.threads} thread(s)"
    print(f"device: {where}; torch {torch.__version__}; amp {tcfg.amp and device.type == 'cuda'}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train.train(tmp, 0, task, tcfg, progress=False)
        elapsed = time.perf_counter() - start
        meta = atomic.read_json(f"{tmp}/final/meta.json")["metrics"]
        model = train.load_weights(f"{tmp}/final/model.safetensors", device).eval()
    per_step = elapsed / args.steps
    print(
        f"train: {args.steps} steps x {tcfg.batch_size} in {elapsed:.1f} s ({per_step * 1e3:.2f} ms/step); "
        f"projected {cfg.train.steps} steps: {per_step * cfg.train.steps / 3600:.2f} h per seed"
    )
    print(
        "accuracy after the probe (analysis batch): "
        + ", ".join(f"{h} {meta[f'acc_analysis_{h}']:.4f}" for h in ("tok", "depth", "valid"))
    )
    # Bar B as the rule runs it: every model (the seeds and the decoy) in one stacked pass,
    # within-seed units for all and cross-seed units for the non-anchors, twice (the
    # registered statistic and the study code's)
    k = args.bar_models
    models = {f"m{i}": model for i in range(k)}
    references = {f"m{i}": "m0" for i in range(1, k)}
    start = time.perf_counter()
    units = behavioural.bar_b_units(
        models, references, task, args.bar_samples, cfg.bars.B.batch_size, cfg.bars.B.seed, 1e-6, device, progress=False
    )
    elapsed = time.perf_counter() - start
    rate = args.bar_samples / elapsed
    print(
        f"Bar B, {k} models stacked: {args.bar_samples} sequences in {elapsed:.1f} s ({rate:.0f} seq/s, within-seed KL "
        f"{units[0]['value']:.3g}); projected {cfg.bars.B.n_samples:.0e} sequences, both statistics: "
        f"{2 * cfg.bars.B.n_samples / rate / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
