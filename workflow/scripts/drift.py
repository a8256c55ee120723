"""Checkpoint drift of one arm's drift model: every earlier checkpoint against the audited one."""

import pandas as pd
import torch

from polyrot import activations, atomic, drift, sae
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    sites = list(p.sites)
    # caches[checkpoint][site] = (fit, heldout), from the inputs in the order params.caches names
    caches: dict = {}
    for key, path in zip(p.caches, smk.input.caches, strict=True):
        caches.setdefault(key["checkpoint"], {}).setdefault(key["site"], {})[key["split"]] = activations.read_cache(
            path
        )
    caches = {c: {s: (v["fit"], v["heldout"]) for s, v in by_site.items()} for c, by_site in caches.items()}
    saes = {(k["site"], k["expansion"]): sae.load_sae(path)[0] for k, path in zip(p.saes, smk.input.saes, strict=True)}
    early_saes = {
        (k["site"], k["expansion"]): sae.load_sae(path)[0] for k, path in zip(p.saes, smk.input.early_saes, strict=True)
    }
    rows = []
    for ckpt in p.drift["checkpoints"]:
        for row in drift.drift_rows(
            caches[p.reference], caches[ckpt], saes, sites, p.null_sites, p.gaussian_n, p.seed, p.bootstrap_n
        ):
            rows.append(
                {
                    "arm": smk.wildcards.arm,
                    "model": p.drift["model"],
                    "reference": p.reference,
                    "checkpoint": ckpt,
                    "step": drift.checkpoint_step(ckpt),
                    "role": "early" if ckpt == p.drift["early"] else "curve",
                    **row,
                }
            )
    header = (
        "Checkpoint drift (docs/methods.md §9): the audited checkpoint's SAE and frame (a) against an earlier checkpoint (b).\n"
        "EV on held-out tokens; *_centred: per-dimension-centred variance (ours), *_scalar: global scalar (paper's code).\n"
        "role early: the checkpoint the preregistered drift claims judge."
    )
    atomic.write_tsv(smk.output.drift, pd.DataFrame(rows).sort_values("step", kind="stable"), header)
    # the paper's direction: the early checkpoint's SAE and frame (a) against the audited one (b)
    early = p.drift["early"]
    paper = [
        {
            "arm": smk.wildcards.arm,
            "model": p.drift["model"],
            "reference": early,
            "checkpoint": p.reference,
            "step": drift.checkpoint_step(early),
            "role": "early",
            "sae_l1": p.drift["early_sae_l1"],
            **row,
        }
        for row in drift.drift_rows(
            caches[early], caches[p.reference], early_saes, sites, p.null_sites, p.gaussian_n, p.seed, p.bootstrap_n
        )
    ]
    header = (
        "Checkpoint drift in the paper's direction (the study's cross_ckpt.py): an SAE trained on the early checkpoint "
        "(reference; the study's recipe, l1 sae_l1) applied to the audited checkpoint (checkpoint) mapped into the "
        "early frame by R.\nEV on held-out tokens unless 'insample' (the study's own numbers are in-sample); "
        "*_centred: per-dimension-centred variance (ours), *_scalar: global scalar (the paper's code)."
    )
    atomic.write_tsv(smk.output.paper_direction, pd.DataFrame(paper), header)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
