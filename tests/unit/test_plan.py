"""The run plan, built from a config and the preregistration without Snakemake."""

from __future__ import annotations

import pytest

from polyrot import config, plan, prereg


@pytest.fixture(scope="module")
def registered(repo):
    return prereg.load(repo / "preregistration.md", repo / "preregistration.lock")


def _plan(repo, registered, name: str) -> plan.Plan:
    return plan.build(config.load_file(repo / "config" / name), registered)


def test_the_default_plan(repo, registered):
    p = _plan(repo, registered, "config.yaml")
    cfg = config.load_file(repo / "config/config.yaml")
    toy = p.arms["toy"]
    assert list(p.arms) == cfg.arms and toy.models == cfg.models
    # every non-anchor model against its cohort's anchor; all_pairs every pair within a cohort
    assert {(q.anchor, q.other) for q in toy.pairs} == {
        (c.anchor_model, m) for c in cfg.cohorts.values() for m in c.models if m != c.anchor_model
    }
    sizes = [len(c.models) for c in cfg.cohorts.values()]
    assert len(toy.all_pairs) == sum(n * (n - 1) // 2 for n in sizes)
    assert all(p.bar_references[q.other] == q.anchor for q in toy.pairs)
    assert p.bar_references[p.decoy] == p.decoy_of and p.bars == ["B", "P", "C", "Pr"]
    # a pair is the tuple the scripts receive, with names
    cohort, anchor, other = toy.pairs[0]
    assert (cohort, anchor, other) == (toy.pairs[0].cohort, toy.pairs[0].anchor, toy.pairs[0].other)
    assert len(toy.rotation_keys()) == len(toy.sites) * len(toy.pairs)


def test_claims_go_to_the_judge_of_their_table(repo, registered):
    p = _plan(repo, registered, "config.yaml")
    steering = p.claims_judged_by("judge_steering_claims")
    audit = p.claims_judged_by("judge_claims")
    assert sorted(steering + audit) == sorted(p.claims) and not set(steering) & set(audit)
    assert steering and all(p.claims[c].startswith("steering_") for c in steering)
    read = {t.table for t in p.claim_tables("judge_claims")}
    assert {p.claims[c] for c in audit} <= read


def test_tables_come_in_input_order_with_their_paths(repo, registered):
    p = _plan(repo, registered, "config.yaml")
    rows = p.tables(["ev", "firing", "drift", "haar_power"])
    arms = list(p.arms)
    assert [(t.arm, t.table) for t in rows] == (
        [(a, n) for a in arms for n in ("ev", "firing")]
        + [(a, "drift") for a in p.drift_arms]
        + [("all", "haar_power")]
    )
    assert rows[0].path == str(p.files("audit", arm=arms[0], table="ev"))
    with pytest.raises(KeyError, match="no results table 'evs'"):
        p.tables(["evs"])


def test_a_claim_on_a_table_claims_may_not_read_is_refused(repo):
    class Registered:  # the two things build() reads of a preregistration
        effective = {"claims": {"odd": {"table": "haar_pooled"}}}

        def claim(self, name):
            return self.effective["claims"][name]

    with pytest.raises(ValueError, match="claims may not read"):
        plan.build(config.load_file(repo / "config/config.yaml"), Registered())
    Registered.effective = {"claims": {"odd": {"table": "evs"}}}
    with pytest.raises(KeyError, match="no results table"):
        plan.build(config.load_file(repo / "config/config.yaml"), Registered())


def test_the_test_config_has_no_drift_on_a_missing_arm(repo, registered):
    for name in ("test.yaml", "paper.yaml"):
        p = _plan(repo, registered, name)
        assert set(p.drift_arms) <= set(p.arms)
        assert set(p.steering_cohorts) == set(p.arms)
