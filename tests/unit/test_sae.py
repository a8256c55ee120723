"""polyrot.sae: dictionary recovery, the training step against a literal autograd reference,
decoder normalisation, metrics, save/load, stacked = single training, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from safetensors import safe_open

from polyrot import metrics
from polyrot.sae import (
    SAE,
    SAEConfig,
    _IndexStream,
    _step,
    init_sae,
    load_sae,
    sae_metrics,
    save_sae,
    train_sae,
    train_saes_stacked,
)

PARAMS = ("W_enc", "b_enc", "W_dec", "b_pre")

# Dictionary recovery: 32 atoms in d = 16, 3 per sample with coefficients U(1, 2). l1 is in the
# paper's normalisation (MSE averaged over the d = 16 dimensions too), so l1 = 1/16 weighs an
# active feature about its coefficient against the per-row squared error: that keeps ~2x the true
# L0 and splits no atom; every atom was matched at cos > 0.92 for seeds 0-4 (with l1 = 1/160 none is).
RECOVERY_CFG = SAEConfig(expansion=4, l1=1.0 / 16, lr=3e-3, batch_size=512, steps=2000, seed=0)
SMALL_CFG = SAEConfig(expansion=2, l1=0.5 / 16, lr=3e-3, batch_size=256, steps=300, seed=0)


def sparse_data(
    seed: int, n: int, d: int = 16, n_atoms: int = 32, per_sample: int = 3, noise: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, atoms)``: each row a sum of ``per_sample`` distinct unit-norm atoms with U(1, 2) weights."""
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    which = np.argsort(rng.random((n, n_atoms)), axis=1)[:, :per_sample]
    coef = np.zeros((n, n_atoms))
    np.put_along_axis(coef, which, rng.uniform(1.0, 2.0, (n, per_sample)), axis=1)
    x = coef @ atoms + noise * rng.standard_normal((n, d))
    return x.astype(np.float32), atoms


@pytest.fixture(scope="module")
def dictionary() -> tuple[np.ndarray, np.ndarray]:
    return sparse_data(0, 20_000)


@pytest.fixture(scope="module")
def trained(dictionary: tuple[np.ndarray, np.ndarray]) -> SAE:
    return train_sae(dictionary[0], RECOVERY_CFG, progress=False)


def test_recovers_known_dictionary(dictionary: tuple[np.ndarray, np.ndarray], trained: SAE) -> None:
    _, atoms = dictionary
    rows = trained.W_dec.detach().double().numpy()
    best = (atoms @ rows.T).max(axis=1)  # both unit norm: cosine of each atom's best decoder row
    assert (best > 0.9).mean() >= 0.9, np.sort(best)


def test_decoder_unit_norm_and_init(dictionary: tuple[np.ndarray, np.ndarray], trained: SAE) -> None:
    x, _ = dictionary
    norms = trained.W_dec.detach().norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5, rtol=0)

    sae = init_sae(16, 64, x.mean(axis=0, dtype=np.float64), torch.Generator().manual_seed(0))
    assert torch.allclose(sae.b_pre.detach(), torch.from_numpy(x.mean(axis=0, dtype=np.float64)).float(), atol=1e-6)
    assert torch.allclose(sae.W_dec.detach().norm(dim=1), torch.ones(64), atol=1e-6, rtol=0)
    assert torch.equal(sae.W_enc.detach(), sae.W_dec.detach().T)
    assert torch.equal(sae.b_enc.detach(), torch.zeros(64))


def paper_loss(x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor, l1: float) -> torch.Tensor:
    """The study's loss as its code writes it (docs/methods.md §6): ``F.mse_loss`` (the mean over every element,
    rows x dimensions) plus ``l1`` times Σ|f| per row averaged over rows."""
    return torch.nn.functional.mse_loss(x_hat, x) + l1 * f.abs().sum(dim=1).mean()


def _reference_training(x: torch.Tensor, cfg: SAEConfig) -> SAE:
    """The spec, literally: autograd on SAE.forward and the paper's loss, Adam, parallel gradient
    removed, rows renormalised."""
    sae = init_sae(x.shape[1], cfg.expansion * x.shape[1], x.double().mean(0), torch.Generator().manual_seed(cfg.seed))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        x_hat, f = sae(x)
        loss = paper_loss(x, x_hat, f, cfg.l1)
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            w, g = sae.W_dec, sae.W_dec.grad
            g -= (g * w).sum(dim=1, keepdim=True) * w
            opt.step()
            w /= w.norm(dim=1, keepdim=True)
    return sae


def test_training_step_matches_autograd_reference() -> None:
    # batch = n: every batch is a permutation of all rows, and the loss is a mean over rows, so
    # the trajectory equals full-batch training up to float round-off in the summation order.
    x, _ = sparse_data(5, 256, d=8, n_atoms=12)
    cfg = SAEConfig(expansion=4, l1=0.3 / 8, lr=1e-2, batch_size=256, steps=40, seed=11)
    ours = train_sae(x, cfg, progress=False)
    ref = _reference_training(torch.from_numpy(x), cfg)
    init = init_sae(8, 32, x.mean(0), torch.Generator().manual_seed(11))
    for name in PARAMS:
        a, b = getattr(ours, name).detach(), getattr(ref, name).detach()
        moved = (b - getattr(init, name).detach()).abs().max()
        assert moved > 0.05, name  # 40 Adam steps of lr 1e-2 move every tensor
        assert torch.allclose(a, b, atol=2e-5, rtol=0), (name, (a - b).abs().max())


def test_step_gradient_is_the_paper_loss() -> None:
    # One step's hand-written gradients against autograd on the paper's loss, in float64: an MSE
    # summed over dimensions (the old form) makes the reconstruction gradients d = 8 times larger.
    x, _ = sparse_data(6, 300, d=8, n_atoms=12)
    xt = torch.from_numpy(x).double()
    sae = init_sae(8, 32, xt.mean(0), torch.Generator().manual_seed(3)).double()
    with torch.no_grad():
        sae.b_enc.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(4))  # a mix of active and dead units
    l1 = 0.05
    x_hat, f = sae(xt)
    loss = paper_loss(xt, x_hat, f, l1)
    loss.backward()
    ref = {n: getattr(sae, n).grad.clone() for n in PARAMS}
    w = sae.W_dec.detach()
    ref["W_dec"] -= (ref["W_dec"] * w).sum(dim=1, keepdim=True) * w  # the step removes the parallel part

    params = tuple(getattr(sae, n).detach().clone().unsqueeze(0) for n in PARAMS)
    running = torch.zeros((), dtype=torch.float64)
    _step(xt.unsqueeze(0), params, l1, running)
    assert float(running) / len(xt) == pytest.approx(loss.item(), rel=1e-12)
    for name, p in zip(PARAMS, params, strict=True):
        assert torch.allclose(p.grad[0], ref[name], rtol=1e-9, atol=1e-12), (name, (p.grad[0] - ref[name]).abs().max())


def test_metrics_match_definitions(dictionary: tuple[np.ndarray, np.ndarray], trained: SAE) -> None:
    x, _ = dictionary
    sae = SAE(16, 64)
    sae.load_state_dict(trained.state_dict())
    with torch.no_grad():
        sae.b_enc[:5] = -1e4  # these five can never fire
        f = sae.encode(torch.from_numpy(x))
        x_hat = sae.decode(f)
    m = sae_metrics(sae, x, chunk=999)  # chunks that do not divide n
    ev = metrics.both(x, x_hat)
    assert m["ev_centred"] == pytest.approx(ev["centred"], abs=1e-6)
    assert m["ev_scalar"] == pytest.approx(ev["scalar"], abs=1e-6)
    assert m["mse"] == pytest.approx(((x - x_hat.numpy()).astype(np.float64) ** 2).sum(1).mean(), rel=1e-5)
    active = f > 0
    assert m["l0"] == pytest.approx(active.sum(1).double().mean().item(), rel=1e-12)
    assert m["dead_fraction"] == pytest.approx((~active.any(0)).double().mean().item(), rel=1e-12)
    assert 5 / 64 <= m["dead_fraction"] <= 1 and 0 < m["l0"] <= 64 - 5
    assert m["ev_centred"] <= 1 and m["ev_scalar"] <= 1

    with torch.no_grad():
        sae.W_dec.zero_()  # x̂ = b_pre = the data mean: centred EV 0, mse = total variance per row
        sae.b_pre.copy_(torch.from_numpy(x.mean(axis=0, dtype=np.float64)))
    m0 = sae_metrics(sae, x)
    assert m0["ev_centred"] == pytest.approx(0.0, abs=1e-6)
    assert m0["mse"] == pytest.approx(x.astype(np.float64).var(axis=0).sum(), rel=1e-5)


def test_save_load_round_trip(tmp_path, dictionary: tuple[np.ndarray, np.ndarray], trained: SAE) -> None:
    x = torch.from_numpy(dictionary[0][:500])
    meta = {"model": "A0", "layer": 1, "cfg": dataclasses.asdict(RECOVERY_CFG), "ev": 0.75, "tags": ["toy", "x4"]}
    path = tmp_path / "sub" / "sae.safetensors"
    save_sae(trained, path, {**meta, "ev": np.float64(0.75)})  # numpy scalars are encoded as numbers
    assert sorted(p.name for p in path.parent.iterdir()) == ["sae.safetensors"]  # no temporary left behind
    with safe_open(str(path), framework="pt") as fh:
        assert "polyrot" in fh.metadata()
    loaded, meta2 = load_sae(path)
    assert meta2 == meta
    for name in PARAMS:
        assert torch.equal(getattr(loaded, name), getattr(trained, name))
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), trained.encode(x))
        assert torch.equal(loaded(x)[0], trained(x)[0])


def test_stacked_equals_single() -> None:
    # Different row counts (one below the batch size, so batches straddle epochs) and a repeated seed.
    sets = [sparse_data(1, 3000)[0], sparse_data(2, 1700)[0], sparse_data(3, 200)[0]]
    seeds = [3, 7, 7]
    stacked = train_saes_stacked(sets, SMALL_CFG, progress=False, seeds=seeds)
    assert len(stacked) == 3
    for acts, seed, got in zip(sets, seeds, stacked, strict=True):
        single = train_sae(acts, dataclasses.replace(SMALL_CFG, seed=seed), progress=False)
        cos = (got.W_dec * single.W_dec).sum(1)
        assert cos.min() > 0.999
        for name in ("W_enc", "b_enc", "b_pre"):
            assert torch.allclose(getattr(got, name), getattr(single, name), atol=1e-3, rtol=1e-3), name
    # Same seed (same initial decoder), different data: the SAEs must have trained apart.
    assert (stacked[1].W_dec - stacked[2].W_dec).abs().max() > 0.1


def test_same_seed_same_weights() -> None:
    x = sparse_data(4, 2000)[0]
    a = train_sae(x, SMALL_CFG, progress=False)
    b = train_sae(x, SMALL_CFG, progress=False)
    c = train_sae(x, dataclasses.replace(SMALL_CFG, seed=1), progress=False)
    for name in PARAMS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.W_dec - c.W_dec).abs().max() > 0.1


def test_batches_cover_each_epoch_once() -> None:
    stream = _IndexStream(10, torch.Generator().manual_seed(0))
    drawn = torch.cat([stream.take(7), stream.take(7), stream.take(6), stream.take(3)])
    for epoch in range(2):
        assert sorted(drawn[10 * epoch : 10 * epoch + 10].tolist()) == list(range(10))
    assert len(set(drawn[20:].tolist())) == 3


def test_rejects_mismatched_widths() -> None:
    with pytest.raises(ValueError, match="widths differ"):
        train_saes_stacked([np.zeros((10, 4), np.float32), np.zeros((10, 5), np.float32)], SMALL_CFG, progress=False)


def test_cli_trains_one_sae_per_cache_and_reads_the_heldout_split(tmp_path, capsys) -> None:
    from polyrot import activations
    from polyrot.sae import main

    paths = []
    for i, split in ((0, "fit"), (0, "heldout"), (1, "fit")):
        x = sparse_data(10 + i + (split == "heldout"), 300)[0]
        cache = activations.Cache(x, np.zeros(300, int), np.arange(300), np.zeros(300, int))
        path = tmp_path / f"m{i}" / f"site.{split}.npz"
        path.parent.mkdir(exist_ok=True)
        activations.write_cache(path, cache)
        paths.append(path)
    assert main([str(paths[0]), str(paths[2]), "--expansion", "2", "--steps", "5", "--batch-size", "64"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    assert header[-4:] == ["ev_centred", "ev_scalar", "l0", "dead_fraction"]
    assert [(r[0], r[1]) for r in rows] == [(str(paths[0]), "fit"), (str(paths[0]), "heldout"), (str(paths[2]), "fit")]
    assert all(0 <= float(r[header.index("l0")]) <= 32 for r in rows)
    assert main([str(tmp_path / "missing.fit.npz")]) == 2


def test_the_study_recipe_initialises_as_the_study_draws_it() -> None:
    """Encoder N(0, 1/d) drawn first, then the decoder normalised per feature, from one
    generator; both biases zero; the encoder is not the decoder's transpose."""
    from polyrot.sae import init_study_sae

    g = torch.Generator().manual_seed(0)
    sae = init_study_sae(16, 64, g)
    g = torch.Generator().manual_seed(0)
    w_enc = torch.randn(64, 16, generator=g) / 4.0
    assert torch.equal(sae.W_enc.detach(), w_enc.T)
    assert torch.allclose(sae.W_dec.detach().norm(dim=1), torch.ones(64), atol=1e-6)
    assert torch.equal(sae.b_pre.detach(), torch.zeros(16)) and torch.equal(sae.b_enc.detach(), torch.zeros(64))
    assert not torch.allclose(sae.W_enc.detach(), sae.W_dec.detach().T)


def test_the_study_recipe_samples_with_replacement_and_moves_the_scale_into_the_encoder(dictionary) -> None:
    x, _ = dictionary
    cfg = dataclasses.replace(SMALL_CFG, steps=50, recipe="study")
    sae = train_sae(x[:2000], cfg, progress=False)
    # every decoder row unit norm (up to the study's 1e-9), biases trained away from zero
    assert torch.allclose(sae.W_dec.detach().norm(dim=1), torch.ones(sae.d_sae), atol=1e-6)
    from polyrot.sae import _ReplacementStream

    idx = _ReplacementStream(10, 8, torch.Generator().manual_seed(1)).take(800)
    assert len(idx) == 800 and len(torch.unique(idx[:16])) < 16  # repeats within a step or two: with replacement
    # one stack of both recipes trains each as it would alone
    both = train_saes_stacked([x[:2000], x[:2000]], cfg, progress=False, recipes=["ours", "study"])
    alone = train_saes_stacked([x[:2000]], dataclasses.replace(cfg, recipe="ours"), progress=False)[0]
    for name in PARAMS:
        assert torch.equal(getattr(both[1], name), getattr(sae, name))
        assert torch.equal(getattr(both[0], name), getattr(alone, name))
    with pytest.raises(ValueError, match="recipes"):
        train_saes_stacked([x[:100]], cfg, progress=False, recipes=["theirs"])


def test_moving_the_scale_into_the_encoder_keeps_the_reconstruction() -> None:
    """The study's renormalisation: W_dec rows / n, the encoder's columns and bias times n."""
    g = torch.Generator().manual_seed(3)
    sae = SAE(8, 16)
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    x = torch.randn(32, 8, generator=g)
    before, _ = sae(x)
    with torch.no_grad():
        n = sae.W_dec.norm(dim=1)
        sae.W_dec.div_(n[:, None])
        sae.W_enc.mul_(n[None, :])
        sae.b_enc.mul_(n)
    torch.testing.assert_close(sae(x)[0], before, rtol=1e-5, atol=1e-5)
