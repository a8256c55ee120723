"""The GPT-NeoX arm: sources, extraction, corpus and the offline family, on tiny models
built here (no hub)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from polyrot import hooks
from polyrot.config import FamilyConfig
from polyrot.neox import corpus, extract, family, source

TINY = FamilyConfig(
    hidden_size=16,
    layers=2,
    heads=2,
    intermediate_size=32,
    rotary_pct=0.5,
    steps=6,
    batch_size=4,
    warmup_steps=1,
    save_steps=(0, 3, 6),
)
TEXTS = [
    "def add(a, b):\n    return a + b\n" * 3,
    "The quick brown fox jumps over the lazy dog. " * 6,
    "Return the number of items in a container. " * 5,
    "Raise ValueError if the argument is negative. " * 4,
]


@pytest.fixture(scope="module")
def tokenizer():
    return corpus.train_tokenizer(TEXTS, 300)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    net = family.build(TINY, len(tokenizer), 16, seed=0, eos_id=tokenizer.eos_token_id)
    with torch.no_grad():  # a trained model's final norm is not the identity: make this one not either
        net.gpt_neox.final_layer_norm.weight.uniform_(0.5, 1.5)
        net.gpt_neox.final_layer_norm.bias.normal_(0, 0.3)
    return net.eval()


@pytest.fixture
def tokens(tokenizer):
    rng = np.random.default_rng(0)
    return rng.integers(0, len(tokenizer), size=(5, 16))


# ---------------------------------------------------------------- extraction
def test_site_names_and_their_modules(model):
    assert extract.site_names(2) == ["resid_pre_0", "resid_post_0", "resid_post_1"]
    modules = [hooks.point_of(model, s).module for s in [*extract.site_names(2), "resid_final"]]
    assert modules == ["gpt_neox.emb_dropout", "gpt_neox.layers.0", "gpt_neox.layers.1", "gpt_neox.final_layer_norm"]
    with pytest.raises(ValueError, match="unknown gpt_neox site 'resid_mid_0'"):
        hooks.point_of(model, "resid_mid_0")
    with pytest.raises(ValueError, match="has 2 layers"):
        extract.extract(model, np.zeros((1, 4), int), ["resid_post_2"], progress=False)


def test_sites_match_hidden_states_except_the_last_which_is_before_the_final_norm(model, tokens):
    caches = extract.extract(model, tokens, extract.site_names(2), batch_size=2, progress=False)
    with torch.no_grad():
        hidden = model(input_ids=torch.as_tensor(tokens), output_hidden_states=True).hidden_states
    assert len(hidden) == 3
    flat = [h.reshape(-1, 16).numpy() for h in hidden]
    np.testing.assert_allclose(caches["resid_pre_0"].acts, flat[0], atol=1e-6)
    np.testing.assert_allclose(caches["resid_post_0"].acts, flat[1], atol=1e-6)
    last = caches["resid_post_1"].acts
    # hidden_states[-1] has the final layer norm applied; our resid_post is the layer's output
    assert np.abs(last - flat[2]).max() > 0.1
    normed = model.gpt_neox.final_layer_norm(torch.as_tensor(last)).detach().numpy()
    np.testing.assert_allclose(normed, flat[2], atol=1e-5)


def test_extraction_stops_after_the_deepest_site_and_never_runs_the_unembedding(model, tokens):
    calls = {"layer1": 0, "head": 0, "norm": 0}
    hooks = [
        model.gpt_neox.layers[1].register_forward_hook(lambda *a: calls.__setitem__("layer1", calls["layer1"] + 1)),
        model.get_output_embeddings().register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1)),
        model.gpt_neox.final_layer_norm.register_forward_hook(lambda *a: calls.__setitem__("norm", calls["norm"] + 1)),
    ]
    try:
        shallow = extract.extract(model, tokens, ["resid_pre_0", "resid_post_0"], progress=False)
        assert calls == {"layer1": 0, "head": 0, "norm": 0}
        full = extract.extract(model, tokens, extract.site_names(2), progress=False)
        assert calls["head"] == 0 and calls["norm"] == 0 and calls["layer1"] == 1
    finally:
        for h in hooks:
            h.remove()
    for site in shallow:
        np.testing.assert_array_equal(shallow[site].acts, full[site].acts)
    with pytest.raises(ValueError, match="2 layers"):
        extract.extract(model, tokens, ["resid_post_2"], progress=False)


def test_cache_rows_name_their_tokens_and_do_not_depend_on_batch_size(model, tokens):
    a = extract.extract(model, tokens, ["resid_post_1"], batch_size=2, progress=False)["resid_post_1"]
    b = extract.extract(model, tokens, ["resid_post_1"], batch_size=5, progress=False)["resid_post_1"]
    np.testing.assert_allclose(a.acts, b.acts, atol=1e-5)
    assert a.acts.dtype == np.float32 and a.acts.shape == (5 * 16, 16)
    np.testing.assert_array_equal(a.token, tokens.reshape(-1))
    np.testing.assert_array_equal(a.sequence, np.repeat(np.arange(5), 16))
    np.testing.assert_array_equal(a.position, np.tile(np.arange(16), 5))


# ---------------------------------------------------------------- sources
def test_local_source_reads_a_revision_folder_as_the_hub_lays_it_out(tmp_path, model, tokenizer):
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    family.save_revision(model, tmp_path / "models/m-seed1/step3", tok_dir, {"step": 3})
    src = source.ModelSource("local", local_dir=tmp_path / "models")
    loaded = source.load_model(src, "m-seed1", "step3")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert not loaded.training
    assert (tmp_path / "models/m-seed1/step3/model.safetensors").exists()
    assert source.load_tokenizer(src, "m-seed1", "step3")("def add")["input_ids"] == tokenizer("def add")["input_ids"]
    half = source.load_model(src, "m-seed1", "step3", dtype="bfloat16")
    assert next(half.parameters()).dtype == torch.bfloat16


def test_a_missing_local_model_names_what_was_looked_for_and_how_to_provide_it(tmp_path):
    src = source.ModelSource("local", local_dir=tmp_path)
    with pytest.raises(source.ModelNotFound) as err:
        source.load_model(src, "pythia-70m-seed3", "step143000")
    msg = str(err.value)
    assert str(tmp_path / "pythia-70m-seed3" / "step143000") in msg
    for hint in ("HF_HOME", "neox.local_dir", "neox.source: family", "config.json"):
        assert hint in msg


def test_the_hub_path_without_network_fails_with_the_same_guidance():
    src = source.ModelSource("hub", hub_org="EleutherAI")
    assert src.locate("pythia-70m-seed3", "step143000") == ("EleutherAI/pythia-70m-seed3", {"revision": "step143000"})
    with pytest.raises(source.ModelNotFound) as err:  # HF_HUB_OFFLINE=1 (conftest): no download is tried
        source.load_model(src, "pythia-70m-seed3", "step143000")
    assert "EleutherAI/pythia-70m-seed3 at revision step143000" in str(err.value)
    assert "HF_HOME" in str(err.value)


HUB_SCRIPT = """
import json, sys
import numpy as np
from polyrot.neox import extract, source

org, name, tokens_path, out, *revisions = sys.argv[1:]
src = source.ModelSource("hub", hub_org=org)
tokens = np.load(tokens_path)
arrays = {}
for rev in revisions:
    try:
        model = source.load_model(src, name, rev)
    except source.ModelNotFound as err:
        arrays[rev + ".missing"] = np.array(str(err))
        continue
    arrays[rev] = extract.extract(model, tokens, ["resid_post_0"], progress=False)["resid_post_0"].acts
np.savez(out, **arrays)
"""


def _hub_cache(root, org, name, revisions):
    """A Hugging Face cache in the hub's own layout: refs/<revision> holds a commit hash and
    snapshots/<hash>/ the files of that commit."""
    repo = root / "hub" / f"models--{org}--{name}"
    (repo / "refs").mkdir(parents=True)
    for rev, folder in revisions.items():
        commit = hashlib.sha1(rev.encode()).hexdigest()
        shutil.copytree(folder, repo / "snapshots" / commit)
        (repo / "refs" / rev).write_text(commit)


def test_the_hub_source_reads_the_asked_revision_from_a_hub_cache_offline(tmp_path, model, tokenizer, tokens):
    # two revisions of one repository with different weights, in a cache laid out as the hub lays it out;
    # the same from_pretrained(repo, revision=...) call that reaches the hub reads them with HF_HUB_OFFLINE=1
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    later = family.build(TINY, len(tokenizer), 16, seed=1, eos_id=tokenizer.eos_token_id).eval()
    folders = {"step3": tmp_path / "saved/step3", "step6": tmp_path / "saved/step6"}
    family.save_revision(model, folders["step3"], tok_dir, {"step": 3})
    family.save_revision(later, folders["step6"], tok_dir, {"step": 6})
    _hub_cache(tmp_path / "hf", "TestOrg", "m-seed1", folders)
    np.save(tmp_path / "tokens.npy", tokens)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    args = ["TestOrg", "m-seed1", str(tmp_path / "tokens.npy"), str(tmp_path / "out.npz"), "step3", "step6", "step9"]
    subprocess.run([sys.executable, "-c", HUB_SCRIPT, *args], env=env, check=True, capture_output=True, text=True)
    with np.load(tmp_path / "out.npz") as out:
        for rev, net in (("step3", model), ("step6", later)):
            expected = extract.extract(net, tokens, ["resid_post_0"], progress=False)["resid_post_0"].acts
            np.testing.assert_allclose(out[rev], expected, rtol=0, atol=1e-6, err_msg=rev)
        assert np.abs(out["step3"] - out["step6"]).max() > 1e-2  # the revisions really differ
        missing = str(out["step9.missing"])  # a revision the cache lacks: the guidance, no download
        assert "TestOrg/m-seed1 at revision step9" in missing and "HF_HOME" in missing


# ---------------------------------------------------------------- corpus
def test_python_docs_ship_with_python_and_split_stably():
    docs = corpus.python_docs()
    assert len(docs) > 1000 and any(d.name.startswith("topic:") for d in docs)
    assert len({d.name for d in docs}) == len(docs)
    train, held = corpus.split(docs, 0.25)
    assert {d.name for d in train}.isdisjoint(d.name for d in held) and len(train) + len(held) == len(docs)
    assert 0.2 < len(held) / len(docs) < 0.3
    assert corpus.split(docs, 0.25)[1] == held


def test_tokenizer_is_deterministic_and_round_trips(tokenizer):
    again = corpus.train_tokenizer(TEXTS, 300)
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    ids = tokenizer("Return the sum of a and b.")["input_ids"]
    assert tokenizer.decode(ids) == "Return the sum of a and b."
    assert tokenizer.convert_tokens_to_ids(corpus.EOS) == tokenizer.eos_token_id


def test_analysis_sequences_take_leading_windows_and_keep_fit_and_heldout_documents_apart(tokenizer):
    docs = [corpus.Document(f"d{i}", TEXTS[i % 4] + f" variant {i}") for i in range(12)]
    fit, held, fit_names, held_names = corpus.analysis_sequences(tokenizer, docs, 8, 5, 3, windows_per_document=2)
    assert fit.shape == (5, 8) and held.shape == (3, 8)
    assert set(fit_names).isdisjoint(held_names)
    first = tokenizer(docs[0].text, add_special_tokens=False)["input_ids"]
    np.testing.assert_array_equal(fit[0], first[:8])
    np.testing.assert_array_equal(fit[1], first[8:16])
    with pytest.raises(ValueError, match="too few documents"):
        corpus.analysis_sequences(tokenizer, docs, 8, 20, 20, windows_per_document=1)


def test_token_stream_separates_documents_with_eos(tokenizer):
    docs = [corpus.Document("a", "one two"), corpus.Document("b", "three")]
    stream = corpus.token_stream(tokenizer, docs)
    eos = tokenizer.eos_token_id
    assert stream[-1] == eos and (stream == eos).sum() == 2


# ---------------------------------------------------------------- the family
def _train(tmp_path, tokenizer, seed, name):
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    stream = corpus.token_stream(tokenizer, [corpus.Document(str(i), t) for i, t in enumerate(TEXTS)])
    held = np.stack([stream[:16], stream[16:32]])
    return family.train_model(
        name,
        seed,
        TINY,
        stream,
        held,
        tok_dir,
        tmp_path / "models",
        len(tokenizer),
        tokenizer.eos_token_id,
        progress=False,
    )


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_family_training_saves_loadable_revisions_and_is_deterministic(tmp_path, tokenizer):
    (tmp_path / "models/m-seed1/step99").mkdir(parents=True)  # a stale revision of another config
    log = _train(tmp_path / "", tokenizer, 1, "m-seed1")
    assert log["step"].tolist() == [0, 3, 6] and np.isfinite(log["heldout_loss"]).all()
    assert not (tmp_path / "models/m-seed1/step99").exists()
    folder = tmp_path / "models/m-seed1/step6"
    meta = json.loads((folder / "polyrot_revision.json").read_text())
    assert meta["step"] == 6 and meta["seed"] == 1
    net = source.load_model(source.ModelSource("local", local_dir=tmp_path / "models"), "m-seed1", "step6")
    cfg = net.config
    assert (cfg.use_parallel_residual, cfg.tie_word_embeddings) == (True, False)
    assert cfg.rope_parameters["partial_rotary_factor"] == 0.5
    first = _digest(folder / "model.safetensors")
    again = tmp_path / "again"
    _train(again, tokenizer, 1, "m-seed1")
    assert _digest(again / "models/m-seed1/step6/model.safetensors") == first
    other = tmp_path / "other"
    _train(other, tokenizer, 2, "m-seed2")
    assert _digest(other / "models/m-seed2/step0/model.safetensors") != _digest(
        tmp_path / "models/m-seed1/step0/model.safetensors"
    )


def test_each_seed_has_its_own_data_order():
    a = family.batch_starts(10_000, 16, 4, 5, seed=1)
    assert a.shape == (5, 4) and a.max() < 10_000 - 16
    np.testing.assert_array_equal(a, family.batch_starts(10_000, 16, 4, 5, seed=1))
    assert not np.array_equal(a, family.batch_starts(10_000, 16, 4, 5, seed=2))


def test_a_steering_hook_adds_alpha_v_to_one_layers_output_and_is_removed(model, tokens):
    from polyrot import steering

    ids = torch.as_tensor(tokens)
    v = steering.SteeringVector("test", "resid_post_0", np.linspace(-1, 1, 16), sign=-1.0)
    with torch.no_grad():
        clean = extract.extract(model, tokens, ["resid_post_0", "resid_post_1"], batch_size=5, progress=False)
        with v.apply(model, 0.5):
            steered = extract.extract(model, tokens, ["resid_post_0", "resid_post_1"], batch_size=5, progress=False)
        after = model(input_ids=ids).logits
        before = model(input_ids=ids).logits
    np.testing.assert_allclose(steered["resid_post_0"].acts, clean["resid_post_0"].acts - 0.5 * v.vector, atol=1e-6)
    assert not np.allclose(steered["resid_post_1"].acts, clean["resid_post_1"].acts, atol=1e-4)
    assert torch.equal(after, before)  # the hook is gone
    with pytest.raises(ValueError, match="layer's output"):
        with steering.SteeringVector("x", "resid_pre_0", np.zeros(16)).apply(model, 1.0):
            pass


# ---------------------------------------------------------------- steering
def test_the_contrast_file_holds_the_stated_sentences(repo):
    from polyrot.steering import neox as neox_steering

    contrasts = neox_steering.load_contrasts(repo / "config/steering_contrasts.yaml")
    counts = {n: (c.position, len(c.plus), len(c.minus)) for n, c in contrasts.items()}
    assert counts == {"sentiment": ("all", 24, 24), "name": ("last", 16, 16), "magnitude": ("all", 16, 16)}
    name = contrasts["name"]
    # paired prompts: the same frame, only the final name differs
    assert all(
        p.endswith(" John") and m.endswith(" Mary") and p[:-4] == m[:-4]
        for p, m in zip(name.plus, name.minus, strict=True)
    )
    assert len(set(contrasts["sentiment"].plus) | set(contrasts["sentiment"].minus)) == 48


@pytest.mark.parametrize(
    "text, message",
    [
        ("v: {position: all, plus: [a], minus: []}", "minus must be a non-empty list"),
        ("v: {position: first, plus: [a], minus: [b]}", "position must be one of"),
        ("v: {position: all, plus: [a], minus: [b], weight: 2}", "expected keys"),
        ("v: {position: all, plus: [a], minus: [b], sign: 2}", "sign must be 1 or -1"),
        ("[a, b]", "expected a mapping"),
    ],
)
def test_a_malformed_contrast_file_is_refused(tmp_path, text, message):
    from polyrot.steering import neox as neox_steering

    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        neox_steering.load_contrasts(path)
    with pytest.raises(FileNotFoundError, match="steering.neox.contrasts"):
        neox_steering.load_contrasts(tmp_path / "missing.yaml")


def test_neox_vectors_are_differences_of_means_at_the_site(model, tokenizer):
    from polyrot.steering import neox as neox_steering

    c = neox_steering.Contrast("t", "last", ("the cat sat", "a dog ran far"), ("the cat", "one"))
    a = neox_steering.Contrast("u", "all", ("the cat sat",), ("a dog ran far", "one"))
    vectors, counts = neox_steering.neox_vectors(model, tokenizer, {"t": c, "u": a}, "resid_post_0")

    def rows(text):
        ids = np.asarray([corpus.encode(tokenizer, [text])[0]])
        return extract.extract(model, ids, ["resid_post_0"], batch_size=1, progress=False)["resid_post_0"].acts

    last = lambda texts: np.mean([rows(t)[-1] for t in texts], axis=0)  # noqa: E731
    np.testing.assert_allclose(vectors["t"].vector, last(c.plus) - last(c.minus), atol=1e-6)
    every = lambda texts: np.concatenate([rows(t) for t in texts]).mean(0)  # noqa: E731
    np.testing.assert_allclose(vectors["u"].vector, every(a.plus) - every(a.minus), atol=1e-6)
    assert counts["t"] == {"plus_sentences": 2, "minus_sentences": 2, "plus_rows": 2, "minus_rows": 2}
    assert counts["u"]["plus_rows"] == len(rows("the cat sat"))


def test_neox_effect_is_the_mean_kl_over_every_token(model, tokens):
    """KL in float32 with float64 sums against the float64 reference: within 3 ulps of the
    largest |log p| per token."""
    from polyrot.bars.behavioural import kl_between
    from polyrot.steering import SteeringVector
    from polyrot.steering import neox as neox_steering

    v = SteeringVector("t", "resid_post_0", np.linspace(-1, 1, 16))
    effects = neox_steering.NeoxEffects(model, tokens, batch_size=2)
    ids = torch.as_tensor(tokens)
    with torch.no_grad():
        clean = model(input_ids=ids).logits
        with v.apply(model, 2.0):
            steered = model(input_ids=ids).logits
    got = effects(v, 2.0)
    largest = float(torch.log_softmax(torch.cat([clean, steered]), -1).abs().max())
    assert got["kl"] == pytest.approx(float(kl_between(clean, steered).mean()), abs=3 * 2**-24 * largest)
    assert got["kl"] > 1e-6 and got["n_target"] == tokens.size


def test_the_final_site_is_the_final_norms_output(model, tokens):
    caches = extract.extract(model, tokens, ["resid_post_1", "resid_final"], progress=False)
    with torch.no_grad():
        hidden = model(input_ids=torch.as_tensor(tokens), output_hidden_states=True).hidden_states
    np.testing.assert_allclose(caches["resid_final"].acts, hidden[-1].reshape(-1, 16).numpy(), atol=1e-5)
