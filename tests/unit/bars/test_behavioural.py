"""Bar B on hand-built models whose KL is known in closed form, and the verdict verdicts."""

import math

import numpy as np
import pytest
import torch

from polyrot import atomic, prereg, verdicts
from polyrot.bars import behavioural
from polyrot.config import TaskConfig
from polyrot.toy import dyck

TASK = TaskConfig()


class Oracle(torch.nn.Module):
    """Outputs (1 - delta) * onehot(exact label) + delta / K for every head."""

    def __init__(self, delta: float) -> None:
        super().__init__()
        self.delta = delta

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        depth, valid = dyck.label(tokens.numpy())
        labels = {"tok": tokens, "depth": torch.from_numpy(depth), "valid": torch.from_numpy(valid)}
        out = {}
        for h, y in labels.items():
            k = dyck.HEAD_CLASSES[h]
            p = torch.full((*y.shape, k), self.delta / k, dtype=torch.float64)
            p.scatter_(-1, y.unsqueeze(-1), 1 - self.delta + self.delta / k)
            out[h] = p.log()
        return out


def smoothed_kl(k: int, eps: float, delta: float) -> float:
    """KL((1-eps) onehot + eps/K || (1-delta) onehot + delta/K), from the definition."""
    a, b = 1 - eps + eps / k, 1 - delta + delta / k
    return a * math.log(a / b) + (k - 1) * (eps / k) * math.log(eps / delta)


def test_within_seed_kl_matches_closed_form():
    eps, delta = 1e-6, 1e-3
    units = behavioural.bar_b_units({"m": Oracle(delta)}, {}, TASK, 300, 128, 0, eps, progress=False)
    (u,) = units
    expected = {h: smoothed_kl(dyck.HEAD_CLASSES[h], eps, delta) for h in dyck.HEADS}
    for h in dyck.HEADS:
        assert u["per_head"][h]["value"] == pytest.approx(expected[h], rel=1e-9)
    # every head sees the same positions, so the overall mean is the mean of the heads
    assert u["value"] == pytest.approx(np.mean(list(expected.values())), rel=1e-9)
    lo, hi = u["ci95"]
    assert hi - lo < 1e-12 * u["value"] + 1e-15  # identical KL everywhere: no spread
    assert u["n_sequences"] == 300


def study_code_kl(k: int, eps: float, delta: float) -> float:
    """KL(1-eps on the true class, eps/(K-1) on each other || (1-delta) onehot + delta/K)."""
    a, b = 1 - eps, 1 - delta + delta / k
    return a * math.log(a / b) + (k - 1) * (eps / (k - 1)) * math.log((eps / (k - 1)) / (delta / k))


def test_study_code_statistic_smoothing_and_mix():
    eps, delta = 1e-3, 1e-2
    units = behavioural.bar_b_units(
        {"m": Oracle(delta)}, {}, TASK, 250, 100, 0, eps, progress=False, mixture="study_code", smoothing="study_code"
    )
    for h in dyck.HEADS:
        k = dyck.HEAD_CLASSES[h]
        assert units[0]["per_head"][h]["value"] == pytest.approx(study_code_kl(k, eps, delta), rel=1e-9)
        assert study_code_kl(k, eps, delta) != pytest.approx(smoothed_kl(k, eps, delta), rel=1e-3)
    # the mix: 60 / 20 / 20 of every batch (250 = 100 + 100 + 50 rows)
    batches = list(behavioural.sample_stream(TASK, 250, 100, 0, "study_code"))
    assert [len(b) for b in batches] == [100, 100, 50]
    b = batches[0]
    content = (b.tokens >= 3).sum(1)
    assert (content[:60] <= 48).all() and (content[:60] >= 2).all()
    assert ((content[60:80] >= 6) & (b.valid[60:80].max(1) == 0)).all()  # compositional: nested, all valid
    assert ((content[80:] >= 50) & (content[80:] <= 60)).all()  # long
    with pytest.raises(ValueError, match="smoothing"):
        behavioural.bar_b_units({"m": Oracle(delta)}, {}, TASK, 10, 10, 0, eps, progress=False, smoothing="x")


def test_model_equal_to_spec_has_zero_kl():
    units = behavioural.bar_b_units({"m": Oracle(1e-6)}, {}, TASK, 64, 64, 1, 1e-6, progress=False)
    assert abs(units[0]["value"]) < 1e-12


def test_cross_seed_kl_matches_closed_form():
    d_ref, d = 1e-4, 1e-2
    units = behavioural.bar_b_units(
        {"ref": Oracle(d_ref), "m": Oracle(d)}, {"m": "ref"}, TASK, 200, 64, 2, 1e-6, progress=False
    )
    cross = [u for u in units if u["kind"] == "cross"][0]
    assert cross["unit"] == "cross:m|ref"
    expected = np.mean([smoothed_kl(dyck.HEAD_CLASSES[h], d_ref, d) for h in dyck.HEADS])
    assert cross["value"] == pytest.approx(expected, rel=1e-9)


def test_ratio_interval_matches_direct_computation():
    rng = np.random.default_rng(0)
    n = rng.integers(5, 60, size=500).astype(float)
    s = rng.gamma(2.0, 1e-4, size=500) * n
    st = behavioural.RatioStats()
    st.add(s[:200], n[:200])
    st.add(s[200:], n[200:])
    r = s.sum() / n.sum()
    se = np.sqrt(np.var(s - r * n, ddof=1) / len(n)) / n.mean()
    assert st.value == pytest.approx(r, rel=1e-12)
    assert st.ci95() == pytest.approx((r - 1.96 * se, r + 1.96 * se), rel=1e-9)


SPEC_LT = {"comparison": "<", "threshold": 1e-4, "near_miss_factor": 3.0}
SPEC_GT = {"comparison": ">", "threshold": 0.99, "near_miss_factor": 1.05}


def test_judge_value():
    assert verdicts.judge_value(5e-5, SPEC_LT)["verdict"] == "PASS"
    near = verdicts.judge_value(1.74e-4, SPEC_LT, ci95=(1.5e-4, 2e-4))
    assert near["verdict"] == "FAIL" and near["near_miss"] and near["ratio_to_threshold"] == pytest.approx(1.74)
    assert not near["uncertain"]
    assert verdicts.judge_value(0.2, SPEC_LT)["near_miss"] is False
    assert verdicts.judge_value(9e-5, SPEC_LT, ci95=(8e-5, 1.1e-4))["uncertain"]
    assert verdicts.judge_value(0.9996, SPEC_GT)["verdict"] == "PASS"
    assert verdicts.judge_value(0.96, SPEC_GT)["near_miss"] and not verdicts.judge_value(0.6, SPEC_GT)["near_miss"]
    assert verdicts.judge_value(float("nan"), SPEC_LT)["verdict"] == "FAIL"


def test_write_verdict_and_strict_gate(tmp_path, repo, capsys):
    reg = prereg.load(repo / "preregistration.md", repo / "preregistration.lock")
    units = [{"unit": "within:A0", "value": 5e-5, "ci95": [4e-5, 6e-5]}, {"unit": "within:A1", "value": 2e-4}]
    rec = verdicts.write_verdict(tmp_path / "B.json", "B", units, reg, "cfg", ["x"])
    assert rec.verdict == "FAIL" and rec.value == 2e-4 and rec.worst_unit == "within:A1" and rec.near_miss
    assert rec.preregistration["sha256"] == reg.file_sha256 and rec.threshold == 1e-4
    # the file reads back as the record written, and writes back byte for byte
    assert verdicts.read(tmp_path / "B.json") == rec
    assert atomic.dumps(verdicts.read(tmp_path / "B.json").to_dict()) == (tmp_path / "B.json").read_text()
    assert verdicts.check([tmp_path / "B.json"], strict=False) == 0
    assert verdicts.check([tmp_path / "B.json"], strict=True) == 1
    assert "Bar B: FAIL" in capsys.readouterr().out
    verdicts.write_verdict(tmp_path / "B2.json", "B", [{"unit": "u", "value": 1e-5}], reg, "cfg", [])
    assert verdicts.check([tmp_path / "B2.json"], strict=True) == 0
