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
    # the paper's reference pool, drawn once: its pooled test and its per-matrix statistic
    reference = haar.pooled_reference(matrices[0].shape[0], rng, h["n_reference"])
    for row, R in zip(rows, matrices, strict=True):
        row["ks_paper_stat"], _, row["ks_paper_n"] = haar.ks_pooled_paper([R], rng, reference=reference)
        row["ks_paper_n_reference"] = len(reference)
    atomic.write_tsv(
        smk.output.rotations,
        pd.DataFrame(rows),
        header="Haar statistics per fitted R (whole R, and restricted to the well-determined subspace of b's "
        "activations); ks_*: exact one-sample KS of the free eigen-angles (one per conjugate pair); ks_paper_stat: "
        "the paper's per-matrix two-sample KS of all |angles| against its pooled Haar reference",
    )
    paper = [i for i, k in enumerate(smk.params.pair_sites) if k["site"] in smk.params.paper_sites]
    subsets = [("all", list(range(len(matrices))))]
    if len(paper) != len(matrices):
        subsets.append(("paper", paper))
    pooled = []
    for sites, chosen in subsets:
        Rs = [matrices[i] for i in chosen]
        stat, p, n = haar.ks_pooled_paper(Rs, rng, reference=reference)
        pooled.append(
            {
                "test": "ks_pooled_paper",
                "sites": sites,
                "n_matrices": len(Rs),
                "n_angles": n,
                "n_reference_angles": len(reference),
                "ks_stat": stat,
                "ks_p": p,
                # the mean cos of every eigen-angle, tr(R) / d, over the pooled matrices
                "mean_cos": float(np.mean([np.trace(R) / R.shape[0] for R in Rs])),
            }
        )
    atomic.write_tsv(
        smk.output.pooled,
        pd.DataFrame(pooled),
        header="the paper's pooled test, reproduced for comparison: every |angle| of every R (conjugates counted "
        "twice) against sampled Haar matrices, two-sample KS. It has no demonstrated power: see haar/power.tsv. "
        "sites all: every fitted R; paper: the paper's sites (polyrot.audit.paper_sites); mean_cos: the mean cos "
        "of every eigen-angle (tr R / d)",
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
