"""Gather the per-site audit tables of one arm into one table each."""

import pandas as pd

from polyrot import atomic
from polyrot.scripting import run_script

HEADERS = {
    "ev": (
        "one row per (cohort, anchor, other, site, expansion); every EV on held-out tokens unless 'insample'.\n"
        "EV conventions: *_centred = 1 - SSE / sum ||x - per-dimension mean||^2 (ours); "
        "*_scalar = 1 - SSE / sum (x - global scalar mean)^2 (the paper's code).\n"
        "self: SAE_a on a; naive: SAE_a on b; rotated: SAE_a on b mapped by R; null_*: the same with R fitted "
        "without token correspondence (permuted rows), from second moments only (moments) or on another site (site); "
        "gaussian: SAE_a on N(mu_a, Sigma_a) samples; act_*: the mapped b against a for the same tokens, no SAE; "
        "act_bothcentred_*: the same with each side centred by its own mean over the rows (the study's code).\n"
        "null_site: R fitted on b's other site, applied to this site's rows centred with this site's fit-split mean."
    ),
    "cosine": "decoder cosine of b's SAE against a's: max-cosine (paper's code) and one-to-one Hungarian (paper's text); "
    "frame raw or rotated (b's decoder rows mapped by R), and *_span with every row projected onto a's data span "
    "(top principal components, 99% of the variance, span_rank of them); chance_span matches a's projected rows "
    "against random directions in that span; frac = fraction of a's features above 0.5",
    "cosine_shared_init": "the decoder-cosine table again with shared-init SAEs (the paper's code: every model's SAE "
    "from one seed and batch order, so rows no activation reads keep identical initial values across models); "
    "compare with decoder_cosine.tsv (sae_init independent) and its *_span and chance_span rows",
    "firing": "Pearson r per feature across held-out tokens between SAE_a's codes on a and on b (raw or mapped by R)",
    "saes": "per-SAE metrics on the fit split; l0 = mean active features per row, dead_fraction = features active on "
    "no row; sae_init shared = the paper-comparison SAEs",
}


def gather(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, sep="\t", comment="#") for p in paths], ignore_index=True)


def main(smk) -> None:
    atomic.write_tsv(smk.output.ev, gather(smk.input.ev), header=HEADERS["ev"])
    atomic.write_tsv(smk.output.cosine, gather(smk.input.cosine), header=HEADERS["cosine"])
    atomic.write_tsv(
        smk.output.cosine_shared_init, gather(smk.input.cosine_shared_init), header=HEADERS["cosine_shared_init"]
    )
    atomic.write_tsv(smk.output.firing, gather(smk.input.firing), header=HEADERS["firing"])
    atomic.write_tsv(smk.output.saes, gather(smk.input.saes), header=HEADERS["saes"])


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
