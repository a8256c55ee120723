"""Steering on the GPT-NeoX arm: the anchor's contrast vectors at one layer's output, and
every vector x dose x condition (within, unrotated, rotated through R, random), KL over
held-out corpus tokens."""

import numpy as np
import torch

from polyrot.neox import source
from polyrot.scripting import run_script
from polyrot.steering import neox as neox_steering
from polyrot.steering import sweep, vector
from polyrot.toy.train import resolve_device


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    p = smk.params
    s, n = p.steering, p.steering["neox"]
    models, anchor = list(p.models), p.anchor
    where = source.ModelSource(**p.source)
    device = resolve_device(p.extract["device"])
    nets = {m: source.load_model(where, m, p.revision, p.extract["dtype"], device) for m in models}
    contrasts = neox_steering.load_contrasts(smk.input.contrasts)
    tokenizer = source.load_tokenizer(where, anchor, p.revision)
    vectors, counts = neox_steering.neox_vectors(nets[anchor], tokenizer, contrasts, n["site"])
    with np.load(smk.input.analysis) as data:
        tokens = data["heldout"][: n["eval_n"]]
    others = [m for m in models if m != anchor]
    rotations = {m: np.load(r) for m, r in zip(others, smk.input.rotations, strict=True)}
    evaluators = {m: neox_steering.NeoxEffects(net, tokens, n["batch_size"]) for m, net in nets.items()}
    directions = vector.random_directions(s["random_draws"], len(next(iter(vectors.values())).vector), s["seed"])
    rows = sweep.sweep(evaluators, anchor, rotations, vectors, s["alphas"], directions)

    effects = sweep.write_sweep(
        smk.output,
        rows,
        vectors,
        {
            "cohort": "neox",
            "anchor": anchor,
            "site": n["site"],
            "revision": p.revision,
            "shared_io": False,
            "pinned_dim": 0,
            "heldout_tokens": int(tokens.size),
        },
        {name: {"pinned_fraction": 0.0, **counts[name]} for name in vectors},
        header=f"steering effects, GPT-NeoX (anchor {anchor}@{p.revision}, {n['site']}); held-out tokens: "
        f"{tokens.size}; random: mean and sd over {s['random_draws']} draws",
    )
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(effects)} rows\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
