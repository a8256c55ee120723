"""Train the SAEs of one (arm, site, expansion) for every model, stacked or one by one."""

import dataclasses

import pandas as pd
import torch

from polyrot import activations, config, io, sae
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    settings = dict(smk.params.sae)
    expansion = int(smk.wildcards.expansion)
    cfg = sae.SAEConfig(
        expansion=expansion,
        l1=settings["l1"],
        lr=settings["lr"],
        batch_size=settings["batch_size"],
        steps=settings["steps"],
        seed=settings["seed"],
    )
    acts = [activations.read_cache(p).acts for p in smk.input]
    seeds = [config.sae_seed(settings["seed"], m, settings["shared_init"]) for m in smk.params.models]
    if settings["stacked"]:
        saes = sae.train_saes_stacked(acts, cfg, seeds=seeds)
    else:
        saes = [sae.train_sae(a, dataclasses.replace(cfg, seed=s)) for a, s in zip(acts, seeds, strict=True)]
    rows = []
    for model, path, x, s, seed in zip(smk.params.models, smk.output.saes, acts, saes, seeds, strict=True):
        m = sae.sae_metrics(s, x)
        meta = {
            "model": model,
            "site": smk.wildcards.site,
            "config": dataclasses.asdict(dataclasses.replace(cfg, seed=seed)),
            "shared_init": settings["shared_init"],
            "fit_metrics": m,
        }
        sae.save_sae(s, path, meta)
        rows.append({"model": model, "site": smk.wildcards.site, "expansion": expansion, **m})
    io.write_tsv(
        smk.output.metrics, pd.DataFrame(rows), header="SAE metrics on the fit split; EV conventions: centred, scalar"
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
