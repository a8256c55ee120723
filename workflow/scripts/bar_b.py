"""Judge Bar B (within-seed and cross-seed) and write results/bars/B.json."""

import torch

from polyrot import config, prereg, train
from polyrot.bars import behavioural, gate
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    cfg = config.load(smk.config)
    reg = prereg.load(cfg.preregistration, cfg.preregistration_lock)
    spec = reg.bar("B")
    device = train.resolve_device(cfg.train.device)
    models = {m: train.load_weights(p, device).eval() for m, p in zip(smk.params.models, smk.input.models, strict=True)}
    references = {m: c.anchor_model for c in cfg.cohorts.values() for m in c.models if m != c.anchor_model}
    b = cfg.bar_b
    units = behavioural.bar_b_units(
        models, references, cfg.task, b.n_samples, b.batch_size, b.seed, float(spec["epsilon"]), device
    )
    record = gate.write_verdict(
        smk.output[0],
        "B",
        units,
        reg,
        config.stable_hash(cfg.raw),
        smk.input,
        extra={
            "n_samples": b.n_samples,
            "checkpoint": b.checkpoint,
            "models": list(models),
            "epsilon": spec["epsilon"],
        },
    )
    with open(smk.log[0], "w") as fh:
        fh.write(gate.describe(record) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
