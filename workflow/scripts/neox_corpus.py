"""Tokenize the analysis sequences (fit and held-out) once, with the models' tokenizer."""

import hashlib
from pathlib import Path

from polyrot import atomic, settings
from polyrot.neox import corpus, source
from polyrot.scripting import run_script


def main(smk) -> None:
    p = smk.params
    if smk.input.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(Path(smk.input.tokenizer).parent)
        tokenizer_from = "the offline family's tokenizer"
    else:
        tokenizer = source.load_tokenizer(source.ModelSource(**p.source), p.anchor, p.revision)
        tokenizer_from = f"{p.anchor} at {p.revision}"
    c = settings.parse(settings.CorpusConfig, p.corpus)
    docs = corpus.jsonl_documents(smk.input.docs) if smk.input.docs else corpus.analysis_documents(c)
    fit, heldout, fit_names, heldout_names = corpus.analysis_sequences(
        tokenizer, docs, c.seq_len, c.fit_sequences, c.heldout_sequences, c.windows_per_document
    )
    atomic.atomic_savez(smk.output.analysis, fit=fit, heldout=heldout)
    atomic.write_json(
        smk.output.meta,
        {
            "source": c.source,
            "tokenizer": tokenizer_from,
            "seq_len": c.seq_len,
            "windows_per_document": c.windows_per_document,
            "fit": {"sequences": len(fit), "documents": fit_names, "sha256": hashlib.sha256(fit.tobytes()).hexdigest()},
            "heldout": {
                "sequences": len(heldout),
                "documents": heldout_names,
                "sha256": hashlib.sha256(heldout.tobytes()).hexdigest(),
            },
            "max_token_id": int(max(fit.max(), heldout.max())),
        },
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
