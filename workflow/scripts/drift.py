"""Checkpoint drift of one arm's drift model: every earlier checkpoint against the audited one."""

from pathlib import Path

import pandas as pd
import torch

from polyrot import activations, drift, io, sae
from polyrot.scripting import run_script


def caches(folder: Path, sites) -> dict:
    return {
        s: tuple(activations.read_cache(folder / f"{s}.{split}.npz") for split in ("fit", "heldout")) for s in sites
    }


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    sites = list(p.sites)
    acts_dir = Path(p.acts_dir)
    reference = caches(acts_dir / p.reference, sites)
    saes = {(s, e): sae.load_sae(Path(p.saes_dir) / s / f"x{e}.safetensors")[0] for s in sites for e in p.expansions}
    rows = []
    for ckpt in p.drift["checkpoints"]:
        for row in drift.drift_rows(
            reference, caches(acts_dir / ckpt, sites), saes, sites, p.null_sites, p.gaussian_n, p.seed
        ):
            rows.append(
                {
                    "arm": p.arm,
                    "model": p.drift["model"],
                    "reference": p.reference,
                    "checkpoint": ckpt,
                    "step": drift.checkpoint_step(ckpt),
                    "role": "early" if ckpt == p.drift["early"] else "curve",
                    **row,
                }
            )
    header = (
        "Checkpoint drift (SPEC 9): the audited checkpoint's SAE and frame (a) against an earlier checkpoint (b).\n"
        "EV on held-out tokens; *_centred: per-dimension-centred variance (ours), *_scalar: global scalar (paper's code).\n"
        "role early: the checkpoint the preregistered drift claims judge."
    )
    io.write_tsv(smk.output[0], pd.DataFrame(rows).sort_values("step", kind="stable"), header)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
