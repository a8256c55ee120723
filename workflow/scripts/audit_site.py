"""EV, decoder-cosine and firing rows of every (pair, expansion) at one site, and the
decoder-cosine rows again for the shared-init SAEs (the paper comparison)."""

import numpy as np
import pandas as pd
import torch

from polyrot import activations, align, atomic, audit, sae
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    site, models = smk.wildcards.site, list(smk.params.models)
    # inputs come in the order the rule lists them: models, and SAEs expansion-major
    fit = {m: activations.read_cache(p).acts for m, p in zip(models, smk.input.fit, strict=True)}
    held_caches = {m: activations.read_cache(p) for m, p in zip(models, smk.input.heldout, strict=True)}
    held = {m: c.acts for m, c in held_caches.items()}
    keys = [(m, f"x{e}") for e in smk.params.expansions for m in models]
    saes = {k: sae.load_sae(p)[0] for k, p in zip(keys, smk.input.saes, strict=True)}
    shared = {
        k: sae.load_sae(p)[0].W_dec.detach().numpy() for k, p in zip(keys, smk.input.shared_init_saes, strict=True)
    }
    spans = {m: align.data_span(x) for m, x in fit.items()}
    ev, cosine, cosine_shared, firing = [], [], [], []
    for (cohort, a, b), rot_path in zip(smk.params.pairs, smk.input.rotations, strict=True):
        rotations = audit.load_rotations(rot_path)
        R = rotations["procrustes"]
        for expansion in smk.params.expansions:
            key = {"cohort": cohort, "anchor": a, "other": b, "site": site, "expansion": expansion}
            sae_a, sae_b = saes[(a, f"x{expansion}")], saes[(b, f"x{expansion}")]
            rng = np.random.default_rng([smk.params.seed, expansion])
            if not np.array_equal(held_caches[a].sequence, held_caches[b].sequence):
                raise ValueError(f"{site}: the held-out caches of {a} and {b} are not of the same sequences")
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
                boot_rng=np.random.default_rng([smk.params.seed, expansion, 2]),
            )
            ev.append({**key, "frobenius_to_identity": R.frobenius_to_identity, **row})
            W_a, W_b = sae_a.W_dec.detach().numpy(), sae_b.W_dec.detach().numpy()
            cosine += [
                {**key, "sae_init": smk.params.sae_init, **r} for r in audit.cosine_rows(W_a, W_b, R, spans[a], rng)
            ]
            firing += [{**key, **r} for r in audit.firing_rows(sae_a, held[a], held[b], R)]
            W_a, W_b = shared[(a, f"x{expansion}")], shared[(b, f"x{expansion}")]
            rng = np.random.default_rng([smk.params.seed, expansion, 1])
            cosine_shared += [{**key, "sae_init": "shared", **r} for r in audit.cosine_rows(W_a, W_b, R, spans[a], rng)]
    atomic.write_tsv(smk.output.ev, pd.DataFrame(ev))
    atomic.write_tsv(smk.output.cosine, pd.DataFrame(cosine))
    atomic.write_tsv(smk.output.firing, pd.DataFrame(firing))
    atomic.write_tsv(smk.output.cosine_shared_init, pd.DataFrame(cosine_shared))


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
