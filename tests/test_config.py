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
    neox = props["neox"]["properties"]
    assert set(neox["family"]["properties"]) == {f.name for f in dataclasses.fields(config.FamilyConfig)}
    assert set(neox["corpus"]["properties"]) == {f.name for f in dataclasses.fields(config.NeoxCorpusConfig)}
    assert set(neox["extract"]["properties"]) == {f.name for f in dataclasses.fields(config.NeoxExtractConfig)}
    assert set(neox) == {f.name for f in dataclasses.fields(config.NeoxConfig)}


def test_paper_neox_arm_is_the_nine_pythia_seeds(repo):
    cfg = config.load_file(repo / "config/paper.yaml")
    assert cfg.neox.source == "hub" and cfg.neox.hub_org == "EleutherAI" and cfg.neox.revision == "step143000"
    assert cfg.neox.models == tuple(f"pythia-70m-seed{i}" for i in range(1, 10))
    assert len(cfg.neox.pairs) == 8 and cfg.neox.corpus.source == "pile-10k" and cfg.neox.corpus.seq_len == 256
    assert cfg.audit.arms["neox"].sites[-1] == "resid_post_5" and len(cfg.audit.arms["neox"].sites) == 7
    assert cfg.audit.arms["neox"].drift.early == "step3000"


def test_default_neox_arm_is_an_offline_family(repo):
    cfg = config.load_file(repo / "config/config.yaml")
    assert cfg.neox.source == "family" and cfg.neox.local_dir == cfg.results_dir / "neox" / "models"
    assert [cfg.neox.seed_of(m) for m in cfg.neox.models] == [1, 2, 3, 4]
    assert cfg.neox.corpus.source == "python-docs"


def test_neox_problems_are_refused_naming_the_key(raw):
    cases = [
        (("neox", "anchor"), "nope", "'neox.anchor'"),
        (("neox", "revision"), "step7", "not in 'neox.family.save_steps'"),
        (("neox", "models"), ["a-seed1", "b"], "must end in -seed<N>"),
        (("neox", "source"), "local", "'neox.local_dir' is required"),
        (("audit", "neox", "sites"), ["resid_pre_0", "resid_mid_0"], "'audit.neox.sites'"),
        (("audit", "neox", "sites"), ["resid_pre_0", "resid_post_5"], "the family has 2 layers"),
        (("audit", "neox", "drift", "early"), "step20", "'audit.neox.drift.early'"),
        (("audit", "toy", "drift", "checkpoints"), ["step000030"], "is never written"),
        (("neox", "family", "save_steps"), [10], "must include the final step"),
        (("neox", "corpus", "source"), "file", "'neox.corpus.path' is required"),
    ]
    for keys, value, message in cases:
        bad = copy.deepcopy(raw)
        node = bad
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        refused(bad, message)
    bad = copy.deepcopy(raw)
    del bad["audit"]["neox"]
    refused(bad, "must be given together")
    bad = copy.deepcopy(raw)
    bad["train"]["keep_all_checkpoints"] = False
    refused(bad, "keep_all_checkpoints: true")
    bad = copy.deepcopy(raw)
    del bad["neox"], bad["audit"]["neox"]
    assert config.load(bad).neox is None and "neox" not in config.load(bad).audit.arms
