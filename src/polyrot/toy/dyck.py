"""The Dyck-3 task (docs/methods.md §2): sequences, the three per-position labels, held-out sets.

Tokens: PAD=0, BOS=1, EOS=2, ``(``=3, ``)``=4, ``[``=5, ``]``=6, ``{``=7, ``}``=8; ids 9–39
unused. A sequence is BOS + content + EOS, right-padded with PAD to the context length.

Every generator takes an explicit ``numpy.random.Generator`` (or a seed) and is vectorised
over the batch: the only Python loop runs over the (at most 62) content positions.

Run ``python -m polyrot.toy.dyck --n N --seed S --out FILE.npz`` to write a sample.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

PAD, BOS, EOS = 0, 1, 2
OPENERS = np.array([3, 5, 7], dtype=np.int64)
CLOSERS = np.array([4, 6, 8], dtype=np.int64)
VOCAB_SIZE = 40
N_CTX = 64
MAX_DEPTH = 8
N_DEPTH_CLASSES = MAX_DEPTH + 1
N_VALID_CLASSES = 2
#: Longest content that fits between BOS and EOS.
MAX_CONTENT = N_CTX - 2
HEADS = ("tok", "depth", "valid")
HEAD_CLASSES = {"tok": VOCAB_SIZE, "depth": N_DEPTH_CLASSES, "valid": N_VALID_CLASSES}

# Lookup tables indexed by token id: bracket family (0–2, or -1) and kind.
_FAMILY = np.full(VOCAB_SIZE, -1, dtype=np.int64)
_FAMILY[OPENERS] = np.arange(3)
_FAMILY[CLOSERS] = np.arange(3)
_IS_OPEN = np.zeros(VOCAB_SIZE, dtype=bool)
_IS_OPEN[OPENERS] = True
_IS_CLOSE = np.zeros(VOCAB_SIZE, dtype=bool)
_IS_CLOSE[CLOSERS] = True


@dataclass(frozen=True)
class Batch:
    """Token ids and per-position labels, each ``(n, N_CTX)``; PAD positions labelled 0."""

    tokens: np.ndarray
    depth: np.ndarray
    valid: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """True at non-PAD positions (the positions every loss and metric uses)."""
        return self.tokens != PAD

    def stacked(self) -> np.ndarray:
        """``(3, n, N_CTX)``: tokens, depth, valid (the layout the training loop consumes)."""
        return np.stack([self.tokens, self.depth, self.valid])

    def labels(self) -> dict[str, np.ndarray]:
        """The three heads' targets by name."""
        return {"tok": self.tokens, "depth": self.depth, "valid": self.valid}

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def _rng(seed_or_rng: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def label(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and sticky-valid labels for a batch of token sequences.

    ``depth`` is the number of unmatched openers after each position (0–8); once the
    sequence has become invalid it stays frozen at its value before the failing token.
    ``valid`` is 0 until the first invalidity (a closer with an empty stack, a closer of
    the wrong family, or an opener that would exceed depth 8) and 1 from that position on.
    BOS, EOS and PAD leave the state unchanged; PAD positions are labelled 0.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n, t_len = tokens.shape
    stack = np.zeros((n, MAX_DEPTH + 1), dtype=np.int64)  # families of open brackets
    depth = np.zeros(n, dtype=np.int64)
    failed = np.zeros(n, dtype=bool)
    rows = np.arange(n)
    depth_out = np.zeros((n, t_len), dtype=np.int64)
    valid_out = np.zeros((n, t_len), dtype=np.int64)
    for t in range(t_len):
        tok = tokens[:, t]
        fam = _FAMILY[tok]
        is_open = _IS_OPEN[tok] & ~failed
        is_close = _IS_CLOSE[tok] & ~failed
        top = stack[rows, np.maximum(depth - 1, 0)]
        bad = (is_open & (depth >= MAX_DEPTH)) | (is_close & ((depth == 0) | (top != fam)))
        push = is_open & ~bad
        pop = is_close & ~bad
        stack[rows[push], depth[push]] = fam[push]
        depth = depth + push - pop
        failed = failed | bad
        depth_out[:, t] = depth
        valid_out[:, t] = failed
    pad = tokens == PAD
    depth_out[pad] = 0
    valid_out[pad] = 0
    return depth_out, valid_out


def _assemble(content: np.ndarray, lengths: np.ndarray) -> Batch:
    """BOS + content[:len] + EOS + PAD, then labels."""
    n = content.shape[0]
    tokens = np.zeros((n, N_CTX), dtype=np.int64)
    tokens[:, 0] = BOS
    pos = np.arange(MAX_CONTENT)
    inside = pos[None, :] < lengths[:, None]
    tokens[:, 1 : 1 + MAX_CONTENT] = np.where(inside, content[:, :MAX_CONTENT], PAD)
    tokens[np.arange(n), lengths + 1] = EOS
    depth, valid = label(tokens)
    return Batch(tokens=tokens, depth=depth, valid=valid)


def _valid_content(rng: np.random.Generator, lengths: np.ndarray, p_open: float) -> np.ndarray:
    """Never-invalid bracket strings: open with ``p_open`` while depth allows.

    An opener is forced at depth 0 and a closer (of the top family) at depth 8 or when the
    remaining positions are only enough to close what is open, so even lengths end balanced.
    """
    n = lengths.shape[0]
    width = int(lengths.max()) if n else 0
    content = np.zeros((n, MAX_CONTENT), dtype=np.int64)
    stack = np.zeros((n, MAX_DEPTH + 1), dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    coins = rng.random((n, width))
    fams = rng.integers(0, 3, size=(n, width))
    for t in range(width):
        remaining = lengths - t
        must_close = (depth >= MAX_DEPTH) | ((depth >= remaining) & (depth > 0))
        opens = (depth == 0) | (~must_close & (coins[:, t] < p_open))
        top = stack[rows, np.maximum(depth - 1, 0)]
        fam = np.where(opens, fams[:, t], top)
        tok = np.where(opens, OPENERS[fam], CLOSERS[fam])
        stack[rows[opens], depth[opens]] = fam[opens]
        depth = depth + np.where(opens, 1, -1)
        content[:, t] = np.where(t < lengths, tok, PAD)
        depth = np.where(t < lengths, depth, 0)
    return content


def sample(
    n: int,
    seed: int | np.random.Generator,
    min_len: int = 2,
    max_len: int = MAX_CONTENT,
    p_valid: float = 0.5,
    p_open: float = 0.55,
) -> Batch:
    """``n`` sequences of the training mixture (docs/methods.md §2).

    Content lengths are uniform on ``[min_len, max_len]``; with probability ``p_valid`` the
    content is a never-invalid Dyck string, otherwise uniformly random bracket tokens.
    """
    if not 1 <= min_len <= max_len <= MAX_CONTENT:
        raise ValueError(f"need 1 <= min_len <= max_len <= {MAX_CONTENT}, got {min_len}, {max_len}")
    rng = _rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    is_valid = rng.random(n) < p_valid
    random_content = rng.integers(3, 9, size=(n, MAX_CONTENT))
    content = random_content
    if is_valid.any():
        content = random_content.copy()
        content[is_valid] = _valid_content(rng, lengths[is_valid], p_open)
    return _assemble(content, lengths)


def compositional(n: int, seed: int | np.random.Generator) -> Batch:
    """Held-out compositional set: one family nested to depth 3–8 inside shallow mixed pairs.

    Each sequence is 0–3 depth-1 pairs of random families, then ``k`` openers of one family
    and their ``k`` closers (k uniform on 3–8), optionally (k < 8, probability 1/2) wrapped
    in one pair of a different family, then 0–3 more depth-1 pairs. All are valid.
    """
    rng = _rng(seed)
    content = np.zeros((n, MAX_CONTENT), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    k = rng.integers(3, MAX_DEPTH + 1, size=n)
    fam = rng.integers(0, 3, size=n)
    wrap = (k < MAX_DEPTH) & (rng.random(n) < 0.5)
    wrap_fam = (fam + rng.integers(1, 3, size=n)) % 3
    n_left = rng.integers(0, 4, size=n)
    n_right = rng.integers(0, 4, size=n)
    pair_fams = rng.integers(0, 3, size=(n, 6))
    for i in range(n):  # at most 1 + 3 + 8 + 8 + 1 + 3 pieces; sets are small
        seq: list[int] = []
        for j in range(n_left[i]):
            seq += [OPENERS[pair_fams[i, j]], CLOSERS[pair_fams[i, j]]]
        core = [OPENERS[fam[i]]] * k[i] + [CLOSERS[fam[i]]] * k[i]
        if wrap[i]:
            core = [OPENERS[wrap_fam[i]], *core, CLOSERS[wrap_fam[i]]]
        seq += core
        for j in range(n_right[i]):
            seq += [OPENERS[pair_fams[i, 3 + j]], CLOSERS[pair_fams[i, 3 + j]]]
        content[i, : len(seq)] = seq
        lengths[i] = len(seq)
    return _assemble(content, lengths)


def long(n: int, seed: int | np.random.Generator) -> Batch:
    """Held-out long set: the training mixture with content lengths 50–60."""
    return sample(n, seed, min_len=50, max_len=60)


def analysis_batch(n: int = 1024, seed: int = 20260501) -> Batch:
    """The fixed analysis batch: the training mixture with content lengths 2–48."""
    return sample(n, seed, min_len=2, max_len=48)


HELDOUT_SETS = {"compositional": compositional, "long": long}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyrot.toy.dyck", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, required=True, help="number of sequences")
    parser.add_argument("--seed", type=int, required=True, help="generator seed")
    parser.add_argument("--out", required=True, help="output .npz (tokens, depth, valid)")
    parser.add_argument(
        "--set",
        default="train",
        choices=["train", "analysis", *HELDOUT_SETS],
        help="which distribution to sample (default: the training mixture)",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.set == "train":
        batch = sample(args.n, args.seed)
    elif args.set == "analysis":
        batch = analysis_batch(args.n, args.seed)
    else:
        batch = HELDOUT_SETS[args.set](args.n, args.seed)
    from polyrot.atomic import atomic_savez

    atomic_savez(args.out, tokens=batch.tokens, depth=batch.depth, valid=batch.valid)
    print(f"wrote {args.n} sequences ({args.set}, seed {args.seed}) to {args.out}")


if __name__ == "__main__":
    main()
