"""Haar statistics of every fitted R of one arm, and the paper's pooled test over all of them."""

import numpy as np
import pandas as pd

from polyrot import activations, atomic, haar
from polyrot.haar import rotations as rotation_stats
from polyrot.scripting import run_script


def main(smk) -> None:
    h = smk.params.haar
    rng = np.random.default_rng(h["seed"])
    rows, matrices = [], []
    for key, r_path, fit_path in zip(smk.params.pair_sites, smk.input.rotations, smk.input.fit, strict=True):
        R = np.load(r_path)
        matrices.append(R)
        fit_b = activations.read_cache(fit_path).acts
        row = rotation_stats.rotation_row(
            R, fit_b, rng, h["n_null"], h["rank_variance"], h["min_determined_fraction"], h["alpha"]
        )
        rows.append({**key, **row})
    atomic.write_tsv(
        smk.output.rotations,
        pd.DataFrame(rows),
        header="Haar statistics per fitted R (whole R, and restricted to the well-determined subspace of b's "
        "activations); ks_*: exact one-sample KS of the free eigen-angles (one per conjugate pair)",
    )
    stat, p, n = haar.ks_pooled_paper(matrices, rng, n_reference=h["n_reference"])
    pooled = pd.DataFrame(
        [{"test": "ks_pooled_paper", "n_matrices": len(matrices), "n_angles": n, "ks_stat": stat, "ks_p": p}]
    )
    atomic.write_tsv(
        smk.output.pooled,
        pooled,
        header="the paper's pooled test, reproduced for comparison: every |angle| of every R (conjugates counted "
        "twice) against sampled Haar matrices, two-sample KS. It has no demonstrated power: see haar/power.tsv",
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
