"""Cache one toy model's activations at every audited site on the fit and held-out batches."""

from pathlib import Path

import torch

from polyrot import activations, config, dyck, train
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    cfg = config.load(smk.config)
    weights = Path(smk.params.weights)
    if not weights.exists():
        raise FileNotFoundError(
            f"checkpoint {weights.parent.name} of {smk.wildcards.model} was not kept ({weights} is missing): "
            "drift checkpoints need train.keep_all_checkpoints: true and a step that is a multiple of "
            "train.checkpoint_every"
        )
    model = train.load_weights(weights)
    fit = dyck.analysis_batch(cfg.task.analysis_n, cfg.task.analysis_seed)
    held = activations.heldout_batch(fit, cfg.audit.heldout_n, cfg.audit.heldout_seed)
    out = Path(smk.params.out_dir)
    for split, batch in (("fit", fit), ("heldout", held)):
        for site, cache in activations.toy_caches(model, batch, list(smk.params.sites)).items():
            activations.write_cache(out / f"{site}.{split}.npz", cache)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
