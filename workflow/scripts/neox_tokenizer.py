"""Train the offline family's BPE tokenizer on the training documents; tokenize them."""

from pathlib import Path

import numpy as np

from polyrot import atomic
from polyrot.neox import corpus
from polyrot.scripting import run_script


def main(smk) -> None:
    docs = list(corpus.jsonl_documents(smk.input[0]))
    tokenizer = corpus.train_tokenizer((d.text for d in docs), smk.params.vocab_size)
    out = Path(smk.output.tokenizer).parent
    with atomic.atomic_dir(out) as tmp:
        tokenizer.save_pretrained(tmp)
    stream = corpus.token_stream(tokenizer, docs)
    with atomic.atomic_path(smk.output.stream) as tmp, open(tmp, "wb") as fh:
        np.save(fh, stream.astype(np.int32))
    atomic.write_json(
        smk.output.meta,
        {
            **corpus.provenance(docs, "python-docs (training documents)"),
            "tokens": len(stream),
            "vocab_size": len(tokenizer),
            "tokenizer": "byte-level BPE (tokenizers), <|endoftext|> between documents",
        },
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
