"""Bars C and Pr: one model's predicted (IG, attribution patching) and measured ablation effects."""

import time

import torch

from polyrot import atomic
from polyrot.bars import causal
from polyrot.scripting import run_script
from polyrot.toy import train


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    c = smk.params.causal
    start = time.perf_counter()
    mean_batch, eval_batch = causal.batches(c["mean_n"], c["eval_n"], c["seed"])
    effects = causal.model_effects(train.load_weights(smk.input[0]).eval(), mean_batch, eval_batch)
    seconds = time.perf_counter() - start
    atomic.write_json(smk.output[0], {**effects, "ig_steps": causal.IG_STEPS, "settings": c, "seconds": seconds})
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(effects['measured'])} components, {seconds:.1f} s\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
