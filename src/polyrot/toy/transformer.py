"""The 104,448-parameter Dyck-3 transformer (docs/methods.md §3) and its named residual sites.

Two layers of pre-norm attention then pre-norm ReLU MLP, d_model 64, 4 heads of 16,
d_mlp 256, no biases, RMSNorm with gain only (eps 1e-5) and a final RMSNorm, a token
embedding and three untied unembedding heads (tok 40, depth 9, valid 2). Positions are a
fixed buffer in the first 6 residual dimensions.

Every site is an identity ``HookPoint`` (``polyrot.hooks``, which maps site names to them):
``hooks.recorded`` reads activations there, ``hooks.patched`` replaces them. They hold no
weights, so the saved model is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from polyrot.hooks import HookPoint
from polyrot.toy import dyck

#: The seven residual sites, in forward order. resid_pre_2 is resid_post_1 under the
#: name the paper lists (the residual stream before the final norm).
RESID_SITES = (
    "resid_pre_0",
    "resid_mid_0",
    "resid_post_0",
    "resid_pre_1",
    "resid_mid_1",
    "resid_post_1",
    "resid_pre_2",
)
#: Optional extra sites: MLP hidden activations before and after the ReLU.
MLP_SITES = ("mlp_pre_0", "mlp_post_0", "mlp_pre_1", "mlp_post_1")
SITES = RESID_SITES + MLP_SITES
#: Parameter names of the embedding and the three unembeddings (frozen in cohort A).
IO_PARAMS = ("W_E", "W_U_tok", "W_U_depth", "W_U_valid")
N_PARAMS = 104_448


@dataclass(frozen=True)
class ToyConfig:
    """Architecture of the toy transformer; the defaults are the paper's."""

    d_model: int = 64
    """Residual stream width."""
    n_layers: int = 2
    """Number of attention+MLP blocks."""
    n_heads: int = 4
    """Attention heads per layer."""
    d_mlp: int = 256
    """MLP hidden width."""
    n_ctx: int = dyck.N_CTX
    """Context length."""
    vocab_size: int = dyck.VOCAB_SIZE
    """Token vocabulary (ids 9–39 unused by the task)."""
    eps: float = 1e-5
    """RMSNorm epsilon."""
    init_std: float = 0.02
    """Standard deviation of the normal initialisation of every weight matrix."""

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def position_features(n_ctx: int, d_model: int) -> torch.Tensor:
    """The fixed positional buffer: six features in the first six dimensions, zeros elsewhere."""
    t = torch.arange(n_ctx, dtype=torch.float64)
    feats = torch.stack(
        [
            t / n_ctx,
            1.0 / (t + 1.0),
            torch.log(t + 1.0) / math.log(n_ctx),
            (t == 0).to(torch.float64),
            torch.cos(2 * math.pi * t / n_ctx),
            torch.sin(2 * math.pi * t / n_ctx),
        ],
        dim=1,
    )
    out = torch.zeros(n_ctx, d_model, dtype=torch.float64)
    out[:, :6] = feats
    return out.to(torch.float32)


class RMSNorm(nn.Module):
    """RMSNorm with a learned gain and no bias."""

    def __init__(self, d: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.gain, self.eps)


class Block(nn.Module):
    """Pre-norm causal attention then pre-norm ReLU MLP, no biases."""

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        d, h = cfg.d_model, cfg.n_heads
        self.n_heads = h
        self.ln1 = RMSNorm(d, cfg.eps)
        self.W_Q = nn.Parameter(torch.empty(d, d))
        self.W_K = nn.Parameter(torch.empty(d, d))
        self.W_V = nn.Parameter(torch.empty(d, d))
        self.W_O = nn.Parameter(torch.empty(d, d))
        self.ln2 = RMSNorm(d, cfg.eps)
        self.W_in = nn.Parameter(torch.empty(d, cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, d))
        # the sites, in forward order (polyrot.hooks.ARCHITECTURES["toy"] names them)
        self.hook_resid_pre = HookPoint()
        self.hook_head_out = nn.ModuleList(HookPoint() for _ in range(h))
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_pre = HookPoint()
        self.hook_mlp_post = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.n_heads
        q = (x @ self.W_Q).view(b, t, h, d // h).transpose(1, 2)
        k = (x @ self.W_K).view(b, t, h, d // h).transpose(1, 2)
        v = (x @ self.W_V).view(b, t, h, d // h).transpose(1, 2)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (b, h, t, d_head)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return self._heads(x).transpose(1, 2).reshape(b, t, d) @ self.W_O

    def attention_per_head(self, x: torch.Tensor, stream: torch.Tensor) -> torch.Tensor:
        """``stream`` plus each head's output in turn, each through its ``hook_head_out``
        point (the causal bars' components; equal to ``stream + attention(x)`` up to float
        rounding)."""
        z = self._heads(x)
        dh = z.shape[-1]
        for head, point in enumerate(self.hook_head_out):
            stream = stream + point(z[:, head] @ self.W_O[head * dh : (head + 1) * dh])
        return stream


class ToyTransformer(nn.Module):
    """The Dyck-3 model. ``forward(tokens)`` returns logits per head; pass ``cache`` to
    collect activations at named sites (see ``SITES``)."""

    def __init__(self, cfg: ToyConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ToyConfig()
        self.W_E = nn.Parameter(torch.empty(cfg.vocab_size, cfg.d_model))
        self.register_buffer("pos", position_features(cfg.n_ctx, cfg.d_model), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = RMSNorm(cfg.d_model, cfg.eps)
        self.W_U_tok = nn.Parameter(torch.empty(cfg.d_model, dyck.HEAD_CLASSES["tok"]))
        self.W_U_depth = nn.Parameter(torch.empty(cfg.d_model, dyck.HEAD_CLASSES["depth"]))
        self.W_U_valid = nn.Parameter(torch.empty(cfg.d_model, dyck.HEAD_CLASSES["valid"]))
        # the stream before the final norm: resid_pre_{n_layers}
        self.hook_resid_final = HookPoint()

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator) -> ToyTransformer:
        """N(0, init_std) for every matrix, ones for norm gains, drawn from ``generator``."""
        for name, p in self.named_parameters():
            if name.endswith("gain"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * self.cfg.init_std)
        return self

    def forward(
        self,
        tokens: torch.Tensor,
        start: tuple[str, torch.Tensor] | None = None,
        per_head: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Logits per head, ``{"tok": (b,t,40), "depth": (b,t,9), "valid": (b,t,2)}``.

        ``start = (site, x)`` resumes at a residual site from its unpatched activations ``x``
        (as ``hooks.recorded`` gives them): nothing before it runs, and a patch there still
        applies (steering many doses from one clean pass). ``tokens`` then only gives the
        length. ``per_head`` adds each head's output to the stream in turn through its hook
        point (the causal bars), instead of all heads in one product.
        """
        t = tokens.shape[1]
        skipping = None
        if start is None:
            x = self.W_E[tokens] + self.pos[:t]
        else:
            skipping, x = start
            if skipping not in RESID_SITES:
                raise ValueError(f"cannot start at {skipping!r}: not a residual site {RESID_SITES}")

        def site(name: str, point: HookPoint, update: Callable[[torch.Tensor], torch.Tensor]) -> None:
            """Pass residual site ``name``: update the stream (unless still skipping to the
            start), then through its hook point."""
            nonlocal x, skipping
            if skipping is None:
                x = update(x)
            elif skipping == name:
                skipping = None
            else:
                return
            x = point(x)

        for i, block in enumerate(self.blocks):
            site(f"resid_pre_{i}", block.hook_resid_pre, lambda x: x)
            if per_head:
                site(
                    f"resid_mid_{i}",
                    block.hook_resid_mid,
                    lambda x, block=block: block.attention_per_head(block.ln1(x), x),
                )
            else:
                site(f"resid_mid_{i}", block.hook_resid_mid, lambda x, block=block: x + block.attention(block.ln1(x)))
            out = None
            if skipping is None:
                post = block.hook_mlp_post(F.relu(block.hook_mlp_pre(block.ln2(x) @ block.W_in)))
                out = block.hook_mlp_out(post @ block.W_out)
            site(f"resid_post_{i}", block.hook_resid_post, lambda x, out=out: x + out)
        site(f"resid_pre_{len(self.blocks)}", self.hook_resid_final, lambda x: x)
        y = self.ln_final(x)
        return {"tok": y @ self.W_U_tok, "depth": y @ self.W_U_depth, "valid": y @ self.W_U_valid}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(seed: int, cfg: ToyConfig | None = None) -> ToyTransformer:
    """A freshly initialised model whose weights depend only on ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return ToyTransformer(cfg).init_weights(gen)
