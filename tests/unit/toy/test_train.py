"""Training: schedule, data stream, checkpoints, resume, frozen I/O, early stop."""

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from polyrot import atomic
from polyrot.config import EarlyStop, TaskConfig, TrainConfig
from polyrot.toy import train, transformer

TASK = TaskConfig(analysis_n=32, heldout_n=32)
CFG = TrainConfig(
    steps=30,
    batch_size=8,
    warmup_steps=5,
    checkpoint_every=10,
    log_every=5,
    early_stop=None,
    length_bucketing=True,
    chunk_steps=4,
    device="cpu",
    amp=False,
    threads=1,
)


def weights(path):
    return load_file(str(path))


def test_lr_schedule():
    cfg = dataclasses.replace(CFG, steps=1000, warmup_steps=100, lr=3e-3, final_lr_fraction=0.02)
    assert train.lr_at(0, cfg) == pytest.approx(3e-5)
    assert train.lr_at(99, cfg) == pytest.approx(3e-3)
    assert train.lr_at(100, cfg) == pytest.approx(3e-3)
    assert train.lr_at(550, cfg) == pytest.approx(3e-3 * (0.02 + 0.98 * 0.5))
    assert train.lr_at(1000, cfg) == pytest.approx(6e-5)
    lrs = [train.lr_at(s, cfg) for s in range(100, 1000)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_batches_are_a_function_of_step():
    full = [b for _, b in zip(range(11), train.batches(TASK, CFG, seed=3), strict=False)]
    resumed = [b for _, b in zip(range(4), train.batches(TASK, CFG, seed=3, start_step=7), strict=False)]
    for a, b in zip(full[7:], resumed, strict=True):
        assert torch.equal(a, b)
    other = next(train.batches(TASK, CFG, seed=4))
    assert not torch.equal(full[0][0, :, :5], other[0, :, :5])


def test_bucketed_batches_are_trimmed_to_their_longest_row():
    for b in [b for _, b in zip(range(8), train.batches(TASK, CFG, seed=0), strict=False)]:
        lengths = (b[0] != 0).sum(1)
        assert b.shape[0] == 3 and b.shape[1] == 8 and b.shape[2] == int(lengths.max())


def test_a_training_step_lowers_the_loss_on_its_batch():
    model = transformer.build(0)
    data = next(train.batches(TASK, CFG, seed=0))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    before = float(train.loss_fn(model(data[0]), data).detach())
    # at init every head is near uniform: loss ~ ln 40 + ln 9 + ln 2
    assert before == pytest.approx(math.log(40) + math.log(9) + math.log(2), rel=0.05)
    for _ in range(5):
        loss = train.loss_fn(model(data[0]), data)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(train.loss_fn(model(data[0]), data).detach()) < before - 0.5


def test_train_writes_checkpoints_best_final_and_log(tmp_path):
    state = train.train(tmp_path / "m", 0, TASK, CFG, progress=False)
    assert state.step == 30 and train.list_checkpoints(tmp_path / "m") == [10, 20, 30]
    meta = atomic.read_json(tmp_path / "m" / "final" / "meta.json")
    assert meta["step"] == 30 and meta["config_hash"] == state.config_hash
    for key in ("acc_analysis_depth", "acc_compositional_valid", "acc_long_tok", "loss_heldout", "min_heldout_acc"):
        assert 0 <= meta["metrics"][key] < 100
    best = atomic.read_json(tmp_path / "m" / "best" / "meta.json")
    assert best["step"] == state.best_step and best["selected_as"] == "best"
    assert torch.equal(
        weights(tmp_path / "m" / "best" / "model.safetensors")["W_E"],
        weights(tmp_path / "m" / train.step_dir_name(state.best_step) / "model.safetensors")["W_E"],
    )
    frame = pd.read_csv(tmp_path / "m" / "train_log.tsv", sep="\t")
    assert frame["step"].tolist() == [5, 10, 15, 20, 25, 30]
    assert frame["min_heldout_acc"].notna().sum() == 3


def test_resume_is_bit_identical(tmp_path):
    train.train(tmp_path / "full", 1, TASK, CFG, progress=False)
    state = train.train(tmp_path / "cut", 1, TASK, CFG, progress=False, stop_after=17)  # "killed" at 17
    assert state.step == 17 and train.list_checkpoints(tmp_path / "cut") == [10]
    train.train(tmp_path / "cut", 1, TASK, CFG, progress=False)
    a = weights(tmp_path / "full" / "final" / "model.safetensors")
    b = weights(tmp_path / "cut" / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "cut" / "train_log.tsv").read_text() == (tmp_path / "full" / "train_log.tsv").read_text()


def test_checkpoints_of_another_config_are_not_resumed(tmp_path):
    train.train(tmp_path / "m", 2, TASK, CFG, progress=False, stop_after=10)
    other = dataclasses.replace(CFG, lr=1e-3)
    train.train(tmp_path / "m", 2, TASK, other, progress=False)
    train.train(tmp_path / "ref", 2, TASK, other, progress=False)
    a, b = (
        weights(tmp_path / "m" / "final" / "model.safetensors"),
        weights(tmp_path / "ref" / "final" / "model.safetensors"),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_frozen_io_stays_bit_identical(tmp_path):
    anchor = transformer.build(123)
    frozen = {k: getattr(anchor, k).detach().clone() for k in transformer.IO_PARAMS}
    train.train(tmp_path / "m", 1, TASK, CFG, frozen_io=frozen, progress=False)
    trained = weights(tmp_path / "m" / "final" / "model.safetensors")
    for k in transformer.IO_PARAMS:
        assert torch.equal(trained[k], frozen[k]), k
    assert not torch.equal(trained["ln_final.gain"], torch.ones(64))  # final norm is not shared
    assert not torch.equal(trained["blocks.0.W_Q"], transformer.build(1).blocks[0].W_Q.detach())


def test_early_stop(tmp_path):
    cfg = dataclasses.replace(CFG, steps=100, early_stop=EarlyStop(threshold=0.01, patience=20))
    state = train.train(tmp_path / "m", 0, TASK, cfg, progress=False)
    assert state.threshold_step == 10 and state.stopped_early and state.step == 30


def test_keep_only_latest_and_best(tmp_path):
    cfg = dataclasses.replace(CFG, keep_all_checkpoints=False)
    state = train.train(tmp_path / "m", 0, TASK, cfg, progress=False)
    assert set(train.list_checkpoints(tmp_path / "m")) == {state.step, state.best_step}


KILL_SCRIPT = """
import sys
from polyrot.toy import train
from polyrot.config import TaskConfig, TrainConfig
cfg = TrainConfig(steps=int(sys.argv[2]), batch_size=8, warmup_steps=5, checkpoint_every=20, log_every=10,
                  early_stop=None, length_bucketing=True, chunk_steps=4, device="cpu", amp=False, threads=1)
train.train(sys.argv[1], 5, TaskConfig(analysis_n=32, heldout_n=32), cfg, progress=False)
"""


def test_sigkill_mid_run_then_resume(tmp_path):
    """A real SIGKILL: only complete checkpoints are visible, and the resumed run finishes
    with the same weights as an uninterrupted one."""
    steps = 1000  # long enough that the kill always lands mid-run
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "cut"), str(steps)], start_new_session=True
    )
    deadline = time.time() + 60
    while not (tmp_path / "cut" / "step000040").exists() and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = train.list_checkpoints(tmp_path / "cut")
    assert done and done[-1] < steps, "the run finished before it could be killed"
    assert not (tmp_path / "cut" / "final").exists()
    for step in done:  # every visible checkpoint is loadable
        load_file(str(tmp_path / "cut" / train.step_dir_name(step) / "model.safetensors"))
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "cut"), str(steps)], check=True)
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "full"), str(steps)], check=True)
    a = weights(tmp_path / "cut" / "final" / "model.safetensors")
    b = weights(tmp_path / "full" / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "cut").glob(".*.tmp")), "temporary directories of the killed run were left behind"
    np.testing.assert_array_equal(a["W_E"].numpy(), b["W_E"].numpy())
