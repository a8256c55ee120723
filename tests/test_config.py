"""Config validation: every shipped config is valid; bad ones are refused naming the key."""

import copy
import dataclasses

import pytest
import yaml

from polyrot import config

CONFIGS = ["config/config.yaml", "config/paper.yaml", "config/test.yaml"]


@pytest.fixture
def raw(repo):
    return yaml.safe_load((repo / "config/test.yaml").read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_are_valid(repo, name):
    cfg = config.load_file(repo / name)
    assert cfg.models and all(cfg.cohort_of(m).name == m[0] for m in cfg.models)


def test_paper_scale(repo):
    cfg = config.load_file(repo / "config/paper.yaml")
    assert cfg.train.steps == 60_000 and cfg.train.batch_size == 512 and cfg.train.warmup_steps == 500
    assert cfg.cohorts["A"].seeds == (0, 1, 2, 3, 4) and cfg.cohorts["B"].seeds == (100, 101, 102, 103, 104)
    assert cfg.train.early_stop == config.EarlyStop(threshold=0.9999, patience=10_000)
    assert cfg.bar_b.n_samples == 10**7


def test_default_has_two_pairs_per_cohort(repo):
    cfg = config.load_file(repo / "config/config.yaml")
    assert all(len(c.seeds) >= 3 for c in cfg.cohorts.values())


def refused(raw, *fragments):
    with pytest.raises(config.ConfigError) as info:
        config.load(raw)
    for f in fragments:
        assert f in str(info.value), str(info.value)


def test_unknown_key(raw):
    raw["train"]["stpes"] = 10
    refused(raw, "unknown config key 'train.stpes'")
    del raw["train"]["stpes"]
    raw["extra"] = 1
    refused(raw, "unknown config key 'extra'")


def test_wrong_type(raw):
    raw["train"]["steps"] = "many"
    refused(raw, "'train.steps'", "not of type 'integer'")


def test_impossible_values(raw):
    bad = copy.deepcopy(raw)
    bad["train"]["lr"] = -1
    refused(bad, "'train.lr'")
    bad = copy.deepcopy(raw)
    bad["cohorts"]["A"]["anchor"] = 7
    refused(bad, "'cohorts.A.anchor'", "not one of")
    bad = copy.deepcopy(raw)
    bad["train"]["warmup_steps"] = bad["train"]["steps"]
    refused(bad, "'train.warmup_steps'")
    bad = copy.deepcopy(raw)
    bad["task"]["train_max_len"] = 63
    refused(bad, "'task.train_max_len'")
    bad = copy.deepcopy(raw)
    bad["cohorts"]["a1"] = bad["cohorts"]["A"]
    refused(bad, "unknown config key 'cohorts.a1'")
    bad = copy.deepcopy(raw)
    del bad["bars"]
    refused(bad, "'bars' is a required property")


def test_command_line_booleans(raw):
    raw["strict_bars"] = "true"
    assert config.load(raw).strict_bars is True
    raw["strict_bars"] = "yes please"
    refused(raw, "'strict_bars'")


def test_schema_and_dataclasses_agree():
    props = config.schema()["properties"]
    assert set(props["train"]["properties"]) == {f.name for f in dataclasses.fields(config.TrainConfig)}
    assert set(props["task"]["properties"]) == {f.name for f in dataclasses.fields(config.TaskConfig)}
    assert set(props["bars"]["properties"]["B"]["properties"]) == {
        f.name for f in dataclasses.fields(config.BarBConfig)
    }
