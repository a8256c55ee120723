"""The paper comparison's toy steering for one cohort: the anchor's vectors on the fine dose
grid, within-seed, unrotated and through R on the held-out batch (setup heldout, ours), and
within-seed and unrotated on the analysis batch the vectors are built on (setup study, as the
study's code); both targets in every pass."""

import numpy as np
import pandas as pd
import torch

from polyrot import atomic
from polyrot.scripting import run_script
from polyrot.steering import sweep, toy
from polyrot.toy import dyck, train
from polyrot.toy import extract as toy_extract


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    models, anchor, site = list(p.models), p.anchor, p.site
    nets = {m: train.load_weights(w).eval() for m, w in zip(models, smk.input.models, strict=True)}
    analysis = dyck.analysis_batch(p.analysis["n"], p.analysis["seed"])
    heldout = toy_extract.heldout_batch(analysis, p.heldout["n"], p.heldout["seed"])
    first = dyck.Batch(*(a[: p.eval_n] for a in (heldout.tokens, heldout.depth, heldout.valid)))
    vectors = toy.toy_vectors(nets[anchor], analysis, site)
    others = [m for m in models if m != anchor]
    rotations = {m: np.load(r) for m, r in zip(others, smk.input.rotations, strict=True)}
    none = np.empty((0, len(next(iter(vectors.values())).vector)))
    frames = []
    for setup, batch, rotated in (("heldout", first, True), ("study", analysis, False)):
        evaluators = {m: toy.ToyEffects(net, batch, site) for m, net in nets.items()}
        rows = sweep.sweep(evaluators, anchor, rotations, vectors, p.alphas, none, f"{setup} {p.cohort}", rotated)
        frames.append(pd.DataFrame(rows).assign(setup=setup, n_sequences=len(batch)))
    effects = pd.concat(frames, ignore_index=True)
    effects.insert(0, "anchor", anchor)
    effects.insert(0, "cohort", p.cohort)
    atomic.write_tsv(
        smk.output[0],
        effects,
        header=f"toy steering for the paper comparison, cohort {p.cohort} (anchor {anchor}, {site}): setup heldout = "
        f"{len(first)} held-out sequences (ours), setup study = the {len(analysis)}-sequence analysis batch the vectors "
        "are built on (the study's code); accuracy_drop at our targets, accuracy_drop_study_target at the study's",
    )
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(effects)} rows\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
