"""Train the SAEs of one (arm, site, expansion) for every model, stacked or one by one; where
the config's SAEs have one seed per model, also the shared-init SAEs of the paper comparison
(every model's SAE from one seed and batch order, as the study's code), in the same stack."""

import dataclasses

import pandas as pd
import torch

from polyrot import activations, atomic, config, sae
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
    models = list(smk.params.models)
    acts = [activations.read_cache(p).acts for p in smk.input]
    # (SAE paths, metrics path, shared init?) of each set trained here
    sets = [(smk.output.saes, smk.output.metrics, settings["shared_init"])]
    if smk.output.shared_init_saes:
        sets.append((smk.output.shared_init_saes, smk.output.shared_init_metrics[0], True))
    jobs = [
        (model, path, x, config.sae_seed(settings["seed"], model, shared), shared)
        for paths, _, shared in sets
        for model, path, x in zip(models, paths, acts, strict=True)
    ]
    seeds = [seed for _, _, _, seed, _ in jobs]
    if settings["stacked"]:
        saes = sae.train_saes_stacked([x for _, _, x, _, _ in jobs], cfg, seeds=seeds)
    else:
        saes = [sae.train_sae(x, dataclasses.replace(cfg, seed=seed)) for _, _, x, seed, _ in jobs]
    rows: dict[bool, list[dict]] = {shared: [] for _, _, shared in sets}
    for (model, path, x, seed, shared), s in zip(jobs, saes, strict=True):
        m = sae.sae_metrics(s, x)
        meta = {
            "model": model,
            "site": smk.wildcards.site,
            "config": dataclasses.asdict(dataclasses.replace(cfg, seed=seed)),
            "shared_init": shared,
            "fit_metrics": m,
        }
        sae.save_sae(s, path, meta)
        init = "shared" if shared else "independent"
        rows[shared].append({"model": model, "site": smk.wildcards.site, "expansion": expansion, "sae_init": init, **m})
    for _, metrics_path, shared in sets:
        atomic.write_tsv(
            metrics_path,
            pd.DataFrame(rows[shared]),
            header="SAE metrics on the fit split; EV conventions: centred, scalar",
        )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
