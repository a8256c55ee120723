"""Bootstrap intervals of EV over held-out sequences (polyrot.bootstrap, audit.ev_row)."""

import numpy as np
import pandas as pd
import pytest

from polyrot import audit, bootstrap, claims, metrics


def _sequences(n_seq: int, length: int) -> np.ndarray:
    return np.repeat(np.arange(n_seq) * 7 + 3, length)  # any ids, grouped as caches store them


def test_all_ones_weights_give_the_centred_ev_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)) + np.arange(5)
    x_hat = x + rng.normal(scale=0.3, size=x.shape)
    index, n = bootstrap.sequence_index(_sequences(40, 15))
    terms = bootstrap.ev_terms(x, x_hat, index, n)
    ev = bootstrap.ev_draws(terms, np.ones((1, n)))[0]
    assert ev == pytest.approx(metrics.explained_variance(x, x_hat, "centred"), abs=1e-12)


def test_weights_resample_whole_sequences():
    w = bootstrap.weights(30, 500, np.random.default_rng(1))
    assert w.shape == (500, 30) and (w.sum(axis=1) == 30).all() and (w >= 0).all()
    # each sequence is drawn 1 time per draw on average (multinomial, n trials of 1/n)
    assert w.mean() == pytest.approx(1.0, abs=4 * np.sqrt((1 - 1 / 30) / (500 * 30)))


def test_the_interval_covers_the_population_ev_at_its_level():
    # x ~ N(0, I), x_hat = x + N(0, s^2 I): the population EV is 1 - s^2. Over 200 held-out
    # sets, a 95% interval must cover it 95% of the time: binomial sd 0.015, so >= 0.89 (4 sd)
    rng = np.random.default_rng(2)
    s, d, n_seq, length, reps = 0.5, 4, 60, 10, 200
    index, n = bootstrap.sequence_index(_sequences(n_seq, length))
    covered, widths = 0, []
    for _ in range(reps):
        x = rng.normal(size=(n_seq * length, d))
        x_hat = x + rng.normal(scale=s, size=x.shape)
        lo, hi = bootstrap.interval(
            bootstrap.ev_draws(bootstrap.ev_terms(x, x_hat, index, n), bootstrap.weights(n, 400, rng))
        )
        covered += lo <= 1 - s**2 <= hi
        widths.append(hi - lo)
    assert covered / reps >= 0.89
    # and its width is the sampling sd's: EV_hat = 1 - SSE/SST with SSE/(nd) ~ s^2 chi2_nd/nd
    # (variance 2 s^4 / nd) and SST/(nd) ~ chi2/nd (variance 2 / nd) independent of it, so to
    # first order sd(EV_hat) = s^2 sqrt(4 / nd)
    expected = 2 * 1.96 * s**2 * np.sqrt(4 / (n_seq * length * d))
    assert np.mean(widths) == pytest.approx(expected, rel=0.1)


def test_a_paired_difference_of_one_quantity_with_itself_is_exactly_zero():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    index, n = bootstrap.sequence_index(_sequences(20, 10))
    t = bootstrap.ev_terms(x, x * 0.9, index, n)
    out = bootstrap.interval_columns({"a": t, "b": t}, {"diff": ("a", "b")}, bootstrap.weights(n, 100, rng))
    assert out == {"diff_ci95_lo": 0.0, "diff_ci95_hi": 0.0}


def test_ev_row_adds_intervals_without_changing_anything_else():
    from polyrot import sae

    rng = np.random.default_rng(4)
    d = 6
    A = rng.normal(size=(1800, d)) * np.linspace(1, 2, d)
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    fit_a, held_a = A[:1200], A[1200:]
    fit_b, held_b = fit_a @ Q.T + 0.05 * rng.normal(size=fit_a.shape), held_a @ Q.T
    cfg = sae.SAEConfig(expansion=1, l1=1e-2, lr=3e-3, batch_size=256, steps=100, seed=0)
    sae_a = sae.train_sae(fit_a.astype(np.float32), cfg, progress=False)
    rots = audit.fit_site_rotations(fit_a, fit_b, fit_b + 1.0, np.random.default_rng(5))
    plain = audit.ev_row(sae_a, rots, fit_a, fit_b, held_a, held_b, 500, np.random.default_rng(6))
    seq = _sequences(30, 20)
    booted = audit.ev_row(
        sae_a,
        rots,
        fit_a,
        fit_b,
        held_a,
        held_b,
        500,
        np.random.default_rng(6),
        sequence=seq,
        n_boot=300,
        boot_rng=np.random.default_rng(7),
    )
    assert {k: v for k, v in booted.items() if "_ci95_" not in k} == plain
    for column in audit.BOOTSTRAP_COLUMNS:
        lo, hi = booted[f"{column}_ci95_lo"], booted[f"{column}_ci95_hi"]
        assert lo <= booted[column] <= hi and hi - lo < 0.5, column
    with pytest.raises(ValueError, match="sequence ids"):
        audit.ev_row(sae_a, rots, fit_a, fit_b, held_a, held_b, 500, rng, sequence=seq[:10], n_boot=5, boot_rng=rng)


def test_a_claim_unit_carries_the_tables_interval(tmp_path):
    path = tmp_path / "ev.tsv"
    pd.DataFrame(
        [
            {
                "cohort": "A",
                "other": "A1",
                "site": "s1",
                "naive_ev_centred": -0.1,
                "naive_ev_centred_ci95_lo": -0.3,
                "naive_ev_centred_ci95_hi": 0.05,
            },
            {
                "cohort": "A",
                "other": "A2",
                "site": "s1",
                "naive_ev_centred": -0.5,
                "naive_ev_centred_ci95_lo": -0.6,
                "naive_ev_centred_ci95_hi": -0.4,
            },
        ]
    ).to_csv(path, sep="\t", index=False)
    spec = {"table": "ev", "column": "naive_ev_centred", "comparison": "<", "threshold": 0.0}
    units = claims.claim_units(spec, {("toy", "ev"): path}, {"toy": ["s1"]})
    assert [u["ci95"] for u in units] == [[-0.3, 0.05], [-0.6, -0.4]]
    from polyrot import verdicts

    record = verdicts.judge_units(units, spec)
    # the first unit passes, but its interval straddles 0: uncertain and fragile
    assert record["verdict"] == "PASS" and units[0]["uncertain"] and units[0]["fragile"] and record["fragile"]
