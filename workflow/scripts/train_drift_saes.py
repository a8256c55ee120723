"""The paper-direction drift's SAEs: one per (site, expansion) on the drift model's early
checkpoint, trained with the study's recipe and the drift's own l1, stacked per expansion."""

import dataclasses

import torch

from polyrot import activations, sae, settings
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    arm = settings.parse(settings.SAESettings, dict(p.sae))
    acts = [activations.read_cache(path).acts for path in smk.input]
    for expansion in arm.expansions:
        cfg = sae.SAEConfig.of(p.sae, expansion, l1=p.l1, recipe="study")
        chosen = [i for i, k in enumerate(p.saes) if k["expansion"] == expansion]
        trained = (
            sae.train_saes_stacked([acts[i] for i in chosen], cfg)
            if arm.stacked
            else [sae.train_sae(acts[i], cfg) for i in chosen]
        )
        for i, s in zip(chosen, trained, strict=True):
            site = p.saes[i]["site"]
            meta = {
                "model": p.model,
                "checkpoint": p.checkpoint,
                "site": site,
                "config": dataclasses.asdict(cfg),
                "fit_metrics": sae.sae_metrics(s, acts[i]),
            }
            sae.save_sae(s, smk.output[i], meta)
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(smk.output)} SAEs on {p.model} {p.checkpoint}\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
