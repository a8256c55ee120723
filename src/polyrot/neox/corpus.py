"""Text for the GPT-NeoX arm: documents, the offline family's tokenizer, analysis sequences.

Sources of documents:

- ``python-docs``: the documentation that ships with every Python: the pydoc topics
  (``pydoc_data.topics``) and the docstrings of the standard library's modules, classes and
  functions, read with ``ast`` from its sources. No download. The text depends on the
  Python version, so every output records the corpus fingerprint and the version.
  Documents are split into a training part (the family's training text) and a held-out
  part (the analysis sequences) by a hash of their name.
- ``pile-10k``: ``NeelNanda/pile-10k``, the Pile sample the paper's caches were built from
  (docs/methods.md §5), read with ``datasets`` (install ``polyrot[pythia]``).
- ``file``: a local ``.jsonl`` file with one ``{"text": ...}`` object per line.

Analysis sequences follow the paper: the first ``seq_len`` tokens of each document that has
at least ``seq_len`` tokens (``windows_per_document`` > 1 takes that many consecutive
windows). The fit sequences come from the first qualifying documents and the held-out
sequences from later ones, so no document feeds both.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import sysconfig
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

EOS = "<|endoftext|>"
SOURCES = ("python-docs", "pile-10k", "file")
# Standard-library folders whose text is not documentation (tests, demos, vendored code).
_SKIP_PARTS = {"idlelib", "turtledemo", "site-packages", "dist-packages", "lib2to3", "ensurepip", "__pycache__"}


@dataclass(frozen=True)
class Document:
    """One document: a stable name (for splitting and provenance) and its text."""

    name: str
    text: str


def python_docs() -> list[Document]:
    """Python's own documentation: pydoc topics, then standard-library docstrings."""
    from pydoc_data.topics import topics

    docs = [Document(f"topic:{k}", topics[k]) for k in sorted(topics)]
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in _SKIP_PARTS or part.startswith("test") for part in rel.parts):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node)
                if text and text.strip():
                    name = f"doc:{rel.as_posix()}:{getattr(node, 'name', '<module>')}:{getattr(node, 'lineno', 0)}"
                    docs.append(Document(name, text))
    if not docs:
        raise RuntimeError(f"no Python documentation found (pydoc_data and {root}); use corpus source file")
    return docs


def is_heldout(doc: Document, heldout_fraction: float) -> bool:
    """Held-out membership by a hash of the name: stable across runs and machines."""
    return zlib.crc32(doc.name.encode()) / 2**32 < heldout_fraction


def split(docs: Sequence[Document], heldout_fraction: float) -> tuple[list[Document], list[Document]]:
    """(training documents, held-out documents), each in the input order."""
    held = [is_heldout(d, heldout_fraction) for d in docs]
    return [d for d, h in zip(docs, held, strict=True) if not h], [d for d, h in zip(docs, held, strict=True) if h]


def pile_10k() -> Iterator[Document]:
    """``NeelNanda/pile-10k`` in dataset order (downloaded once into the ``datasets`` cache)."""
    try:
        import datasets
    except ImportError as err:
        raise RuntimeError(
            "corpus source pile-10k needs the 'datasets' package: pip install -e '.[pythia]'; "
            "or save the documents as JSON lines ({\"text\": ...}) and use 'neox.corpus.source: file'"
        ) from err
    try:
        ds = datasets.load_dataset("NeelNanda/pile-10k", split="train")
    except Exception as err:  # datasets raises many kinds for an unreachable hub
        raise RuntimeError(
            f"could not load NeelNanda/pile-10k ({type(err).__name__}: {err}). It needs hub access or a filled "
            "HF_HOME cache; offline, save the documents as JSON lines and use 'neox.corpus.source: file'"
        ) from err
    for i, row in enumerate(ds):
        yield Document(f"pile-10k:{i}", row["text"])


def jsonl_documents(path: str | Path) -> Iterator[Document]:
    """Documents of a JSON-lines file, one ``{"text": ...}`` per line (``"name"`` optional)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} does not exist (neox.corpus.path)")
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if line.strip():
                obj = json.loads(line)
                yield Document(obj.get("name", f"{path.name}:{i}"), obj["text"])


def analysis_documents(corpus: Any) -> Iterator[Document]:
    """The documents analysis sequences are cut from, for a ``config.CorpusConfig``."""
    if corpus.source == "python-docs":
        yield from split(python_docs(), corpus.heldout_fraction)[1]
    elif corpus.source == "pile-10k":
        yield from pile_10k()
    elif corpus.source == "file":
        yield from jsonl_documents(corpus.path)
    else:
        raise ValueError(f"unknown corpus source {corpus.source!r} (known: {SOURCES})")


def fingerprint(docs: Iterable[Document]) -> str:
    """sha256 over the documents' names and texts."""
    h = hashlib.sha256()
    for d in docs:
        h.update(d.name.encode())
        h.update(b"\0")
        h.update(d.text.encode())
        h.update(b"\0")
    return h.hexdigest()


def provenance(docs: Sequence[Document], source: str) -> dict[str, Any]:
    """What a corpus output records about its text."""
    return {
        "source": source,
        "documents": len(docs),
        "characters": sum(len(d.text) for d in docs),
        "sha256": fingerprint(docs),
        "python": sys.version.split()[0],
    }


# ---------------------------------------------------------------- tokenizer
def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (GPT-NeoX's kind) with ``<|endoftext|>`` as its only
    special token, trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS)


def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens."""
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def token_stream(tokenizer: PreTrainedTokenizerBase, docs: Sequence[Document]) -> np.ndarray:
    """All documents' tokens in order, each followed by ``<|endoftext|>`` (the training text)."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    parts = []
    for ids in encode(tokenizer, [d.text for d in docs]):
        parts.append(np.asarray(ids, dtype=np.int64))
        parts.append(np.asarray([eos], dtype=np.int64))
    return np.concatenate(parts)


def analysis_sequences(
    tokenizer: PreTrainedTokenizerBase,
    docs: Iterable[Document],
    seq_len: int,
    fit_n: int,
    heldout_n: int,
    windows_per_document: int = 1,
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(fit, heldout, fit document names, held-out document names).

    ``fit`` is ``(fit_n, seq_len)``, ``heldout`` ``(heldout_n, seq_len)``: up to
    ``windows_per_document`` consecutive windows from each document with at least
    ``seq_len`` tokens, fit from the first such documents, held-out from the ones after.
    Documents are tokenized in chunks and reading stops once both are filled.
    """
    parts: dict[str, list[np.ndarray]] = {"fit": [], "heldout": []}
    names: dict[str, list[str]] = {"fit": [], "heldout": []}
    want = {"fit": fit_n, "heldout": heldout_n}
    it = iter(docs)
    while True:
        batch = [d for _, d in zip(range(chunk), it, strict=False)]
        if not batch:
            break
        for doc, ids in zip(batch, encode(tokenizer, [d.text for d in batch]), strict=True):
            split_name = "fit" if len(parts["fit"]) < fit_n else "heldout"
            room = want[split_name] - len(parts[split_name])
            if room <= 0:
                break
            n = min(len(ids) // seq_len, windows_per_document, room)
            if n == 0:
                continue
            arr = np.asarray(ids[: n * seq_len], dtype=np.int64).reshape(n, seq_len)
            parts[split_name] += list(arr)
            names[split_name].append(doc.name)
        if len(parts["heldout"]) >= heldout_n:
            break
    got = {k: len(v) for k, v in parts.items()}
    if got["fit"] < fit_n or got["heldout"] < heldout_n:
        raise ValueError(
            f"the corpus has too few documents of at least {seq_len} tokens: got {got['fit']}/{fit_n} fit and "
            f"{got['heldout']}/{heldout_n} held-out sequences; lower neox.corpus.fit_sequences/heldout_sequences "
            "or seq_len, or raise windows_per_document"
        )
    return np.stack(parts["fit"]), np.stack(parts["heldout"]), names["fit"], names["heldout"]
