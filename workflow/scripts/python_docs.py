"""Python's own documentation as JSON lines, split into training and held-out documents."""

import json

from polyrot import atomic
from polyrot.neox import corpus
from polyrot.scripting import run_script


def main(smk) -> None:
    docs = corpus.python_docs()
    train, heldout = corpus.split(docs, smk.params.heldout_fraction)
    for path, part in ((smk.output.train, train), (smk.output.heldout, heldout)):
        atomic.write_text(path, "".join(json.dumps({"name": d.name, "text": d.text}) + "\n" for d in part))
    meta = {
        "all": corpus.provenance(docs, "python-docs"),
        "train": corpus.provenance(train, "python-docs"),
        "heldout": corpus.provenance(heldout, "python-docs"),
        "heldout_fraction": smk.params.heldout_fraction,
        "split": "crc32(document name) / 2**32 < heldout_fraction",
    }
    atomic.write_json(smk.output.meta, meta)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
