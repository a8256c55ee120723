"""The offline GPT-NeoX family: Pythia's architecture at laptop size, trained here.

Each model gets its own seed for initialisation *and* for data order (as the Pythia seeds
do). Checkpoints are saved as revisions ``<out>/<model>/step<N>/`` in ``save_pretrained``
layout (config.json, model.safetensors) with the shared tokenizer files beside them, so
``source.load_model`` reads them exactly as it reads the hub. A revision folder is written
to a temporary name and renamed, so a folder that exists is complete; a killed job is rerun
from the start (training is deterministic, so it writes the same revisions).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from polyrot import atomic
from polyrot.config import stable_hash
from polyrot.toy.train import lr_at, resolve_device

if TYPE_CHECKING:
    from polyrot.settings import FamilyConfig


if TYPE_CHECKING:
    from transformers import GPTNeoXForCausalLM

log = logging.getLogger(__name__)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_REVISION = re.compile(r"^step\d+$")


def build(cfg: FamilyConfig, vocab_size: int, seq_len: int, seed: int, eos_id: int) -> GPTNeoXForCausalLM:
    """A freshly initialised family model (rotary, parallel residual, untied embeddings)."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate_size,
        rotary_pct=cfg.rotary_pct,
        max_position_embeddings=seq_len,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(config)


def batch_starts(stream_len: int, seq_len: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """``(steps, batch_size)`` window starts into the training stream: the model's own data
    order, a pure function of its seed."""
    rng = np.random.default_rng([seed, 0x0DA7A])
    return rng.integers(0, stream_len - seq_len, size=(steps, batch_size))


@torch.no_grad()
def heldout_loss(model: GPTNeoXForCausalLM, tokens: torch.Tensor, batch_size: int = 64) -> float:
    """Mean next-token cross-entropy (nats) on held-out sequences."""
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(tokens), batch_size):
        ids = tokens[s : s + batch_size]
        out = model(input_ids=ids, labels=ids)
        n = ids.shape[0] * (ids.shape[1] - 1)
        total, count = total + float(out.loss) * n, count + n
    model.train()
    return total / count


def save_revision(model: GPTNeoXForCausalLM, folder: Path, tokenizer_dir: Path, meta: dict[str, Any]) -> None:
    """Write one revision atomically: weights (safetensors), config, tokenizer, meta."""
    with atomic.atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        for name in TOKENIZER_FILES:
            if (tokenizer_dir / name).exists():
                shutil.copy(tokenizer_dir / name, tmp / name)
        atomic.write_json(tmp / "polyrot_revision.json", meta)


def train_model(
    model_name: str,
    seed: int,
    cfg: FamilyConfig,
    stream: np.ndarray,
    heldout: np.ndarray,
    tokenizer_dir: Path,
    out_dir: Path,
    vocab_size: int,
    eos_id: int,
    progress: bool = True,
) -> pd.DataFrame:
    """Train one family model and save every ``cfg.save_steps`` revision under
    ``out_dir/<model_name>/``. Returns the log (one row per save step)."""
    device = resolve_device(cfg.device)
    seq_len = heldout.shape[1]
    model = build(cfg, vocab_size, seq_len, seed, eos_id).to(device)
    model.train()
    run = {"model": model_name, "seed": seed, "family": cfg.__dict__, "seq_len": seq_len, "vocab_size": vocab_size}
    run_hash = stable_hash(run)
    model_dir = out_dir / model_name
    saves = set(cfg.save_steps)
    if model_dir.exists():  # revisions this config does not write are stale: never mix them in
        for p in model_dir.iterdir():
            if _REVISION.match(p.name) and int(p.name[4:]) not in saves:
                shutil.rmtree(p)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    stream_t = torch.as_tensor(stream, dtype=torch.long)
    held_t = torch.as_tensor(heldout, dtype=torch.long, device=device)
    offsets = torch.arange(seq_len)
    starts = torch.as_tensor(batch_starts(len(stream), seq_len, cfg.batch_size, cfg.steps, seed))
    rows: list[dict[str, Any]] = []
    losses: list[float] = []

    def save(step: int) -> None:
        row = {
            "step": step,
            "lr": lr_at(max(step - 1, 0), cfg),
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "heldout_loss": heldout_loss(model, held_t),
        }
        rows.append(row)
        losses.clear()
        meta = {**run, "step": step, "revision": f"step{step}", "run_hash": run_hash, "metrics": row}
        save_revision(model, model_dir / f"step{step}", tokenizer_dir, meta)
        log.info("%s step %d: train %.3f held-out %.3f", model_name, step, row["train_loss"], row["heldout_loss"])

    if 0 in saves:
        save(0)
    bar = tqdm(range(cfg.steps), desc=model_name, disable=not progress, unit="step")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        ids = stream_t[starts[step][:, None] + offsets].to(device)
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        if step + 1 in saves:
            save(step + 1)
            bar.set_postfix(heldout=f"{rows[-1]['heldout_loss']:.3f}")
    return pd.DataFrame(rows)
