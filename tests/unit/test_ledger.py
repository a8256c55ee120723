"""The claims ledger (polyrot.ledger) and the fragility of verdicts (polyrot.verdicts)."""

import dataclasses
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from polyrot import claims, haar, ledger, prereg, selection, verdicts
from polyrot.steering import tables as steering_tables

# the ledger's rows (paper_values.yaml): a new row changes this one number
ROWS = 69

NUMBER = re.compile(r"(?<![\d.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def registered(repo):
    return prereg.load(repo / "preregistration.md", repo / "preregistration.lock").effective


# ---------------------------------------------------------------- the paper's values
def _stated_numbers(text: str) -> list[float]:
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text).replace("--", " to ")  # 28,672; 0.976--0.990
    text = re.sub(r"\s*x\s*10\^(-?\d+)", r"e\1", text)  # 1.67 x 10^-4
    numbers = [float(x) for x in NUMBER.findall(text)]
    numbers += [float(x) / 100 for x in re.findall(r"(\d+(?:\.\d+)?)%", text)]  # "98%" is 0.98
    return numbers


def test_every_paper_value_parses_and_says_what_its_statement_says():
    values = ledger.load_paper_values()
    assert len(values) == ROWS and len({v.id for v in values}) == ROWS
    words = {0.0: ("negative", "zero"), 0.75: ("3 of 4", "three of four")}
    for v in values:
        stated = _stated_numbers(v.stated)
        for number in v.numbers():
            if number in words and any(w in v.stated for w in words[number]):
                continue  # a sign or a count said in words
            assert any(math.isclose(number, s, rel_tol=1e-9, abs_tol=1e-12) for s in stated), (v.id, number, v.stated)
        assert re.search(r"main\.tex L\d+", v.where), (v.id, v.where)


def test_every_paper_value_has_a_registered_band_and_a_source(registered):
    ids = [v.id for v in ledger.load_paper_values()]
    bands = registered["ledger"]["bands"]
    assert sorted(bands) == sorted(ids) and sorted(ledger.SOURCES) == sorted(ids)
    assert registered["ledger"]["z"] == 2.0
    for ident, spec in bands.items():
        assert spec.get("spread", "siblings") in ledger.SPREADS and spec.get("scale", "linear") in ledger.SCALES, ident


@pytest.mark.parametrize(
    "entry, error",
    [
        ({"kind": "range", "value": [2.0, 1.0]}, "lo <= hi"),
        ({"kind": "between", "value": 1.0}, "kind"),
        ({"kind": "point", "value": [1.0]}, "one number"),
        ({"kind": "per_unit", "value": {}}, "mapping"),
        ({"kind": "point", "value": 1.0, "resolution": {"digits": 2}}, "resolution"),
    ],
)
def test_a_malformed_paper_value_is_refused(tmp_path, entry, error):
    base = {"id": "x", "quantity": "q", "stated": "s 1", "unit": "u", "where": "w"}
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps({"values": [{**base, **entry}]}))
    with pytest.raises(ValueError, match=error):
        ledger.load_paper_values(path)


# ---------------------------------------------------------------- bands
def _pv(kind, value, resolution=0.0, **kw):
    return ledger.PaperValue("x", "q", "s", kind, value, "u", "w", resolution, **kw)


@pytest.mark.parametrize(
    "pv, spec, spread, haar_, expected",
    [
        # the rounding of 0.89 (0.005) and 2 x 0.01 of spread
        (_pv("point", 0.89, 0.01), {}, 0.01, None, (0.865, 0.915)),
        # a range widened on both ends; no spread: rounding only
        (_pv("range", [0.94, 0.98], 0.01), {}, None, None, (0.935, 0.985)),
        # "negative": a sign, never widened
        (_pv("at_most", 0.0, 0), {"spread": "none"}, 0.0, None, (-math.inf, 0.0)),
        # at least 0.98: the lower bound only
        (_pv("at_least", 0.98, 0.01), {}, 0.02, None, (0.935, math.inf)),
        # a log-scale band: 1.74e-4 (3 significant digits: 5e-7) times exp(+- 2 x 0.5)
        (
            _pv("point", 1.74e-4, {"significant": 3}),
            {"scale": "log"},
            0.5,
            None,
            (1.735e-4 / math.e, 1.745e-4 * math.e),
        ),
        # "roughly 4x": nearer 4 than 2 or 8 on a log scale
        (_pv("point", 4.0, {"factor": 2.0}), {"scale": "log"}, None, None, (2 * math.sqrt(2), 4 * math.sqrt(2))),
        # Fisher's z over 10 components: tanh(atanh(0.6) +- 2 / sqrt(7))
        (
            _pv("point", 0.6, 0),
            {"scale": "fisher", "spread": "fisher"},
            1 / math.sqrt(7),
            None,
            (math.tanh(math.atanh(0.6) - 2 / math.sqrt(7)), math.tanh(math.atanh(0.6) + 2 / math.sqrt(7))),
        ),
        # a Haar claim also admits Haar's own range (32.00 +- 2 x 0.005): here apart from the paper's
        (
            _pv("point", 31.9, 0.1),
            {"spread": "haar", "haar_claim": True},
            0.005,
            (32.0, 0.005),
            [(31.84, 31.96), (31.99, 32.01)],
        ),
        # and where they meet, one interval
        (_pv("point", 31.99, 0.01), {"spread": "haar", "haar_claim": True}, 0.005, (32.0, 0.005), (31.975, 32.01)),
        (_pv("point", 1.0, 0.001), {"band": [0.05, 1.0]}, 0.3, None, (0.05, 1.0)),
    ],
)
def test_a_band_widens_the_statement_by_rounding_and_spread(pv, spec, spread, haar_, expected):
    band = ledger.band_of(pv, spec, spread, haar_, 2.0)
    expected = [expected] if isinstance(expected[0], float) else expected
    assert len(band) == len(expected)
    for (lo, hi), (e_lo, e_hi) in zip(band, expected, strict=True):
        assert lo == pytest.approx(e_lo, rel=1e-9, abs=1e-12) and hi == pytest.approx(e_hi, rel=1e-9)


def test_rounding_follows_the_stated_digits():
    assert ledger.rounding(_pv("point", 0.976, 0.001), 0.976) == pytest.approx((0.0005, 0.0005))
    assert ledger.rounding(_pv("point", 1.67e-4, {"significant": 3}), 1.67e-4) == pytest.approx((5e-7, 5e-7))
    assert ledger.rounding(_pv("point", 1.0, {"factor": 4.0}), 1.0) == pytest.approx((0.5, 1.0))


# ---------------------------------------------------------------- rows on planted tables
def _write(path, rows):
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return str(path)


def _bar(path, units, decoy_units=(), of="A0"):
    """A bar's verdict file as write_verdict writes it (judged against a "< 1e-4" bar)."""
    spec = {"comparison": "<", "threshold": 1e-4}
    decoy = None
    if decoy_units:
        decoy_units = [dict(u) for u in decoy_units]
        decoy = verdicts.DecoyVerdict(**verdicts.judge_units(decoy_units, spec), of=of, units=decoy_units)
    units = [dict(u) for u in units]
    record = verdicts.Verdict(**verdicts.judge_units(units, spec), units=units, decoy=decoy, **spec)
    path.write_text(json.dumps(record.to_dict()))
    return str(path)


SITES = ["resid_pre_0", "resid_mid_0", "resid_post_1"]


def _ev_rows(values):
    return [
        {
            "cohort": "A",
            "anchor": "A0",
            "other": other,
            "site": site,
            "expansion": expansion,
            "naive_ev_scalar": value - 1.5,
            "rotated_insample_ev_scalar": value,
            "self_insample_ev_scalar": value + 0.01,
            "null_permuted_ev_scalar": 0.1,
            "gaussian_ev_scalar": 0.95,
        }
        for other, site, expansion, value in values
    ]


@pytest.fixture
def ctx(tmp_path):
    """A run whose toy cohort A EVs (the study-recipe SAEs' table) and Bar B units are
    planted, with no GPT-NeoX arm."""
    ev = _ev_rows(
        [
            ("A1", "resid_pre_0", 8, 0.2),  # the embedding site: not internal, never read
            ("A1", "resid_mid_0", 8, 0.980),
            ("A2", "resid_mid_0", 8, 0.984),
            ("A1", "resid_post_1", 8, 0.988),
            ("A2", "resid_post_1", 8, 0.986),
            ("A1", "resid_mid_0", 32, -6.0 + 1.5),  # naive -6.0
            ("A2", "resid_mid_0", 32, -7.0 + 1.5),  # naive -7.0
        ]
    )
    ours = [{**r, "rotated_ev_centred": r["rotated_insample_ev_scalar"] - 0.01} for r in ev]
    bars = {
        "B": _bar(
            tmp_path / "B.json",
            [
                {"unit": "within:A0", "kind": "within", "model": "A0", "value": 2e-4, "ci95": [1e-4, 3e-4]},
                {"unit": "within:A1", "kind": "within", "model": "A1", "value": 3e-4, "ci95": [2e-4, 4e-4]},
                {"unit": "cross:A1|A0", "kind": "cross", "model": "A1", "value": 6e-5, "ci95": [5e-5, 7e-5]},
                {"unit": "cross:A2|A0", "kind": "cross", "model": "A2", "value": 1e-2, "ci95": [9e-3, 1.1e-2]},
            ],
            [{"unit": "within:A0-decoy", "kind": "within", "model": "A0-decoy", "value": 0.2, "ci95": [0.19, 0.21]}],
        )
    }
    return ledger.RunContext(
        tables={
            ("toy", "ev_study_recipe"): _write(tmp_path / "ev_study.tsv", ev),
            ("toy", "ev"): _write(tmp_path / "ev.tsv", ours),
        },
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


def _row(ident, ctx, spec=None):
    return ledger.judge_row(_value(ident), spec or {}, ctx)


def test_per_site_means_over_the_other_seeds_in_the_papers_convention(ctx):
    row = _row("toy_A_rotated_ev", ctx)
    # internal sites only, one unit per site: the mean over A1 and A2
    assert row["n_units"] == 2 and row["ours"] == "resid_mid_0: mean of 2 0.982, resid_post_1: mean of 2 0.987"
    assert row["ours_preferred"] == "0.972 … 0.977" and "permuted-rows null EV 0.1" in row["control"]
    # each site's band: [0.9755, 0.9905] widened by 2 sd / sqrt(2) of its two seeds
    sd_mid = pd.Series([0.980, 0.984]).std()
    assert row["band"].startswith(f"resid_mid_0: mean of 2 [{0.9755 - 2 * sd_mid / math.sqrt(2):.4g}, ")
    assert row["verdict"] == ledger.REPRODUCED
    assert row["comparison"] == "above naive in 2 of 2 units: holds"
    assert "Aggregation: one unit per site: the mean over its rows" in row["convention"]
    assert "sites internal: resid_mid_0, resid_post_1" in row["convention"] and "main.tex L303" in row["where"]


def test_a_rows_aggregation_is_its_statements_mean_not_its_minimum(ctx):
    # "cross-seed mean EV goes as low as -6.56": the mean over the other seeds (-6.5), not the lowest (-7.0)
    row = _row("toy_A_naive_ev_resid_mid_0_x32", ctx)
    assert row["ours"] == "mean of 2 -6.5" and row["verdict"] == ledger.REPRODUCED
    sd = pd.Series([-6.0, -7.0]).std()
    assert row["band"] == f"[{-6.565 - 2 * sd / math.sqrt(2):.4g}, {-6.555 + 2 * sd / math.sqrt(2):.4g}]"
    as_min = ledger.table_units(
        dataclasses.replace(ledger.SOURCES["toy_A_naive_ev_resid_mid_0_x32"], agg="min"),
        ctx,
        {},
        _value("toy_A_naive_ev_resid_mid_0_x32"),
    )
    assert as_min.values == [-7.0]


def test_a_derived_statistic_and_a_sign_that_is_not_widened(ctx):
    row = _row("toy_A_within_0025", ctx)  # self_insample - rotated_insample = 0.01 at every site
    assert row["ours"] == "resid_mid_0: mean of 2 0.01, resid_post_1: mean of 2 0.01"
    assert row["verdict"] == ledger.REPRODUCED
    row = _row("toy_A_naive_ev_negative", ctx, {"spread": "none"})
    assert row["band"] == "<= 0" and row["verdict"] == ledger.REPRODUCED


def test_a_number_this_run_does_not_compute_says_so(ctx):
    row = _row("toy_A_decoder_cosine_mean", ctx)
    assert row["verdict"] == ledger.NOT_AT_SCALE and row["ours"] == ""
    row = _row("pythia_rotated_ev", ctx)
    assert row["verdict"] == ledger.NOT_AT_SCALE and "GPT-NeoX arm is not configured" in row["reason"]


def test_a_missing_column_is_an_error_not_an_empty_row(ctx):
    with pytest.raises(KeyError, match="selects on column 'vector'"):
        selection.select(pd.DataFrame({"a": [1]}), {"vector": "depth"}, "a ledger row")
    with pytest.raises(KeyError, match="has no 'site' column"):
        selection.select_sites(pd.DataFrame({"a": [1]}), ["resid_mid_0"], "a ledger row")


def test_pythia_numbers_are_not_judged_on_a_stand_in(ctx, tmp_path):
    ev = [
        {
            "cohort": "neox",
            "other": o,
            "site": s,
            "expansion": 8,
            "rotated_insample_ev_scalar": 0.9,
            "naive_ev_scalar": -1.0,
            "null_permuted_ev_scalar": 0.0,
        }
        for s in SITES
        for o in ("s2", "s3")
    ]
    path = _write(tmp_path / "neox_ev.tsv", ev)
    for pythia, verdict in ((False, ledger.NOT_OFFLINE), (True, ledger.REPRODUCED)):
        c = _with_table(
            ctx, ("neox", "ev_study_recipe"), path, sites={**ctx.sites, "neox": SITES}, neox_is_pythia=pythia
        )
        row = _row("pythia_rotated_ev", c)
        assert row["verdict"] == verdict and row["n_units"] == 3  # the paper's sites, embedding included
    c = _with_table(ctx, ("neox", "ev_study_recipe"), path, sites={**ctx.sites, "neox": SITES}, neox_is_pythia=False)
    assert "its verdict would be: reproduced" in _row("pythia_rotated_ev", c)["reason"]


def test_bar_rows_per_unit_with_their_interval(ctx):
    row = _row("bar_B_seed0", ctx, {"scale": "log", "spread": "interval"})
    # 2e-4 against 1.74e-4: the band is its rounding times exp(+- 2 x the log-interval's sd)
    s = (math.log(3e-4) - math.log(1e-4)) / (2 * 1.959963984540054)
    assert row["band"] == f"[{1.735e-4 * math.exp(-2 * s):.4g}, {1.745e-4 * math.exp(2 * s):.4g}]"
    assert row["verdict"] == ledger.REPRODUCED and row["ours_interval"] == "[0.0001, 0.0003]"
    assert row["control"] == "the decoy 0.2"
    row = _row("bar_B_cross_A", ctx, {"scale": "log", "spread": "interval"})
    assert row["verdict"] == ledger.DIFFERS and row["ours"] == "A1 6e-05, A2 0.01"
    assert "furthest A2 = 0.01" in row["reason"] and row["reason"].endswith("not computed at this scale: A3, A4")
    row = _row("bar_B_cross_A_pass_fraction", ctx, {"spread": "binomial"})
    # 1 of 2 below 1e-4 against the paper's 3 of 4: 0.5 within 0.75 +- 2 sqrt(0.75 x 0.25 / 2)
    assert row["ours"] == "1 of 2 below 0.0001 0.5" and row["verdict"] == ledger.REPRODUCED
    assert _row("decoy_bar_B", ctx, {"scale": "log", "spread": "interval"})["ours"] == "A0-decoy 0.2"


def test_a_row_that_holds_by_construction_is_labelled_and_not_counted(ctx, tmp_path):
    units = [{"unit": "within:A0", "kind": "within", "model": "A0", "value": 1.0, "study_convention": {"r_ig": 0.9995}}]
    c = dataclasses.replace(ctx, bars={**ctx.bars, "C": _bar(tmp_path / "C.json", units)})
    row = _row("bar_C_seed0", c, {"scale": "fisher", "spread": "fisher", "by_construction": "IG completeness"})
    assert row["verdict"] == ledger.BY_CONSTRUCTION and row["ours"] == "A0 0.9995"
    assert row["reason"].startswith("holds by construction (IG completeness); against the band it is reproduced")


def test_an_undefined_ratio_is_reported_as_undefined(ctx, tmp_path):
    effects = pd.DataFrame(
        [
            {
                "cohort": "A",
                "anchor": "A0",
                "setup": "study",
                "vector": "closers",
                "model": m,
                "condition": c,
                "alpha": a,
                "accuracy_drop": drop,
                "accuracy_drop_study_target": drop,
                "kl": 0.1,
            }
            for a, within, cross in [(0.5, 0.0, 0.183), (1.0, 0.0, 0.4)]
            for m, c, drop in [("A0", "within", within), ("A1", "unrotated", cross), ("A2", "unrotated", cross + 0.01)]
        ]
    )
    ratios = steering_tables.study_ratios(effects)
    at_one = ratios[(ratios["alpha"] == 1.0) & (ratios["target"] == "study")].iloc[0]
    assert at_one["undefined"] and math.isnan(at_one["ratio_unrotated"])
    c = _with_table(ctx, ("toy", "steering_study_ratios"), _write(tmp_path / "r.tsv", ratios.to_dict("records")))
    row = _row("steering_toy_closers_ratio", c, {"scale": "log", "spread": "column"})
    assert row["ours"] == f"A:closers:1.0 {ledger.UNDEFINED}" and row["verdict"] == ledger.DIFFERS
    assert ledger.UNDEFINED in row["reason"]
    row = _row("steering_toy_closers_cross_half", c, {"spread": "column"})
    assert row["ours"] == "A:closers:0.5 0.188" and row["verdict"] == ledger.REPRODUCED
    assert _row("steering_toy_closers_within_half", c, {"spread": "none"})["verdict"] == ledger.REPRODUCED


def _haar_rows(d, n, seed):
    rng = np.random.default_rng(seed)
    f_mean, f_sd = haar.frobenius_null(d, 1, rng, 40)
    p_mean, p_sd = haar.perm_null(d, 1, rng, 40)
    rows = []
    for i in range(n):
        R = haar.sample_haar(d, rng, det=1)
        rows.append(
            {
                "cohort": "neox",
                "anchor": "s1",
                "other": f"s{i + 2}",
                "site": "resid_post_0",
                "d": d,
                "trace": float(np.trace(R)),
                "frobenius": haar.frobenius(R),
                "frobenius_haar_mean": f_mean,
                "frobenius_haar_sd": f_sd,
                "perm_distance": haar.perm_distance(R),
                "perm_haar_mean": p_mean,
                "perm_haar_sd": p_sd,
            }
        )
    return rows


def test_a_true_haar_rotation_lands_inside_the_frobenius_and_permutation_bands(ctx, tmp_path, registered):
    """Eight Haar R at the paper's d: their mean |R - I|_F, |R - P_best|_F and mean cos lie
    in the registered bands of the paper's Pythia numbers (the bands admit Haar's own range)."""
    rows = _haar_rows(512, 8, 0)
    c = _with_table(
        ctx,
        ("neox", "haar_rotations"),
        _write(tmp_path / "h.tsv", rows),
        sites={**ctx.sites, "neox": ["resid_pre_0", "resid_post_0"]},
        neox_is_pythia=True,
    )
    bands = registered["ledger"]["bands"]
    for ident in ("pythia_frobenius_mean", "pythia_perm_distance", "pythia_mean_cos"):
        row = ledger.judge_row(_value(ident), bands[ident], c)
        assert row["verdict"] == ledger.REPRODUCED, (ident, row["ours"], row["band"])
    # a rotation far from Haar (near the identity) does not
    near = [{**r, "frobenius": 5.0, "perm_distance": 5.0, "trace": 500.0} for r in rows]
    c = _with_table(c, ("neox", "haar_rotations"), _write(tmp_path / "n.tsv", near))
    for ident in ("pythia_frobenius_mean", "pythia_perm_distance", "pythia_mean_cos"):
        assert ledger.judge_row(_value(ident), bands[ident], c)["verdict"] == ledger.DIFFERS


def test_the_ledger_needs_a_band_for_every_value(ctx):
    with pytest.raises(KeyError, match="no registered band"):
        ledger.ledger(ledger.load_paper_values(), {}, ctx)


def test_the_ledger_is_written_as_tsv_and_html(tmp_path, ctx, registered):
    frame = ledger.ledger(ledger.load_paper_values(), registered["ledger"]["bands"], ctx)
    assert len(frame) == ROWS and set(frame["verdict"]) <= set(ledger.VERDICTS)
    ledger.write(frame, tmp_path / "ledger.tsv", tmp_path / "ledger.html", "line one\nline two")
    back = pd.read_csv(tmp_path / "ledger.tsv", sep="\t", comment="#")
    assert back["id"].tolist() == frame["id"].tolist()
    html = (tmp_path / "ledger.html").read_text()
    assert html.count("<tr class=") == ROWS and 'id="ledger"' in html and "<p>line two</p>" in html


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


def test_claims_and_the_ledger_select_the_same_rows(tmp_path):
    """One selector: a claim and a ledger row with the same table, sites and equalities
    select the same rows, numbers compared as numbers and booleans as booleans."""
    frame = pd.DataFrame(
        {
            "cohort": ["A", "A", "B", "A"],
            "site": ["resid_pre_0", "resid_mid_0", "resid_mid_0", "resid_post_0"],
            "alpha": [2.0, 2.0, 2.0, 1.0],
            "shared_io": [True, True, False, True],
            "value": [1.0, 2.0, 3.0, 4.0],
        }
    )
    path = tmp_path / "t.tsv"
    frame.to_csv(path, sep="\t", index=False)
    sites = ["resid_pre_0", "resid_mid_0", "resid_post_0"]
    where = {"alpha": 2, "shared_io": True}
    spec = {"table": "t", "column": "value", "sites": "internal", "where": where, "comparison": ">", "threshold": 0}
    by_claim = [u["value"] for u in claims.claim_units(spec, {("toy", "t"): path}, {"toy": sites})]
    src = ledger.Source(arm="toy", table="t", column="value", convention="", sites="internal", where=where)
    context = ledger.RunContext(
        tables={("toy", "t"): str(path)}, bars={}, sites={"toy": sites}, cohorts={}, neox_is_pythia=False
    )
    assert by_claim == ledger._selected(src, context)["value"].tolist() == [2.0]
    with pytest.raises(KeyError, match="lacks"):
        claims.claim_units({**spec, "where": {"vector": "depth"}}, {("toy", "t"): path}, {"toy": sites})


def test_one_fragility_rule_for_verdicts_and_ledger_rows():
    """A passing whole is fragile when any unit is; a failing one only when every failing
    unit is; the margin is the smallest of the deciding units'."""
    assert verdicts.fragility([True, True], [3.0, 0.5], [False, False]) == ([False, True], True, 0.5)
    assert verdicts.fragility([True, False], [0.5, -2.0], [False, False]) == ([True, False], False, -2.0)
    assert verdicts.fragility([False, False], [-0.5, None], [False, True]) == ([True, True], True, -0.5)
    assert verdicts.fragility([True], [None], [False]) == ([False], False, None)
