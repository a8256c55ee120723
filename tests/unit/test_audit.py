"""Alignment, EV conventions, universality metrics, caches and claims of the rotation audit."""

import numpy as np
import pytest
import scipy.stats
import torch

from polyrot import activations, align, audit, hooks, metrics, universality
from polyrot.claims import claim_units
from polyrot.toy import dyck, transformer
from polyrot.toy import extract as toy_extract


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    return scipy.stats.ortho_group.rvs(d, random_state=rng)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_planted_rotation_recovered_exactly(rng):
    A = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) + 5.0
    Q = random_orthogonal(12, rng)
    B = (A - A.mean(0)) @ Q.T - 2.0  # so that (B - mu_b) Q = A - mu_a
    rot = align.fit_rotation(A, B)
    assert np.abs(rot.R - Q).max() < 1e-10
    assert np.abs(rot.apply(B) - A).max() < 1e-9
    assert rot.frobenius_to_identity == pytest.approx(np.linalg.norm(Q - np.eye(12)))


def test_planted_rotation_with_noise_within_perturbation_bound(rng):
    n, d, sigma = 4000, 10, 1e-3
    A = rng.normal(size=(n, d)) * np.linspace(1, 3, d)
    Q = random_orthogonal(d, rng)
    E = sigma * rng.normal(size=(n, d))
    B = A @ Q.T + E
    rot = align.fit_rotation(A, B)
    # R is the polar factor of M = B_cᵀ A_c; perturbing M by Δ moves it by at most
    # 2‖Δ‖_F / (σ_{d-1} + σ_d) (Li 1995). Here Δ = E_cᵀ A_c.
    Ac, Ec = A - A.mean(0), E - E.mean(0)
    s = np.linalg.svd(Ac, compute_uv=False)
    bound = 2 * np.linalg.norm(Ec.T @ Ac) / (s[-1] + s[-2])
    assert np.linalg.norm(rot.R - Q) <= bound
    assert np.linalg.norm(rot.R - Q) < 1e-3  # the bound is ~sigma * sqrt(d) / sqrt(n) scale


def test_nulls_break_correspondence(rng):
    A = rng.normal(size=(3000, 8)) * np.arange(1, 9)
    Q = random_orthogonal(8, rng)
    B = A @ Q.T
    real = align.fit_rotation(A, B)
    perm = align.fit_permuted(A, B, rng)
    assert metrics.explained_variance(A, real.apply(B)) > 0.999
    assert metrics.explained_variance(A, perm.apply(B)) < 0.5
    mom = align.fit_moments(A, B)
    assert np.allclose(mom.R @ mom.R.T, np.eye(8), atol=1e-10)


def test_ev_conventions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5)) + np.array([0, 10, -3, 2, 7])
    for conv in metrics.CONVENTIONS:
        assert metrics.explained_variance(x, x, conv) == 1.0
    assert metrics.explained_variance(x, np.broadcast_to(x.mean(0), x.shape), "centred") == pytest.approx(0, abs=1e-12)
    assert metrics.explained_variance(x, np.full_like(x, x.mean()), "scalar") == pytest.approx(0, abs=1e-12)
    # per-dimension means explain the spread of the means under the scalar convention
    assert metrics.explained_variance(x, np.broadcast_to(x.mean(0), x.shape), "scalar") > 0.5
    with pytest.raises(ValueError):
        metrics.explained_variance(x, x, "global")


def test_hungarian_on_permuted_dictionary(rng):
    W = rng.normal(size=(40, 16))
    out = universality.decoder_cosine(W, W[rng.permutation(40)] * 3.0)
    assert out["hungarian_mean"] == pytest.approx(1.0) and out["maxcos_frac"] == 1.0
    # max-cosine lets two of a's features match one of b's; Hungarian matches one-to-one
    u, w = np.eye(3)[0], np.eye(3)[2]
    v = 0.9 * u + np.sqrt(1 - 0.81) * np.eye(3)[1]
    out = universality.decoder_cosine(np.stack([u, v]), np.stack([u, w]))
    assert out["maxcos_mean"] == pytest.approx(0.95) and out["maxcos_frac"] == 1.0
    assert out["hungarian_mean"] == pytest.approx(0.5) and out["hungarian_frac"] == 0.5


def test_firing_correlation_handles_dead_features(rng):
    a = np.maximum(rng.normal(size=(500, 6)), 0)
    b = a.copy()
    b[:, 5] = 0.0  # dead on b
    out = universality.firing_correlation(a, b)
    assert out["n_undefined"] == 1 and out["mean_r"] == pytest.approx(1.0) and out["frac_above"] == 1.0


def test_heldout_batch_is_disjoint_and_caches_align():
    fit = dyck.analysis_batch(200, 5)
    held = toy_extract.heldout_batch(fit, 150, 6)
    assert len(held) == 150
    assert not {r.tobytes() for r in fit.tokens} & {r.tobytes() for r in held.tokens}
    model_a, model_b = transformer.build(0), transformer.build(1)
    ca = toy_extract.toy_caches(model_a, fit, ["resid_mid_0"], batch_size=64)["resid_mid_0"]
    cb = toy_extract.toy_caches(model_b, fit, ["resid_mid_0"], batch_size=37)["resid_mid_0"]
    assert (
        len(ca) == int(fit.mask.sum())
        and np.array_equal(ca.token, cb.token)
        and np.array_equal(ca.position, cb.position)
    )
    assert np.array_equal(ca.token, fit.tokens[ca.sequence, ca.position])
    with torch.no_grad():
        with hooks.recorded(model_a, ["resid_mid_0"]) as store:
            model_a(torch.from_numpy(fit.tokens[:1]))
    n0 = int(fit.mask[0].sum())
    assert np.allclose(ca.acts[:n0], store["resid_mid_0"][0, :n0].numpy(), atol=1e-6)


def test_cache_round_trip(tmp_path, rng):
    cache = activations.Cache(rng.normal(size=(7, 4)).astype(np.float32), np.arange(7), np.arange(7), np.zeros(7, int))
    activations.write_cache(tmp_path / "c.npz", cache)
    back = activations.read_cache(tmp_path / "c.npz")
    assert np.array_equal(back.acts, cache.acts) and back.acts.dtype == np.float32


def test_rotations_round_trip(tmp_path, rng):
    A, B, C = (rng.normal(size=(300, 6)) for _ in range(3))
    rots = audit.fit_site_rotations(A, B, C, rng)
    audit.save_rotations(tmp_path / "s", rots, {"x": 1})
    back = audit.load_rotations(tmp_path / "s.controls.npz")
    assert set(back) == set(audit.ROTATIONS)
    assert all(np.array_equal(back[k].R, rots[k].R) for k in rots)
    assert np.array_equal(np.load(tmp_path / "s.npy"), rots["procrustes"].R)


def test_null_site_is_never_an_alias():
    sites = list(transformer.RESID_SITES)
    aliases = {("resid_pre_1", "resid_post_0"), ("resid_pre_2", "resid_post_1")}
    for s in sites:
        other = audit.null_site_for(sites, s)
        assert other != s and (s, other) not in aliases and (other, s) not in aliases
    assert audit.null_site_for(["a", "b", "c"], "b") in ("a", "c")


def test_claim_units_select_rows(tmp_path):
    import pandas as pd

    rows = [
        {"cohort": "A", "anchor": "A0", "other": "A1", "site": s, "expansion": 8, "naive_ev_centred": v}
        for s, v in (("resid_pre_0", 0.9), ("resid_mid_0", -1.0), ("resid_post_0", -0.5))
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "ev.tsv", sep="\t", index=False)
    spec = {"table": "ev", "column": "naive_ev_centred", "sites": "internal", "comparison": "<", "threshold": 0.0}
    units = claim_units(
        spec, {("toy", "ev"): tmp_path / "ev.tsv"}, {"toy": ["resid_pre_0", "resid_mid_0", "resid_post_0"]}
    )
    assert [u["value"] for u in units] == [-1.0, -0.5] and units[0]["unit"] == "toy:A:A0:A1:resid_mid_0:8"


def test_span_projection_drops_unread_components(rng):
    # data live in the first 3 of 8 dimensions; two dictionaries agree there and differ elsewhere
    X = np.zeros((400, 8))
    X[:, :3] = rng.normal(size=(400, 3)) * [3, 2, 1]
    span = align.data_span(X)
    assert span.shape == (8, 3)
    W_a = np.hstack([rng.normal(size=(20, 3)), 5 * rng.normal(size=(20, 5))])
    W_b = np.hstack([W_a[:, :3], 5 * rng.normal(size=(20, 5))])
    identity = align.Rotation(R=np.eye(8), mu_a=np.zeros(8), mu_b=np.zeros(8), method="procrustes")
    rows = {r["frame"]: r for r in audit.cosine_rows(W_a, W_b, identity, span, rng)}
    assert rows["raw_span"]["hungarian_mean"] == pytest.approx(1.0)
    assert rows["raw"]["maxcos_mean"] < 0.9 and rows["raw_span"]["span_rank"] == 3
    assert rows["chance_span"]["hungarian_mean"] < 0.99


def skewed(n: int, d: int, rng: np.random.Generator, basis: np.ndarray) -> np.ndarray:
    """Rows with distinct variances and positive third moments along the axes of ``basis``
    (so the covariance eigenbasis and its signs are identifiable), plus an offset."""
    return (rng.exponential(size=(n, d)) * np.linspace(1.0, 3.0, d)) @ basis + 4.0


def test_moment_null_recovers_a_planted_rotation_without_correspondence(rng):
    d = 8
    A = skewed(5000, d, rng, random_orthogonal(d, rng))
    Q = random_orthogonal(d, rng)
    B = (A - A.mean(0)) @ Q.T - 1.0
    mom = align.fit_moments(A, B)
    # the covariance and third moments of B are those of A in the rotated basis, so the two
    # eigenbases differ by exactly Q: recovered to round-off
    assert np.abs(mom.R - Q).max() < 1e-8
    assert np.abs(mom.apply(B) - A).max() < 1e-8
    # it uses no token correspondence: B's rows in another order give the same R
    shuffled = align.fit_moments(A, B[rng.permutation(len(B))])
    assert np.abs(shuffled.R - mom.R).max() < 1e-10
    # and Procrustes with the correspondence broken does not recover it
    assert np.abs(align.fit_permuted(A, B, rng).R - Q).max() > 0.1


def test_site_null_centres_this_sites_rows_with_this_sites_mean(rng):
    # b's other site is this site plus a constant: the same centred activations, so the
    # other-site R is the real R and the null must read exactly as the real R does. With the
    # other site's mean applied to this site's rows, every row was off by the constant mapped
    # through R (squared norm 9 d), an EV far below zero.
    d = 6
    A = rng.normal(size=(800, d)) * np.linspace(1, 2, d)
    Q = random_orthogonal(d, rng)
    fit_a, held_a = A[:400], A[400:]
    fit_b, held_b = fit_a @ Q.T, held_a @ Q.T
    rots = audit.fit_site_rotations(fit_a, fit_b, fit_b + 3.0, rng)
    site = rots["null_site"]
    assert np.allclose(site.R, rots["procrustes"].R, atol=1e-10)
    assert np.allclose(site.mu_b, fit_b.mean(0), atol=1e-12)
    assert metrics.explained_variance(held_a, site.apply(held_b)) == pytest.approx(1.0, abs=1e-9)
    stale = align.Rotation(R=site.R, mu_a=site.mu_a, mu_b=(fit_b + 3.0).mean(0), method="null_site")
    expected = 1 - len(held_a) * 9.0 * d / ((held_a - held_a.mean(0)) ** 2).sum()
    assert expected < -2
    assert metrics.explained_variance(held_a, stale.apply(held_b)) == pytest.approx(expected, abs=1e-9)


def test_ev_row_on_an_exactly_rotated_other_model(rng):
    from polyrot import sae

    d = 8
    basis = random_orthogonal(d, rng)
    fit_a, held_a = skewed(3000, d, rng, basis), skewed(1500, d, rng, basis)
    Q = random_orthogonal(d, rng)
    offset = rng.normal(size=d) * 3
    fit_b, held_b = (fit_a - fit_a.mean(0)) @ Q.T + offset, (held_a - fit_a.mean(0)) @ Q.T + offset
    # an undercomplete-ish SAE (d features): an overcomplete one reconstructs nearly anything in
    # d = 8, which would hide every null at the SAE level (measured: x2 puts the permuted null
    # 0.06 below rotated, x1 0.22 below; at the activation level it is > 1.5 below either way)
    cfg = sae.SAEConfig(expansion=1, l1=1e-2, lr=3e-3, batch_size=512, steps=300, seed=0)
    sae_a = sae.train_sae(fit_a.astype(np.float32), cfg, progress=False)
    rots = audit.fit_site_rotations(fit_a, fit_b, fit_b + 5.0, rng)
    row = audit.ev_row(sae_a, rots, fit_a, fit_b, held_a, held_b, 2000, rng)
    for conv in metrics.CONVENTIONS:
        # b mapped by R is a's held-out activations to round-off: the SAE cannot tell them apart
        assert row[f"rotated_ev_{conv}"] == pytest.approx(row[f"self_ev_{conv}"], abs=1e-6)
        assert row[f"act_rotated_ev_{conv}"] == pytest.approx(1.0, abs=1e-9)
        assert row[f"act_bothcentred_rotated_ev_{conv}"] == pytest.approx(1.0, abs=1e-9)
        assert row[f"naive_ev_{conv}"] < row[f"self_ev_{conv}"] - 0.5
        assert row[f"rotated_minus_null_permuted_ev_{conv}"] > 0.1
        assert row[f"act_rotated_minus_null_permuted_ev_{conv}"] > 1.0
        # the site null (this site plus a constant) is the real R after the fix
        assert row[f"null_site_ev_{conv}"] == pytest.approx(row[f"rotated_ev_{conv}"], abs=1e-6)
        # skewed, non-degenerate data: second and third moments alone find the same R
        assert row[f"null_moments_ev_{conv}"] == pytest.approx(row[f"rotated_ev_{conv}"], abs=1e-4)
    # both-centred activation EV leaves out the offset between the means; as they stand it counts
    assert row["act_bothcentred_naive_ev_centred"] > row["act_naive_ev_centred"]


def test_claim_units_skip_an_arm_without_selected_rows_and_must_be_distinct(tmp_path):
    import pandas as pd

    toy = [
        {"cohort": "A", "anchor": "A0", "other": "A1", "vector": v, "alpha": a, "acc": 1.0, "kl": 2.0}
        for v in ("depth", "closers")
        for a in (1.0, 2.0)
    ]
    neox = [{"cohort": "neox", "anchor": "n1", "other": "n2", "vector": "name", "alpha": 2.0, "kl": 3.0}]
    pd.DataFrame(toy).to_csv(tmp_path / "toy.tsv", sep="\t", index=False)
    pd.DataFrame(neox).to_csv(tmp_path / "neox.tsv", sep="\t", index=False)
    tables = {("toy", "t"): tmp_path / "toy.tsv", ("neox", "t"): tmp_path / "neox.tsv"}
    spec = {"table": "t", "column": "acc", "where": {"cohort": "A", "alpha": 2}}
    # the GPT-NeoX table has no acc column, but no row of it is selected either
    units = claim_units(spec, tables, {})
    assert [u["unit"] for u in units] == ["toy:A:A0:A1:depth:2.0", "toy:A:A0:A1:closers:2.0"]
    with pytest.raises(KeyError, match="selects on column 'shared_io'"):
        claim_units({**spec, "where": {"shared_io": False}}, tables, {})
    pd.DataFrame(toy + toy[:1]).to_csv(tmp_path / "toy.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match="not distinct"):
        claim_units(spec | {"where": {"cohort": "A"}}, tables, {})


def test_the_studys_firing_mean_counts_a_dead_feature_as_zero(rng):
    a = np.maximum(rng.normal(size=(500, 4)), 0)
    b = a.copy()
    b[:, 3] = 0.0
    out = universality.firing_correlation(a, b)
    assert out["mean_r"] == pytest.approx(1.0) and out["mean_r_all"] == pytest.approx(0.75)
    assert out["frac_above_all"] == pytest.approx(0.75)
    assert "hungarian_mean" not in universality.decoder_cosine(a.T, b.T, hungarian=False)
