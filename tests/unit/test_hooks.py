"""The site registry and the one hook mechanism, on the toy model and on small Hugging Face
decoders built locally (GPT-NeoX, GPT-2, Llama): each family is a table entry."""

from __future__ import annotations

import pytest
import torch
import transformers

from polyrot import hooks
from polyrot.toy import dyck, transformer

TINY = {
    "gpt_neox": transformers.GPTNeoXConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    ),
    "gpt2": transformers.GPT2Config(
        vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=32, bos_token_id=0, eos_token_id=0
    ),
    "llama": transformers.LlamaConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    ),
}


def _n_hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module", params=sorted(TINY))
def decoder(request):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(TINY[request.param]).eval()
    with torch.no_grad():  # transformers registers hooks of its own on a first call
        model(input_ids=torch.zeros((1, 2), dtype=torch.long), output_hidden_states=True)
    return request.param, model


def test_a_decoders_sites_are_its_hidden_states(decoder):
    """resid_pre_0 the embeddings, resid_post_i layer i's output (before the final norm on
    the last layer), resid_final the final norm's output."""
    kind, model = decoder
    ids = torch.randint(0, 50, (2, 7))
    sites = ["resid_post_0", "resid_post_1", "resid_final"] + (["resid_pre_0"] if kind != "llama" else ["resid_pre_1"])
    before = _n_hooks(model)
    with torch.no_grad(), hooks.recorded(model, sites) as got:
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(got["resid_post_0"], hidden[1])
    torch.testing.assert_close(got["resid_final"], hidden[-1])
    assert not torch.allclose(got["resid_post_1"], hidden[-1])  # the last layer's own output, un-normed
    if kind == "llama":
        torch.testing.assert_close(got["resid_pre_1"], hidden[1])  # a layer's input ("pre")
    else:
        torch.testing.assert_close(got["resid_pre_0"], hidden[0])
    assert _n_hooks(model) == before  # ours removed on exit (the library may keep its own)


def test_patching_a_layers_output_changes_what_follows(decoder):
    _, model = decoder
    ids = torch.randint(0, 50, (2, 7))
    with torch.no_grad():
        with hooks.recorded(model, ["resid_post_0", "resid_post_1"]) as clean:
            model(input_ids=ids)
        with hooks.patched(model, {"resid_post_0": lambda x: x + 1.0}), hooks.recorded(model, ["resid_post_0"]) as got:
            model(input_ids=ids)
    torch.testing.assert_close(got["resid_post_0"], clean["resid_post_0"] + 1.0)
    with pytest.raises(ValueError, match="has 2 layers"):
        hooks.point_of(model, "resid_post_2")


def test_the_toy_components_add_up_to_the_models_pass():
    """forward(per_head=True) adds each head's output in turn through its hook point: the
    same function as the one-product pass, and its component outputs are recorded."""
    model = transformer.build(0).eval()
    tokens = torch.from_numpy(dyck.sample(4, 0).tokens)
    names = [f"L{i}.H{h}" for i in range(2) for h in range(4)] + ["L0.MLP", "L1.MLP"]
    with torch.no_grad(), hooks.recorded(model, names) as parts:
        split = model(tokens, per_head=True)
    whole = model(tokens)
    assert set(parts) == set(names)
    for head in dyck.HEADS:
        torch.testing.assert_close(split[head], whole[head], rtol=0, atol=1e-5)


def test_an_unknown_site_or_model_is_named():
    model = transformer.build(0)
    with pytest.raises(ValueError, match="unknown toy site 'resid_top_0'"):
        hooks.point_of(model, "resid_top_0")
    with pytest.raises(ValueError, match="no site registry"):
        hooks.point_of(torch.nn.Linear(2, 2), "resid_post_0")
