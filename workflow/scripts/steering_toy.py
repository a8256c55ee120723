"""Steering on one toy cohort: the anchor's three vectors, the pinned subspace, and every
vector x dose x condition (within, unrotated, rotated through R, random) on held-out sequences."""

import numpy as np
import torch

from polyrot.scripting import run_script
from polyrot.steering import sweep, toy, vector
from polyrot.toy import dyck, train
from polyrot.toy import extract as toy_extract


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    s = p.steering
    site, models, anchor = s["toy"]["site"], list(p.models), p.anchor
    weights = dict(zip(models, smk.input.models, strict=True))
    nets = {m: train.load_weights(w).eval() for m, w in weights.items()}
    analysis = dyck.analysis_batch(p.analysis["n"], p.analysis["seed"])
    heldout = toy_extract.heldout_batch(analysis, p.heldout["n"], p.heldout["seed"])
    first = dyck.Batch(*(a[: s["toy"]["eval_n"]] for a in (heldout.tokens, heldout.depth, heldout.valid)))

    vectors = toy.toy_vectors(nets[anchor], analysis, site)
    anchor_weights = {k: t.numpy() for k, t in nets[anchor].state_dict().items()}
    basis = toy.pinned_basis(anchor_weights) if p.shared_io else None
    others = [m for m in models if m != anchor]
    rotations = {m: np.load(r) for m, r in zip(others, smk.input.rotations, strict=True)}
    evaluators = {m: toy.ToyEffects(net, first, site) for m, net in nets.items()}
    directions = vector.random_directions(s["random_draws"], len(next(iter(vectors.values())).vector), s["seed"])
    rows = sweep.sweep(evaluators, anchor, rotations, vectors, s["alphas"], directions, desc=f"steering {p.cohort}")

    effects = sweep.write_sweep(
        smk.output,
        rows,
        vectors,
        {
            "cohort": p.cohort,
            "anchor": anchor,
            "site": site,
            "shared_io": bool(p.shared_io),
            "pinned_dim": 0 if basis is None else int(basis.shape[1]),
        },
        {
            name: {
                "pinned_fraction": toy.pinned_fraction(v.vector, basis),
                "positions": {
                    side: int(getattr(toy.TOY_VECTORS[name], side)(analysis).sum()) for side in ("plus", "minus")
                },
                "n_target": int(toy.TOY_VECTORS[name].target(first).sum()),
            }
            for name, v in vectors.items()
        },
        header=f"steering effects, toy cohort {p.cohort} (anchor {anchor}, {site}); held-out sequences: "
        f"{len(first)}; random: mean and sd over {s['random_draws']} draws",
    )
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(effects)} rows\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
