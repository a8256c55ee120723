"""Steering: the edit adds exactly alpha * v at its site and nowhere else, is removed on exit,
and a vector mapped through R into a model whose residual basis is rotated by R has the
same effect there (ratio 1) while the unmapped vector does not."""

import numpy as np
import pandas as pd
import pytest
import torch
from toy_models import as_model, random_element, with_random_gains

from polyrot import align, hooks, steering
from polyrot.bars import parametric
from polyrot.toy import dyck, transformer

SITE = "resid_mid_1"


@pytest.fixture(scope="module")
def setup():
    model = with_random_gains(7).eval()
    batch = dyck.analysis_batch(128, 3)
    with torch.no_grad(), hooks.recorded(model, transformer.SITES) as cache:
        model(torch.from_numpy(batch.tokens))
    return model, batch, {k: v.numpy() for k, v in cache.items()}


def test_the_edit_adds_alpha_v_at_its_site_only(setup):
    model, batch, clean = setup
    v = steering.toy_vector("depth", clean[SITE], batch, SITE)
    assert v.norm > 0 and v.sign == 1.0
    with v.apply(model, 2.0), torch.no_grad():
        with pytest.raises(RuntimeError, match="already patched"), v.apply(model, 1.0):
            pass
        with hooks.recorded(model, transformer.SITES) as steered:
            model(torch.from_numpy(batch.tokens))
    assert not hooks.is_hooked(model)  # removed on exit
    for site in ("resid_pre_0", "resid_mid_0", "mlp_pre_0", "mlp_post_0", "resid_post_0", "resid_pre_1"):
        np.testing.assert_array_equal(steered[site].numpy(), clean[site], err_msg=site)
    expected = torch.from_numpy(clean[SITE]) + torch.as_tensor(2.0 * v.vector, dtype=torch.float32)
    assert torch.equal(steered[SITE], expected)
    assert not np.allclose(steered["resid_post_1"].numpy(), clean["resid_post_1"])
    with torch.no_grad():
        after = model(torch.from_numpy(batch.tokens))
        with hooks.recorded(model, ["resid_post_1"]) as again:
            model(torch.from_numpy(batch.tokens))
    np.testing.assert_array_equal(again["resid_post_1"].numpy(), clean["resid_post_1"])
    assert all(torch.isfinite(t).all() for t in after.values())


def test_vectors_and_the_random_control(setup):
    _, batch, clean = setup
    for name, spec in steering.TOY_VECTORS.items():
        v = steering.toy_vector(name, clean[SITE], batch, SITE)
        acts = clean[SITE].astype(np.float64)
        np.testing.assert_allclose(
            v.vector, acts[spec.plus(batch)].mean(0) - acts[spec.minus(batch)].mean(0), rtol=1e-12
        )
        r = v.random_like(np.random.default_rng(0))
        assert r.norm == pytest.approx(v.norm) and abs(np.dot(r.vector, v.vector)) < v.norm**2
    assert steering.TOY_VECTORS["sticky_invalid"].sign == -1.0
    with pytest.raises(ValueError, match="both sides"):
        steering.diff_of_means(clean[SITE], np.zeros(batch.tokens.shape, bool), batch.mask)


def test_a_vector_mapped_through_r_transfers_with_ratio_one(setup):
    model, batch, clean = setup
    cfg = model.cfg
    folded = parametric.fold_gains({k: v.numpy() for k, v in model.state_dict().items()})
    g = random_element(cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.n_layers, np.random.default_rng(5))
    other = as_model(parametric.apply(folded, g, cfg.n_heads)).eval()
    with torch.no_grad(), hooks.recorded(other, [SITE]) as cache:
        other(torch.from_numpy(batch.tokens))
    # the other model's stream is this one's rotated: fit R on the activations, as the audit does
    mask = batch.mask
    rot = align.fit_rotation(clean[SITE][mask].astype(np.float64), cache[SITE].numpy()[mask].astype(np.float64))
    np.testing.assert_allclose(rot.R, g.R.T, atol=1e-4)
    v = steering.toy_vector("depth", clean[SITE], batch, SITE)
    within = steering.ToyEffects(model, batch, SITE)(v, 8.0)
    on_other = steering.ToyEffects(other, batch, SITE)
    rotated, unrotated = on_other(v.in_frame_of(rot.R), 8.0), on_other(v, 8.0)
    assert within["kl"] > 1e-4
    assert steering.ratio(rotated["kl"], within["kl"]) == pytest.approx(1.0, abs=1e-4)
    assert rotated["accuracy_drop"] == pytest.approx(within["accuracy_drop"], abs=1.5 / within["n_target"])
    assert abs(steering.ratio(unrotated["kl"], within["kl"]) - 1.0) > 1e-2


def test_effects_resumed_at_the_site_match_a_full_pass(setup):
    """ToyEffects resumes at the site from the clean activations and takes KL in float32
    with float64 sums: against the whole steered pass in float64 the KL differs by at most
    the float32 rounding of a log-probability difference (3 ulps of the largest |log p|),
    and the accuracy drop is the same count."""
    from polyrot.bars.behavioural import mean_kl

    model, batch, clean = setup
    v = steering.toy_vector("closers", clean[SITE], batch, SITE)
    effects = steering.ToyEffects(model, batch, SITE)
    tokens, mask = torch.from_numpy(batch.tokens), torch.from_numpy(batch.mask)
    spec = steering.TOY_VECTORS["closers"]
    target = torch.from_numpy(spec.target(batch))
    labels = torch.from_numpy(batch.tokens)[target]
    with torch.no_grad():
        reference = model(tokens)
        for alpha in (0.5, 4.0):
            got = effects(v, alpha)
            with v.apply(model, alpha):
                steered = model(tokens)
            largest = max(
                float(torch.log_softmax(t[h][mask], -1).abs().max()) for t in (reference, steered) for h in dyck.HEADS
            )
            assert got["kl"] == pytest.approx(float(mean_kl(reference, steered, mask)), abs=3 * 2**-24 * largest)
            acc = lambda lg: float((lg["tok"][target].argmax(-1) == labels).double().mean())  # noqa: E731
            assert got["accuracy_drop"] == pytest.approx(acc(reference) - acc(steered), abs=1e-12)
            assert got["n_target"] == int(target.sum())
    with pytest.raises(ValueError, match="is for resid_mid_0"):
        effects(steering.SteeringVector("depth", "resid_mid_0", v.vector), 1.0)


def test_pinned_subspace_is_the_span_of_the_task_io_weights():
    from polyrot.steering import toy
    from polyrot.toy import transformer

    weights = {k: v.numpy() for k, v in transformer.build(0).state_dict().items()}
    basis = toy.pinned_basis(weights)
    # 8 W_E rows, 8 tok columns, 9 depth and 2 valid columns: 27 directions in general position
    assert basis.shape == (64, 27)
    np.testing.assert_allclose(basis.T @ basis, np.eye(27), atol=1e-12)
    inside = weights["W_U_depth"][:, 3].astype(np.float64) + 2 * weights["W_E"][dyck.BOS]
    assert toy.pinned_fraction(inside, basis) == pytest.approx(1.0, abs=1e-12)
    outside = np.random.default_rng(0).standard_normal(64)
    outside -= basis @ (basis.T @ outside)
    assert toy.pinned_fraction(outside, basis) == pytest.approx(0.0, abs=1e-12)
    assert toy.pinned_fraction(outside, None) == 0.0


def test_dose_to_reach_interpolates_in_log_dose():
    from polyrot.steering import tables

    alphas, effect = [4.0, 0.5, 1.0, 2.0], [3.0, 0.0, 1.0, 2.0]  # effect = log2(alpha) + 1, unsorted
    assert tables.dose_to_reach(alphas, effect, 1.5) == (pytest.approx(2**0.5, rel=1e-12), "")
    assert tables.dose_to_reach(alphas, effect, 2.0) == (pytest.approx(2.0), "")
    assert tables.dose_to_reach(alphas, effect, -1.0) == (0.5, "below")
    assert tables.dose_to_reach(alphas, effect, 3.5) == (float("inf"), "never")


def _synthetic_effects() -> pd.DataFrame:
    """Anchor A0, other A1: KL within a^2, unrotated 2a^2, rotated a^2, random a^2/2 on
    both; accuracy drop within min(a/2, 1), unrotated min(a/8, 1), rotated = within."""
    rows = []
    for a in (0.5, 1.0, 2.0, 4.0):
        acc = min(a / 2, 1.0)
        for model, cond, kl, drop in (
            ("A0", "within", a * a, acc),
            ("A1", "unrotated", 2 * a * a, min(a / 8, 1.0)),
            ("A1", "rotated", a * a, acc),
            ("A0", "random", a * a / 2, 0.0),
            ("A1", "random", a * a / 2, 0.0),
        ):
            rows.append(
                {
                    "cohort": "A",
                    "anchor": "A0",
                    "model": model,
                    "vector": "depth",
                    "condition": cond,
                    "alpha": a,
                    "kl": kl,
                    "kl_sd": 0.1,
                    "accuracy_drop": drop,
                    "accuracy_drop_sd": 0.0,
                }
            )
    return pd.DataFrame(rows)


def test_transfer_dose_and_control_tables():
    from polyrot.steering import tables

    effects = _synthetic_effects()
    t = tables.transfer_table(effects, {"A": True}, {("A", "depth"): 0.9})
    assert len(t) == 4 and (t["other"] == "A1").all() and t["shared_io"].all()
    np.testing.assert_allclose(t["ratio_unrotated_kl"], 2.0)
    np.testing.assert_allclose(t["dev_unrotated_kl"], 1.0)
    np.testing.assert_allclose(t["dev_rotated_kl"], 0.0)
    np.testing.assert_allclose(t["ratio_unrotated_acc"], [0.25, 0.25, 0.25, 0.5])  # within saturates at 1
    d = tables.dose_table(effects).iloc[0]
    # level 0.5 = half the largest within drop (1.0): within reaches it at a = 1, unrotated at a = 4
    assert d["level"] == 0.5 and d["dose_within"] == pytest.approx(1.0) and d["dose_unrotated"] == pytest.approx(4.0)
    assert d["dose_factor_unrotated"] == pytest.approx(4.0) and d["dose_factor_rotated"] == pytest.approx(1.0)
    c = tables.control_table(effects)
    assert sorted(c["condition"].unique()) == ["rotated", "unrotated", "within"] and len(c) == 12
    np.testing.assert_allclose(c.loc[c["condition"] == "within", "over_random_kl"], 2.0)
    np.testing.assert_allclose(c.loc[c["condition"] == "unrotated", "over_random_kl"], 4.0)
    assert tables.ratio(1.0, 0.0) != tables.ratio(1.0, 0.0)  # NaN: no within-seed effect


def test_every_registered_steering_claim_reads_a_column_the_tables_write(repo):
    """The claims were registered before the tables existed: each names a table, column and
    selection that the table builders produce."""
    from polyrot import prereg
    from polyrot.steering import tables

    reg = prereg.load(repo / "preregistration.md", repo / "preregistration.lock")
    effects = _synthetic_effects()
    built = {
        "steering_transfer": tables.transfer_table(effects, {"A": True}, {("A", "depth"): 0.9}),
        "steering_dose": tables.dose_table(effects),
        "steering_control": tables.control_table(effects),
    }
    claims = {k: v for k, v in reg.effective["claims"].items() if v["table"].startswith("steering_")}
    assert len(claims) == 7
    for name, spec in claims.items():
        frame = built[spec["table"]]
        assert spec["column"] in frame, name
        assert set(spec.get("where", {})) <= set(frame.columns), name


def test_sweep_runs_every_condition_and_maps_through_r():
    from polyrot.steering import sweep

    seen = []

    def evaluator(scale):
        def evaluate(v, alpha, target):
            seen.append((scale, v.name, target, v.vector.copy()))
            return {"kl": scale * alpha**2 * float(v.vector @ np.arange(1.0, 4.0)) ** 2, "n_target": 7}

        return evaluate

    R = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    vectors = {"x": steering.SteeringVector("x", "s", np.array([1.0, 0.0, 0.0]))}
    directions = steering.random_directions(20, 3, seed=1)
    rows = sweep.sweep({"a": evaluator(1.0), "b": evaluator(2.0)}, "a", {"b": R}, vectors, [1.0, 2.0], directions)
    frame = pd.DataFrame(rows)
    assert len(frame) == 2 * (3 + 2) and set(frame["condition"]) == {"within", "unrotated", "rotated", "random"}
    rotated = [v for scale, name, _, v in seen if scale == 2.0][1]  # b: unrotated first, then rotated
    np.testing.assert_allclose(rotated, vectors["x"].vector @ R.T)
    random = frame[(frame["condition"] == "random") & (frame["model"] == "b") & (frame["alpha"] == 2.0)].iloc[0]
    expected = [2.0 * 4.0 * float(u @ np.arange(1.0, 4.0)) ** 2 for u in directions]
    assert random["kl"] == pytest.approx(np.mean(expected)) and random["kl_sd"] == pytest.approx(
        np.std(expected, ddof=1)
    )
    assert random["n_draws"] == 20 and all(t == "x" for _, _, t, _ in seen)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)


def test_the_studys_target_for_closers_is_the_closer_positions(setup):
    model, batch, _ = setup
    from polyrot.steering import toy

    assert (toy.study_target("closers")(batch) == (batch.mask & np.isin(batch.tokens, dyck.CLOSERS))).all()
    assert (toy.study_target("depth")(batch) == toy.TOY_VECTORS["depth"].target(batch)).all()
    vectors = toy.toy_vectors(model, batch, SITE)
    effects = toy.ToyEffects(model, batch, SITE)(vectors["closers"], 2.0)
    assert effects["n_study_target"] == int(toy.study_target("closers")(batch).sum()) != effects["n_target"]
    depth = toy.ToyEffects(model, batch, SITE)(vectors["depth"], 2.0)
    assert depth["accuracy_drop_study_target"] == depth["accuracy_drop"]


def test_the_study_tables_aggregate_as_the_paper():
    from polyrot.steering import tables

    rows = []
    for a, (w, c1, c2) in {0.5: (0.0, 0.1, 0.3), 1.0: (0.2, 0.4, 0.8), 2.0: (0.4, 0.8, 1.0)}.items():
        for m, cond, v in (("A0", "within", w), ("A1", "unrotated", c1), ("A2", "unrotated", c2)):
            rows.append(
                {
                    "cohort": "A",
                    "anchor": "A0",
                    "setup": "study",
                    "vector": "sticky_invalid",
                    "model": m,
                    "condition": cond,
                    "alpha": a,
                    "accuracy_drop": v,
                    "accuracy_drop_study_target": v,
                    "kl": v,
                }
            )
    effects = pd.DataFrame(rows)
    r = tables.study_ratios(effects)
    one = r[(r["alpha"] == 1.0) & (r["target"] == "ours")].iloc[0]
    # the other seeds' mean drop (0.6) over the anchor's (0.2); the per-seed ratios 2 and 4
    assert one["ratio_unrotated"] == pytest.approx(3.0) and not one["undefined"]
    assert (one["ratio_unrotated_min"], one["ratio_unrotated_max"]) == pytest.approx((2.0, 4.0))
    assert one["ratio_unrotated_log_se"] == pytest.approx(np.std(np.log([2.0, 4.0]), ddof=1) / np.sqrt(2))
    half = r[(r["alpha"] == 0.5) & (r["target"] == "ours")].iloc[0]
    assert half["undefined"] and np.isnan(half["ratio_unrotated"]) and half["unrotated_mean"] == pytest.approx(0.2)
    d = tables.study_doses(effects)
    d = d[d["target"] == "ours"].iloc[0]
    # level 0.2: the anchor reaches it at 1; the mean cross curve (0.2, 0.6, 0.9) at 0.5
    assert d["dose_within"] == pytest.approx(1.0) and d["dose_factor_unrotated"] == pytest.approx(0.5)
    assert d["censored_unrotated_mean"] == "below"
