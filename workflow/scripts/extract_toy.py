"""Cache one toy model's activations at every audited site on the fit and held-out batches."""

import torch

from polyrot import activations
from polyrot.scripting import run_script
from polyrot.toy import dyck, train
from polyrot.toy import extract as toy_extract


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    model = train.load_weights(smk.input[0])
    fit = dyck.analysis_batch(p.analysis["n"], p.analysis["seed"])
    batches = {"fit": fit, "heldout": toy_extract.heldout_batch(fit, p.heldout["n"], p.heldout["seed"])}
    sites = activations.sites_of(p.caches)
    caches = {split: toy_extract.toy_caches(model, batch, sites) for split, batch in batches.items()}
    activations.write_caches(caches, p.caches, smk.output)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
