"""Train the SAEs of one (arm, site, expansion) for every model, stacked or one by one: the
registered SAEs (our recipe; one seed per model unless shared_init) and the paper
comparison's, with the study's recipe and one seed for every model (polyrot.sae.RECIPES),
in the same stack."""

import dataclasses

import pandas as pd
import torch

from polyrot import activations, atomic, config, sae, settings
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    arm = settings.parse(settings.SAESettings, dict(smk.params.sae))
    expansion = int(smk.wildcards.expansion)
    cfg = sae.SAEConfig.of(smk.params.sae, expansion)
    models = list(smk.params.models)
    acts = [activations.read_cache(p).acts for p in smk.input]
    # (SAE paths, metrics path, shared seed?, recipe) of each set trained here
    sets = [
        (smk.output.saes, smk.output.metrics, arm.shared_init, "ours"),
        (smk.output.study_saes, smk.output.study_metrics, True, "study"),
    ]
    jobs = [
        (model, path, x, config.sae_seed(arm.seed, model, shared), recipe)
        for paths, _, shared, recipe in sets
        for model, path, x in zip(models, paths, acts, strict=True)
    ]
    seeds, recipes = [j[3] for j in jobs], [j[4] for j in jobs]
    if arm.stacked:
        saes = sae.train_saes_stacked([j[2] for j in jobs], cfg, seeds=seeds, recipes=recipes)
    else:
        saes = [sae.train_sae(x, dataclasses.replace(cfg, seed=seed, recipe=r)) for _, _, x, seed, r in jobs]
    rows: dict[str, list[dict]] = {recipe: [] for *_, recipe in sets}
    for (model, path, x, seed, recipe), s in zip(jobs, saes, strict=True):
        m = sae.sae_metrics(s, x)
        meta = {
            "model": model,
            "site": smk.wildcards.site,
            "config": dataclasses.asdict(dataclasses.replace(cfg, seed=seed, recipe=recipe)),
            "fit_metrics": m,
        }
        sae.save_sae(s, path, meta)
        rows[recipe].append({"model": model, "site": smk.wildcards.site, "expansion": expansion, "recipe": recipe, **m})
    for _, metrics_path, _, recipe in sets:
        atomic.write_tsv(
            metrics_path,
            pd.DataFrame(rows[recipe]),
            header=f"SAE metrics on the fit split ({recipe} recipe); EV conventions: centred, scalar",
        )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
