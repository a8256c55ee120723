"""The training data stream: batches as a pure function of (model seed, step), generated ahead.

A model's data come in chunks of ``chunk_steps`` batches; chunk ``i`` of the model with
seed ``s`` is drawn from ``SeedSequence([data_seed(s), i])``, so any step's batch can be
regenerated without the ones before it (a resumed run sees exactly the data an
uninterrupted one saw). Chunks are generated in the background: by one thread per model
(``workers=0``, enough on a CPU where the model is slower than the generator), or by a
pool of worker processes shared by a whole stack (``workers=N``: a GPU trains K models
faster than one core generates their K batches). Both run the same ``chunk`` function,
so the stream is bitwise the same either way.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from polyrot.toy import dyck

if TYPE_CHECKING:
    from polyrot.settings import TaskConfig, TrainConfig


def data_seed(seed: int) -> int:
    """The data-order seed of a model: differs from its init seed's stream."""
    return int(np.random.SeedSequence([seed, 0xDA7A]).generate_state(1)[0])


def chunk(task: TaskConfig, cfg: TrainConfig, seed: int, index: int) -> list[np.ndarray]:
    """The ``index``-th chunk: ``chunk_steps`` arrays ``(3, batch, T)`` of uint8 (tokens,
    depth, valid). With length bucketing the chunk is sorted by length, cut into batches
    trimmed to their longest row, and the batches shuffled; otherwise T = 64."""
    rng = np.random.default_rng(np.random.SeedSequence([data_seed(seed), index]))
    n = cfg.chunk_steps * cfg.batch_size
    batch = dyck.sample(n, rng, task.train_min_len, task.train_max_len, task.p_valid, task.p_open)
    stacked = batch.stacked().astype(np.uint8)  # ids < 40, depth <= 8, valid <= 1
    if cfg.length_bucketing:
        order = np.argsort((batch.tokens != dyck.PAD).sum(1), kind="stable")
        stacked = stacked[:, order]
    parts = [stacked[:, i * cfg.batch_size : (i + 1) * cfg.batch_size] for i in range(cfg.chunk_steps)]
    if cfg.length_bucketing:
        perm = rng.permutation(cfg.chunk_steps)
        parts = [parts[i] for i in perm]
    out = []
    for p in parts:
        width = int((p[0] != dyck.PAD).sum(1).max()) if cfg.length_bucketing else dyck.N_CTX
        out.append(np.ascontiguousarray(p[:, :, :width]))
    return out


def _executor(workers: int, n_models: int) -> concurrent.futures.Executor:
    if workers == 0:
        return concurrent.futures.ThreadPoolExecutor(max_workers=n_models, thread_name_prefix="dyck-data")
    # spawn, not fork: the parent holds torch's thread pools
    ctx = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


class StackStream:
    """Batches for K models, step by step: ``next()`` gives ``(K, 3, batch, T)`` uint8 (an
    eighth of int64's bytes to copy to a GPU; ``.long()`` there), each model's own batch,
    right-padded with PAD to the widest of the K (the loss and the causal attention ignore
    PAD, so padding changes nothing a model computes; see ``train.run_hash`` on rounding)."""

    def __init__(
        self, task: TaskConfig, cfg: TrainConfig, seeds: Sequence[int], start_step: int = 0, workers: int = 0
    ) -> None:
        self.task, self.cfg = task, cfg
        self.seeds = list(seeds)
        self.step = start_step
        self.pool = _executor(workers, len(self.seeds))
        self.ahead = 2 if workers else 1  # chunks in flight per model beyond the current one
        self.pending: list[deque[concurrent.futures.Future]] = []
        self.current: list[list[np.ndarray]] = []
        first = start_step // cfg.chunk_steps
        for seed in self.seeds:
            futures = deque(self.pool.submit(chunk, task, cfg, seed, first + j) for j in range(self.ahead + 1))
            self.pending.append(futures)
            self.current.append([])
        self.next_index = first + self.ahead + 1

    def keep(self, indices: Sequence[int]) -> None:
        """Drop every model but those at ``indices`` (a stopped model's data stop too)."""
        for i in set(range(len(self.seeds))) - set(indices):
            for f in self.pending[i]:
                f.cancel()
        self.seeds = [self.seeds[i] for i in indices]
        self.pending = [self.pending[i] for i in indices]
        self.current = [self.current[i] for i in indices]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        offset = self.step % self.cfg.chunk_steps
        if offset == 0 or not self.current[0]:
            for i, seed in enumerate(self.seeds):
                self.current[i] = self.pending[i].popleft().result()
                self.pending[i].append(self.pool.submit(chunk, self.task, self.cfg, seed, self.next_index))
            self.next_index += 1
        parts = [c[offset] for c in self.current]
        width = max(p.shape[2] for p in parts)
        out = np.zeros((len(parts), 3, parts[0].shape[1], width), dtype=np.uint8)
        for i, p in enumerate(parts):
            out[i, :, :, : p.shape[2]] = p
        self.step += 1
        return torch.from_numpy(out)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> StackStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batches(task: TaskConfig, cfg: TrainConfig, seed: int, start_step: int = 0) -> Iterator[torch.Tensor]:
    """One model's stream: ``(3, batch, T)`` int64 tensors from ``start_step`` on."""
    with StackStream(task, cfg, [seed], start_step) as stream:
        for data in stream:
            yield data[0].long()
