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
    "study_recipe": "{table} again with the paper comparison's SAEs, trained with the study's recipe "
    "(analysis/lens2_saes.py: encoder drawn independently N(0, 1/d), random normalised decoder, zero biases, batches "
    "drawn with replacement, decoder renormalised with the scale moved into the encoder, one seed for every model) "
    "on the same activations at the same settings; the registered SAEs' table is {table}.tsv",
    "firing": "Pearson r per feature across held-out tokens between SAE_a's codes on a and on b (raw or mapped by R)",
    "saes": "per-SAE metrics on the fit split; l0 = mean active features per row, dead_fraction = features active on "
    "no row; recipe study = the paper comparison's SAEs (the study's recipe)",
}


def gather(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, sep="\t", comment="#") for p in paths], ignore_index=True)


# the tables' names on disk, by output name
FILES = {"ev": "ev", "cosine": "decoder_cosine", "firing": "firing"}
ALL_PAIRS = (
    "decoder max-cosine of the study-recipe SAEs over every pair of models of a cohort (anchor = the first of the "
    "pair, other = the second; raw frame), as the paper's Pythia numbers are stated (36 pairs per site)"
)


def main(smk) -> None:
    for name, table in FILES.items():
        atomic.write_tsv(smk.output[name], gather(smk.input[name]), header=HEADERS[name])
        study = f"{name}_study_recipe"
        header = HEADERS[name] + "\n" + HEADERS["study_recipe"].format(table=table)
        atomic.write_tsv(smk.output[study], gather(smk.input[study]), header=header)
    all_pairs = gather(smk.input.cosine_all_pairs_study_recipe)
    atomic.write_tsv(smk.output.cosine_all_pairs_study_recipe, all_pairs, header=ALL_PAIRS)
    atomic.write_tsv(smk.output.saes, gather(smk.input.saes), header=HEADERS["saes"])


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
