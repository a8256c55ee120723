"""Cache one GPT-NeoX model's activations at every audited site, for each revision it needs."""

from pathlib import Path

import numpy as np
import torch

from polyrot import activations, config
from polyrot.neox import extract, source
from polyrot.scripting import run_script
from polyrot.train import resolve_device


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    neox = config.load(smk.config).neox
    src = source.ModelSource.from_config(neox)
    device = resolve_device(neox.extract.device)
    with np.load(smk.input.analysis) as data:
        splits = {"fit": data["fit"], "heldout": data["heldout"]}
    for revision in smk.params.revisions:
        model = source.load_model(src, smk.params.model, revision, neox.extract.dtype, device)
        for split, tokens in splits.items():
            if tokens.max() >= model.config.vocab_size:
                raise ValueError(f"token id {tokens.max()} is outside {smk.params.model}'s vocabulary")
            caches = extract.extract(
                model, tokens, smk.params.sites, neox.extract.batch_size, desc=f"{smk.params.model}@{revision} {split}"
            )
            for site, cache in caches.items():
                activations.write_cache(Path(smk.params.out_dir) / revision / f"{site}.{split}.npz", cache)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
