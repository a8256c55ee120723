"""Config validation: every shipped config is valid; bad ones are refused naming the key."""

import copy
import json

import pytest

from polyrot import config, settings

CONFIGS = ["config/config.yaml", "config/paper.yaml", "config/test.yaml"]


@pytest.fixture
def raw(repo):
    return config.load_file(repo / "config/test.yaml").raw


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_are_valid(repo, name):
    cfg = config.load_file(repo / name)
    assert cfg.models and all(cfg.cohort_of(m).name == m[0] for m in cfg.models)


def test_paper_scale(repo):
    cfg = config.load_file(repo / "config/paper.yaml")
    assert cfg.train.steps == 60_000 and cfg.train.batch_size == 512 and cfg.train.warmup_steps == 500
    assert cfg.cohorts["A"].seeds == (0, 1, 2, 3, 4) and cfg.cohorts["B"].seeds == (100, 101, 102, 103, 104)
    train = settings.parse(config.TrainConfig, cfg.raw["train"])
    assert train == cfg.settings.train and train.betas == (0.9, 0.95)
    assert train.early_stop == config.EarlyStop(threshold=0.9999, patience=10_000)
    assert cfg.bars.B.n_samples == 10**7


def test_training_stacks(repo, raw):
    """Anchors and independent seeds first, then the seeds that wait for an anchor's I/O."""
    paper = config.load_file(repo / "config/paper.yaml")
    assert paper.toy_stacks == {
        "A0+B100+B101+B102+B103+B104": ["A0", "B100", "B101", "B102", "B103", "B104"],
        "A1+A2+A3+A4": ["A1", "A2", "A3", "A4"],
    }
    assert paper.stack_of("B103") == "A0+B100+B101+B102+B103+B104" and paper.needs_anchor("A3")
    assert not paper.needs_anchor("A0") and not paper.needs_anchor("B101")
    default = config.load_file(repo / "config/config.yaml")
    assert list(default.toy_stacks) == ["A0", "B100", "B101", "B102", "A1", "A2"]
    raw["train"]["stack"] = 10
    assert list(config.load(raw).toy_stacks) == ["A0+B100+B101", "A1"]


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
    refused(raw, "'train.steps'", "valid integer", "'many'")


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
    bad["cohorts"]["C"] = {"seeds": [7]}
    refused(bad, "'cohorts.C.anchor' is required", "'cohorts.C.shared_io' is required")
    bad = copy.deepcopy(raw)
    bad["bars"]["decoy"]["model"] = "A1"
    refused(bad, "'bars.decoy.model'", "not a cohort anchor")
    bad = copy.deepcopy(raw)
    bad["bars"]["P"]["restarts"] = 0
    refused(bad, "'bars.P.restarts'")


def test_command_line_booleans(raw):
    raw["strict_bars"] = "true"
    assert config.load(raw).strict_bars is True
    raw["strict_bars"] = "yes please"
    refused(raw, "'strict_bars'")


def test_config_is_read_in_canonical_key_order(raw):
    shuffled = json.loads(json.dumps(raw, sort_keys=True))
    shuffled["train"] = dict(reversed(list(raw["train"].items())))
    a, b = config.load(raw), config.load(shuffled)
    assert a.raw == b.raw and json.dumps(a.raw) == json.dumps(b.raw)
    assert list(a.params("train")) == sorted(a.params("train"))
    assert "threads" not in a.params("train") and "threads" in a.raw["train"]  # config.NO_OUTPUT


def test_every_no_output_key_has_a_reason():
    assert all(isinstance(why, str) and len(why) > 10 for why in config.NO_OUTPUT.values())


def test_paper_neox_arm_is_the_nine_pythia_seeds(repo):
    cfg = config.load_file(repo / "config/paper.yaml")
    assert cfg.neox.source == "hub" and cfg.neox.hub_org == "EleutherAI" and cfg.neox.revision == "step143000"
    assert cfg.neox.models == [f"pythia-70m-seed{i}" for i in range(1, 10)]
    assert len(cfg.neox_pairs) == 8 and cfg.neox.corpus.source == "pile-10k" and cfg.neox.corpus.seq_len == 256
    # the seven residual sites (the last before the final norm), then the study's last site after it
    assert cfg.audit.neox.sites[-2:] == ["resid_post_5", "resid_final"] and len(cfg.audit.neox.sites) == 8
    assert cfg.audit.neox.drift.early == "step3000"


def test_default_neox_arm_is_an_offline_family(repo):
    cfg = config.load_file(repo / "config/config.yaml")
    assert cfg.neox.source == "family" and cfg.neox_local_dir == str(cfg.results_dir / "neox" / "models")
    assert [config.family_seed(m) for m in cfg.neox.models] == [1, 2, 3, 4]
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
        (
            ("audit", "toy", "drift"),
            {"model": "A0", "checkpoints": ["step000030"], "early": "step000030"},
            "never written",
        ),
        (("neox", "family", "save_steps"), [10], "must include the final step"),
        (("neox", "corpus", "source"), "file", "'neox.corpus.path' is required"),
        # the audited revision's caches cannot also be a drift checkpoint's
        (
            ("audit", "neox", "drift"),
            {"model": "tiny-neox-seed1", "checkpoints": ["step20"], "early": "step20"},
            "includes the audited revision",
        ),
        # a checkpoint early stopping could skip would leave train_toy's declared output missing
        (("train", "early_stop"), {"threshold": 0.5, "patience": 10}, "later than 'train.early_stop.patience'"),
    ]
    for keys, value, message in cases:
        bad = copy.deepcopy(raw)
        node = bad
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        refused(bad, message)
    bad = copy.deepcopy(raw)
    bad["audit"]["neox"] = None
    refused(bad, "config key 'neox' and 'audit.neox' must be given together")
    bad = copy.deepcopy(raw)
    bad["train"]["keep_all_checkpoints"] = False
    refused(bad, "keep_all_checkpoints: true")
    bad = copy.deepcopy(raw)
    bad["neox"] = bad["audit"]["neox"] = bad["steering"]["neox"] = None
    assert config.load(bad).get("neox") is None and config.load(bad).arms == ["toy"]


def test_scripts_read_only_their_job(repo):
    """Settings reach scripts as params, never by re-reading the config (issue 11)."""
    for script in (repo / "workflow/scripts").glob("*.py"):
        text = script.read_text()
        for forbidden in ("smk.config", "snakemake.config", "config.load(", "config.load_file("):
            assert forbidden not in text, f"{script.name} reads the config itself ({forbidden})"


def test_steering_settings_are_checked_against_the_audit(raw):
    bad = copy.deepcopy(raw)
    bad["steering"]["toy"]["site"] = "resid_post_0"
    refused(bad, "'steering.toy.site'", "not an audited site")
    bad = copy.deepcopy(raw)
    bad["steering"]["alphas"] = [0.5, 4.0]
    refused(bad, "'steering.alphas' must include [1, 2]")
    bad = copy.deepcopy(raw)
    bad["steering"]["random_draws"] = 10
    refused(bad, "'steering.random_draws'")
    bad = copy.deepcopy(raw)
    bad["steering"]["toy"]["eval_n"] = bad["audit"]["heldout_n"] + 1
    refused(bad, "'steering.toy.eval_n'", "exceeds 'audit.heldout_n'")
    if "neox" in raw:
        bad = copy.deepcopy(raw)
        bad["steering"]["neox"]["site"] = "resid_pre_0"
        refused(bad, "'steering.neox.site'", "resid_post_<i>")
        bad = copy.deepcopy(raw)
        bad["steering"]["neox"] = None
        refused(bad, "'steering.neox' and 'neox' must be given together")
