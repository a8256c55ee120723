"""Cache one GPT-NeoX model revision's activations at every audited site."""

import numpy as np
import torch

from polyrot import activations
from polyrot.neox import extract, source
from polyrot.scripting import run_script
from polyrot.toy.train import resolve_device


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    p = smk.params
    model_name, revision = smk.wildcards.model, smk.wildcards.checkpoint
    device = resolve_device(p.extract["device"])
    model = source.load_model(source.ModelSource(**p.source), model_name, revision, p.extract["dtype"], device)
    with np.load(smk.input.analysis) as data:
        splits = {"fit": data["fit"], "heldout": data["heldout"]}
    sites = activations.sites_of(p.caches)
    caches = {}
    for split, tokens in splits.items():
        if tokens.max() >= model.config.vocab_size:
            raise ValueError(f"token id {tokens.max()} is outside {model_name}'s vocabulary")
        desc = f"{model_name}@{revision} {split}"
        caches[split] = extract.extract(model, tokens, sites, p.extract["batch_size"], desc=desc)
    activations.write_caches(caches, p.caches, smk.output)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
