"""EV, decoder-cosine and firing rows of every (pair, expansion) at one site, for the
registered SAEs and again for the paper comparison's (the study's recipe)."""

import numpy as np
import pandas as pd
import torch

from polyrot import activations, align, atomic, audit, sae, universality
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    site, models = smk.wildcards.site, list(smk.params.models)
    # inputs come in the order the rule lists them: models, and SAEs expansion-major
    fit = {m: activations.read_cache(p).acts for m, p in zip(models, smk.input.fit, strict=True)}
    held_caches = {m: activations.read_cache(p) for m, p in zip(models, smk.input.heldout, strict=True)}
    held = {m: c.acts for m, c in held_caches.items()}
    keys = [(m, f"x{e}") for e in smk.params.expansions for m in models]
    sets = {
        "ours": {k: sae.load_sae(p)[0] for k, p in zip(keys, smk.input.saes, strict=True)},
        "study": {k: sae.load_sae(p)[0] for k, p in zip(keys, smk.input.study_saes, strict=True)},
    }
    spans = {m: align.data_span(x) for m, x in fit.items()}
    tables = {name: [] for name in smk.output.keys()}
    for (cohort, a, b), rot_path in zip(smk.params.pairs, smk.input.rotations, strict=True):
        rotations = audit.load_rotations(rot_path)
        R = rotations["procrustes"]
        if not np.array_equal(held_caches[a].sequence, held_caches[b].sequence):
            raise ValueError(f"{site}: the held-out caches of {a} and {b} are not of the same sequences")
        for expansion in smk.params.expansions:
            key = {"cohort": cohort, "anchor": a, "other": b, "site": site, "expansion": expansion}
            for recipe, saes in sets.items():
                ours = recipe == "ours"
                suffix, init = ("", smk.params.sae_init) if ours else ("_study_recipe", "study recipe")
                sae_a, sae_b = saes[(a, f"x{expansion}")], saes[(b, f"x{expansion}")]
                # one stream for the Gaussian baseline and then the chance directions, another
                # for the bootstrap; the study-recipe set's own
                streams = ([smk.params.seed, expansion], [smk.params.seed, expansion, 2])
                if not ours:
                    streams = ([smk.params.seed, expansion, 3], [smk.params.seed, expansion, 4])
                rng = np.random.default_rng(streams[0])
                row = audit.ev_row(
                    sae_a,
                    rotations,
                    fit[a],
                    fit[b],
                    held[a],
                    held[b],
                    smk.params.gaussian_n,
                    rng,
                    sequence=held_caches[a].sequence,
                    n_boot=smk.params.bootstrap_n,
                    boot_rng=np.random.default_rng(streams[1]),
                )
                tables["ev" + suffix].append({**key, "frobenius_to_identity": R.frobenius_to_identity, **row})
                W_a, W_b = sae_a.W_dec.detach().numpy(), sae_b.W_dec.detach().numpy()
                tables["cosine" + suffix] += [
                    {**key, "sae_init": init, **r} for r in audit.cosine_rows(W_a, W_b, R, spans[a], rng)
                ]
                tables["firing" + suffix] += [{**key, **r} for r in audit.firing_rows(sae_a, held[a], held[b], R)]
    # the paper's Pythia decoder cosine: every pair of a cohort, max-cosine, the study's SAEs
    for cohort, a, b in smk.params.all_pairs:
        for expansion in smk.params.expansions:
            W_a, W_b = (sets["study"][(m, f"x{expansion}")].W_dec.detach().numpy() for m in (a, b))
            tables["cosine_all_pairs_study_recipe"].append(
                {"cohort": cohort, "anchor": a, "other": b, "site": site, "expansion": expansion, "frame": "raw"}
                | universality.decoder_cosine(W_a, W_b, hungarian=False)
            )
    for name, rows in tables.items():
        atomic.write_tsv(smk.output[name], pd.DataFrame(rows))


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
