"""The claims ledger (polyrot.ledger) and the fragility of verdicts (polyrot.verdicts)."""

import dataclasses
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from polyrot import ledger, prereg, verdicts

NUMBER = re.compile(r"(?<![\d.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def registered(repo):
    return prereg.load(repo / "preregistration.md", repo / "preregistration.lock").effective


# ---------------------------------------------------------------- the paper's values
def test_every_paper_value_parses_and_says_what_its_statement_says():
    values = ledger.load_paper_values()
    assert len(values) == 44 and len({v.id for v in values}) == 44
    for v in values:
        stated = [float(x) for x in NUMBER.findall(v.stated)]
        # a percentage in the statement is the value's fraction ("98%" is 0.98)
        stated += [float(x) / 100 for x in re.findall(r"(\d+(?:\.\d+)?)%", v.stated)]
        numbers = list(v.value.values()) if v.kind == "per_unit" else v.value if v.kind == "range" else [v.value]
        for number in numbers:
            if v.id == "toy_A_naive_ev_negative":  # "negative": the bound 0 is words, not digits
                assert number == 0.0 and "negative" in v.stated
                continue
            assert any(math.isclose(number, s, rel_tol=1e-9, abs_tol=1e-12) for s in stated), (v.id, number, v.stated)


def test_every_paper_value_has_a_registered_tolerance_and_a_source(registered):
    ids = [v.id for v in ledger.load_paper_values()]
    tolerances = registered["ledger"]["tolerances"]
    assert sorted(tolerances) == sorted(ids)
    assert sorted(ledger.SOURCES) == sorted(ids)
    # a row judged by a claim names a registered claim; a row without a source is registered as not computed
    for ident, tol in tolerances.items():
        if "claim" in tol:
            assert tol["claim"] in registered["claims"]
        assert (ledger.SOURCES[ident] is None) == ("not_computed" in tol)


@pytest.mark.parametrize(
    "entry, error",
    [
        ({"kind": "range", "value": [2.0, 1.0]}, "lo <= hi"),
        ({"kind": "between", "value": 1.0}, "kind"),
        ({"kind": "point", "value": [1.0]}, "one number"),
        ({"kind": "per_unit", "value": {}}, "mapping"),
    ],
)
def test_a_malformed_paper_value_is_refused(tmp_path, entry, error):
    base = {"id": "x", "quantity": "q", "stated": "s 1", "unit": "u", "where": "w"}
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps({"values": [{**base, **entry}]}))
    with pytest.raises(ValueError, match=error):
        ledger.load_paper_values(path)


# ---------------------------------------------------------------- bands
@pytest.mark.parametrize(
    "kind, value, tol, expected",
    [
        ("point", 0.89, {"abs": 0.05}, (0.84, 0.94)),
        ("range", [0.94, 0.98], {"abs": 0.02}, (0.92, 1.0)),
        ("range", [-1.53, -0.58], {"rel": 0.25}, (-1.9125, -0.435)),
        ("point", 1.74e-4, {"factor": 3.0}, (5.8e-5, 5.22e-4)),
        ("at_least", 0.98, {"abs": 0.05}, (0.93, math.inf)),
        ("at_most", 0.0, {"abs": 0.0}, (-math.inf, 0.0)),
        ("point", 1.0, {"band": [0.05, 1.0]}, (0.05, 1.0)),
    ],
)
def test_band_widens_the_statement_by_the_tolerance(kind, value, tol, expected):
    lo, hi = ledger.band(kind, value, tol)
    assert lo == pytest.approx(expected[0], abs=1e-12) and hi == pytest.approx(expected[1], abs=1e-12)


# ---------------------------------------------------------------- rows on planted tables
def _write(path, rows):
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return str(path)


def _bar(path, units, decoy_units=()):
    path.write_text(json.dumps({"units": list(units), "decoy": {"units": list(decoy_units)}}))
    return str(path)


SITES = ["resid_pre_0", "resid_mid_0", "resid_post_1"]


@pytest.fixture
def ctx(tmp_path):
    """A run whose toy cohort A rotated EVs (paper's convention) are planted, with a
    permuted null, Bar B units and no GPT-NeoX arm."""
    ev = [
        {
            "cohort": "A",
            "anchor": "A0",
            "other": other,
            "site": site,
            "expansion": 8,
            "rotated_insample_ev_scalar": value,
            "rotated_ev_centred": value - 0.01,
            "null_permuted_ev_scalar": 0.1,
        }
        for other, site, value in [
            ("A1", "resid_pre_0", 0.2),  # the embedding site: not internal, never read
            ("A1", "resid_mid_0", 0.980),
            ("A2", "resid_mid_0", 0.985),
            ("A1", "resid_post_1", 0.990),
            ("A2", "resid_post_1", 0.975),
        ]
    ]
    bars = {
        "B": _bar(
            tmp_path / "B.json",
            [
                {"kind": "within", "model": "A0", "value": 2e-4, "ci95": [1e-4, 3e-4], "per_head": {}},
                {"kind": "within", "model": "A1", "value": 3e-4, "ci95": [2e-4, 4e-4], "per_head": {}},
                {"kind": "cross", "model": "A1", "value": 6e-5, "ci95": [5e-5, 7e-5]},
                {"kind": "cross", "model": "A2", "value": 1e-2, "ci95": [9e-3, 1.1e-2]},
            ],
            [{"kind": "within", "model": "A0-decoy", "value": 0.2}],
        )
    }
    return ledger.RunContext(
        tables={("toy", "ev"): _write(tmp_path / "ev.tsv", ev)},
        bars=bars,
        sites={"toy": SITES},
        cohorts={"A": ("A0", ["A0", "A1", "A2"])},
        neox_is_pythia=False,
    )


def _with_table(ctx, key, path, **changes):
    """``ctx`` with one more table (and any other field changed)."""
    return dataclasses.replace(ctx, tables={**ctx.tables, key: path}, **changes)


def _value(ident):
    return next(v for v in ledger.load_paper_values() if v.id == ident)


def test_a_row_inside_its_band_reproduces_in_the_papers_convention(ctx):
    row = ledger.judge_row(_value("toy_A_rotated_ev"), {"abs": 0.02}, ctx, {})
    assert row["verdict"] == ledger.REPRODUCED and row["n_units"] == 4  # internal sites only
    assert row["ours"] == "0.975 … 0.99" and row["ours_preferred"] == "0.965 … 0.98"
    assert row["band"] == "[0.956, 1.01]" and "permuted-rows null EV 0.1" in row["control"]
    # margin: in the spread of each unit's siblings (the other seed at the same site); the
    # nearest to an edge is 0.975 at resid_post_1, 0.019 from 0.956, its siblings 0.990, 0.975
    spread = pd.Series([0.990, 0.975]).std()
    assert float(row["margin"]) == pytest.approx(0.019 / spread, rel=1e-3)
    assert row["fragile"] is False  # 1.79 spreads: no unit within one


def test_a_row_outside_its_band_differs_and_says_which_unit(ctx):
    row = ledger.judge_row(_value("toy_A_rotated_ev"), {"abs": 0.0}, ctx, {})
    assert row["verdict"] == ledger.DIFFERS and row["band"] == "[0.976, 0.99]"
    assert row["reason"] == "1 of 4 unit(s) outside the band; furthest A:A2:resid_post_1:8 = 0.975"


def test_a_number_this_run_does_not_compute_says_so(ctx):
    row = ledger.judge_row(_value("toy_A_naive_ev_resid_mid_0_x32"), {"rel": 0.25}, ctx, {})
    assert row["verdict"] == ledger.NOT_AT_SCALE and row["ours"] == ""
    row = ledger.judge_row(_value("pythia_rotated_ev"), {"abs": 0.02}, ctx, {})
    assert row["verdict"] == ledger.NOT_AT_SCALE and "GPT-NeoX arm is not configured" in row["reason"]
    row = ledger.judge_row(_value("pythia_per_matrix_ks"), {"not_computed": "replaced by X"}, ctx, {})
    assert row["verdict"] == ledger.NOT_COMPUTED and row["reason"] == "replaced by X"


def test_pythia_numbers_are_not_judged_on_a_stand_in(ctx, tmp_path):
    ev = [
        {"cohort": "neox", "other": "s2", "site": s, "expansion": 8, "rotated_insample_ev_scalar": 0.9} for s in SITES
    ]
    path = _write(tmp_path / "neox_ev.tsv", ev)
    for pythia, verdict in ((False, ledger.NOT_OFFLINE), (True, ledger.REPRODUCED)):
        c = _with_table(ctx, ("neox", "ev"), path, sites={**ctx.sites, "neox": SITES}, neox_is_pythia=pythia)
        row = ledger.judge_row(_value("pythia_rotated_ev"), {"abs": 0.02}, c, {})
        assert row["verdict"] == verdict and row["ours"] == "0.9 … 0.9"
    c = _with_table(ctx, ("neox", "ev"), path, sites={**ctx.sites, "neox": SITES}, neox_is_pythia=False)
    assert (
        "its verdict would be: reproduced"
        in ledger.judge_row(_value("pythia_rotated_ev"), {"abs": 0.1}, c, {})["reason"]
    )


def test_bar_rows_per_unit_and_with_an_interval(ctx):
    row = ledger.judge_row(_value("bar_B_seed0"), {"factor": 3.0}, ctx, {})
    # 2e-4 within a factor 3 of 1.74e-4; its 95% interval [1e-4, 3e-4] does not reach the band's edges
    assert row["verdict"] == ledger.REPRODUCED and row["ours_interval"] == "[0.0001, 0.0003]"
    assert row["control"] == "decoy 0.2" and row["fragile"] is False
    row = ledger.judge_row(_value("bar_B_cross_A"), {"factor": 3.0}, ctx, {})
    # A1 6e-5 is within a factor 3 of 5.28e-5, A2 1e-2 is not within 3 of 1.90e-4; A3, A4 do not exist here
    assert row["verdict"] == ledger.DIFFERS and row["ours"] == "A1 6e-05, A2 0.01"
    assert "furthest A2 = 0.01" in row["reason"] and row["reason"].endswith("not computed at this scale: A3, A4")


def test_a_row_judged_by_a_claim_applies_the_claims_column_and_threshold(tmp_path, ctx):
    transfer = [
        {
            "cohort": "A",
            "other": o,
            "vector": "depth",
            "alpha": a,
            "ratio_unrotated_acc": r,
            "dev_unrotated_acc": abs(r - 1),
            "random_acc": 0.0,
        }
        for o, a, r in [("A1", 2.0, 1.1), ("A2", 2.0, 0.8), ("A1", 1.0, 5.0)]
    ]
    c = _with_table(ctx, ("toy", "steering_transfer"), _write(tmp_path / "transfer.tsv", transfer))
    claim = {"column": "dev_unrotated_acc", "comparison": "<", "threshold": 0.25}
    row = ledger.judge_row(_value("steering_toy_depth_ratio"), {"claim": "depth"}, c, {"depth": claim})
    assert row["ours"] == "A:A1:depth:2.0 1.1, A:A2:depth:2.0 0.8"  # alpha 2 only, ratios shown
    assert row["verdict"] == ledger.REPRODUCED and row["judge"] == "claim depth: dev_unrotated_acc < 0.25"
    row = ledger.judge_row(
        _value("steering_toy_depth_ratio"), {"claim": "depth"}, c, {"depth": {**claim, "threshold": 0.15}}
    )
    assert row["verdict"] == ledger.DIFFERS


def test_the_ledger_needs_a_tolerance_for_every_value(ctx):
    values = ledger.load_paper_values()
    with pytest.raises(KeyError, match="no registered tolerance"):
        ledger.ledger(values, {}, ctx, {})


def test_the_ledger_is_written_as_tsv_and_html(tmp_path, ctx, registered):
    frame = ledger.ledger(ledger.load_paper_values(), registered["ledger"]["tolerances"], ctx, registered["claims"])
    assert len(frame) == 44 and set(frame["verdict"]) <= set(ledger.VERDICTS)
    ledger.write(frame, tmp_path / "ledger.tsv", tmp_path / "ledger.html", "line one\nline two")
    back = pd.read_csv(tmp_path / "ledger.tsv", sep="\t", comment="#")
    assert back["id"].tolist() == frame["id"].tolist()
    html = (tmp_path / "ledger.html").read_text()
    assert html.count("<tr class=") == 44 and 'id="ledger"' in html and "<p>line two</p>" in html


# ---------------------------------------------------------------- fragility of verdicts
SPEC = {"comparison": "<", "threshold": 0.0, "near_miss_factor": 1.0}


def _claim_unit(other, site, value, **kw):
    return {
        "unit": f"toy:A:{other}:{site}",
        "arm": "toy",
        "cohort": "A",
        "other": other,
        "site": site,
        "value": value,
        **kw,
    }


def test_margin_is_in_spreads_of_the_units_siblings():
    units = [
        _claim_unit("A1", "s1", -0.04),
        _claim_unit("A2", "s1", -0.30),
        _claim_unit("A3", "s1", -0.50),
        _claim_unit("A1", "s2", -5.0),  # another site: not a sibling of the s1 units
        _claim_unit("A2", "s2", -6.0),
    ]
    record = verdicts.judge_units(units, SPEC)
    spread = pd.Series([-0.04, -0.30, -0.50]).std()
    assert units[0]["margin"] == pytest.approx(0.04 / spread) and units[0]["fragile"]
    assert units[3]["margin"] == pytest.approx(5.0 / pd.Series([-5.0, -6.0]).std())
    assert record["verdict"] == "PASS" and record["worst_unit"] == "toy:A:A1:s1"
    assert record["fragile"] and record["n_fragile"] == 1
    assert record["worst_margin"] == pytest.approx(0.04 / spread)


def test_a_verdict_far_from_its_threshold_is_not_fragile():
    units = [_claim_unit("A1", "s1", -1.0), _claim_unit("A2", "s1", -1.1)]
    record = verdicts.judge_units(units, SPEC)
    assert (
        record["verdict"] == "PASS"
        and not record["fragile"]
        and units[0]["margin"] == pytest.approx(1.0 / 0.0707106781, rel=1e-6)
    )


def test_a_failing_verdict_is_fragile_only_when_every_failing_unit_is():
    units = [_claim_unit("A1", "s1", 0.01), _claim_unit("A2", "s1", -0.2), _claim_unit("A3", "s1", -0.3)]
    assert verdicts.judge_units(units, SPEC)["fragile"]
    units = [_claim_unit("A1", "s1", 0.01), _claim_unit("A2", "s1", 5.0), _claim_unit("A3", "s1", -0.3)]
    record = verdicts.judge_units(units, SPEC)
    assert record["verdict"] == "FAIL" and not record["fragile"] and units[0]["fragile"]


def test_without_siblings_only_an_interval_makes_a_unit_fragile():
    lone = [_claim_unit("A1", "s1", -0.01)]
    verdicts.judge_units(lone, SPEC)
    assert lone[0]["margin"] is None and not lone[0]["fragile"]
    lone = [_claim_unit("A1", "s1", -0.01, ci95=[-0.02, 0.01])]
    record = verdicts.judge_units(lone, SPEC)
    assert lone[0]["fragile"] and record["fragile"] and record["uncertain"]


def test_bar_units_group_by_within_and_cross():
    units = [
        {"unit": "within:A0", "kind": "within", "model": "A0", "value": 1e-5},
        {"unit": "within:A1", "kind": "within", "model": "A1", "value": 3e-5},
        {"unit": "cross:A1|A0", "kind": "cross", "model": "A1", "value": 9e-5},
    ]
    verdicts.judge_units(units, {"comparison": "<", "threshold": 1e-4})
    assert units[0]["spread"] == pytest.approx(pd.Series([1e-5, 3e-5]).std())
    assert units[2]["spread"] is None and units[2]["margin"] is None


def test_a_passing_verdict_is_fragile_when_any_unit_is():
    # the worst value (site s1, -0.2) sits 14 spreads from 0 among tight siblings; a better
    # value at site s2 (-0.5) sits 0.7 spreads from 0 among wide ones: the verdict could flip
    units = [
        _claim_unit("A1", "s1", -0.20),
        _claim_unit("A2", "s1", -0.22),
        _claim_unit("A1", "s2", -0.50),
        _claim_unit("A2", "s2", -1.50),
    ]
    record = verdicts.judge_units(units, SPEC)
    assert record["verdict"] == "PASS" and record["worst_unit"] == "toy:A:A1:s1"
    assert units[0]["margin"] == pytest.approx(0.2 / pd.Series([-0.2, -0.22]).std())
    assert not units[0]["fragile"] and units[2]["fragile"]
    assert record["fragile"] and record["worst_margin"] == pytest.approx(0.5 / pd.Series([-0.5, -1.5]).std())


def test_an_averaged_row_carries_the_spread_of_its_mean(tmp_path, ctx):
    rows = [
        {"cohort": "A", "other": o, "site": site, "expansion": 8, "frame": frame, "maxcos_mean": v}
        for o, site, v in [
            ("A1", "resid_mid_0", 0.90),
            ("A2", "resid_mid_0", 0.92),
            ("A1", "resid_post_1", 0.86),
            ("A2", "resid_post_1", 0.90),
        ]
        for frame in ("raw", "chance_span")
    ]
    c = _with_table(ctx, ("toy", "decoder_cosine_shared_init"), _write(tmp_path / "cos.tsv", rows))
    row = ledger.judge_row(_value("toy_A_decoder_cosine_mean"), {"abs": 0.05}, c, {})
    assert row["ours"] == "0.895" and row["verdict"] == ledger.REPRODUCED and row["n_units"] == 1
    # the mean of 4 units, each with its site's sibling spread: sd(mean) = sqrt(sum s_i^2) / 4
    s1, s2 = pd.Series([0.90, 0.92]).std(), pd.Series([0.86, 0.90]).std()
    spread = np.sqrt(2 * s1**2 + 2 * s2**2) / 4
    assert float(row["margin"]) == pytest.approx((0.94 - 0.895) / spread, rel=1e-3)
    assert row["control"].startswith("random directions in the data span (chance_span) 0.86 … 0.92")
