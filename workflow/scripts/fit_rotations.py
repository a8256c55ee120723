"""Fit the Procrustes rotation and its three nulls for every pair of an arm at one site."""

from pathlib import Path

import numpy as np
import torch

from polyrot import activations, audit
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    models = list(smk.params.models)
    fit = dict(zip(models, (activations.read_cache(p) for p in smk.input.fit), strict=True))
    other_site = dict(zip(models, (activations.read_cache(p) for p in smk.input.null_site), strict=True))
    for (cohort, a, b), out in zip(smk.params.pairs, smk.output.controls, strict=True):
        rng = np.random.default_rng([smk.params.seed, models.index(b)])
        rotations = audit.fit_site_rotations(fit[a].acts, fit[b].acts, other_site[b].acts, rng)
        meta = audit.rotation_meta(
            rotations,
            fit[a],
            fit[b],
            cohort=cohort,
            anchor=a,
            other=b,
            site=smk.wildcards.site,
            null_site=smk.params.null_site,
            fit_split="fit (the analysis batch)",
            permutation_seed=[smk.params.seed, models.index(b)],
        )
        audit.save_rotations(str(Path(out)).removesuffix(".controls.npz"), rotations, meta)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
