"""Train one model of the offline GPT-NeoX family and save its revisions."""

import logging
from pathlib import Path

import numpy as np
import torch

from polyrot import atomic, settings
from polyrot.neox import family
from polyrot.scripting import run_script


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(smk.threads)
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer_dir = Path(smk.input.tokenizer).parent
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    with np.load(smk.input.analysis) as data:
        heldout = data["heldout"]
    log = family.train_model(
        smk.wildcards.model,
        smk.params.seed,
        # threads are not a setting of the run (polyrot.settings: no_output): Snakemake's, scaled to --cores
        settings.parse(settings.FamilyConfig, {**smk.params.family, "threads": smk.threads}),
        np.load(smk.input.stream),
        heldout,
        tokenizer_dir,
        Path(smk.output.train_log).parent.parent,
        vocab_size=len(tokenizer),
        eos_id=tokenizer.eos_token_id,
    )
    atomic.write_tsv(smk.output.train_log, log)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
