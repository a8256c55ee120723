"""Extracting residual activations from a GPT-NeoX model: the obvious baseline,
``AutoModelForCausalLM.from_pretrained(dir)(ids, output_hidden_states=True)``, against
``polyrot.neox.extract.extract`` (hooks on the body, no unembedding, stop after the deepest
site), on the same model, tokens and batch, measured in one run. Tokens per second.

Models are built here with random weights and saved in save_pretrained layout (no hub):
``pythia-70m`` has Pythia-70m's shape (d 512, 6 layers, 8 heads, vocab 50304, rotary 25%,
parallel residual, untied), ``family`` the default offline family's (d 64, 4 layers, vocab
1024). Both sides read all 7 (or 5) sites into float32 numpy arrays; the rounds alternate
and the median is reported. Ratio = ours / baseline (> 1: ours is faster).

    python benchmarks/neox_extract.py [--model pythia-70m|family] [--sequences 64]
                                      [--seq-len 256] [--batch 16] [--rounds 3]
                                      [--threads 2] [--device cpu|cuda] [--dtype float32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SHAPES = {
    "pythia-70m": dict(
        vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8, intermediate_size=2048
    ),
    "family": dict(vocab_size=1024, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256),
}


def build(shape: str, seq_len: int, folder: Path) -> None:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        **SHAPES[shape],
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        max_position_embeddings=max(seq_len, 2048),
    )
    torch.manual_seed(0)
    GPTNeoXForCausalLM(config).save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="pythia-70m", choices=sorted(SHAPES))
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from polyrot.neox import extract, source

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    tmp = Path(tempfile.mkdtemp())
    build(args.model, args.seq_len, tmp / "model" / "main")
    dtype = source.DTYPES[args.dtype]
    sites = extract.site_names(SHAPES[args.model]["num_hidden_layers"])
    tokens = np.random.default_rng(0).integers(0, SHAPES[args.model]["vocab_size"], size=(args.sequences, args.seq_len))
    ours_model = source.load_model(source.ModelSource("local", local_dir=tmp), "model", "main", args.dtype, args.device)
    base_model = AutoModelForCausalLM.from_pretrained(tmp / "model" / "main", dtype=dtype).to(args.device).eval()

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    @torch.no_grad()
    def baseline() -> None:
        for s in range(0, len(tokens), args.batch):
            ids = torch.as_tensor(tokens[s : s + args.batch], device=args.device)
            hidden = base_model(input_ids=ids, output_hidden_states=True).hidden_states
            [h.float().reshape(-1, h.shape[-1]).cpu().numpy() for h in hidden]
        sync()

    def ours() -> None:
        extract.extract(ours_model, tokens, sites, args.batch, progress=False)
        sync()

    n_tokens = tokens.size
    for fn in (baseline, ours):  # warm-up: allocator, kernels
        fn()
    times: dict[str, list[float]] = {"baseline": [], "ours": []}
    for _ in range(args.rounds):
        for name, fn in (("baseline", baseline), ("ours", ours)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    params = sum(p.numel() for p in ours_model.parameters())
    print(f"model {args.model} ({params / 1e6:.1f}M parameters), {args.device}, {args.dtype}, {args.threads} threads")
    print(f"{args.sequences} x {args.seq_len} tokens, batch {args.batch}, median of {args.rounds} rounds")
    for k in ("baseline", "ours"):
        print(f"  {k:9s} {n_tokens / med[k]:>10.0f} tokens/s  ({med[k]:.3f} s)")
    print(f"ratio ours / baseline (tokens/s): {med['baseline'] / med['ours']:.2f}x")


if __name__ == "__main__":
    main()
