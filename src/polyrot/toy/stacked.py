"""K toy transformers as one module: every weight gets a leading model axis.

``StackedToy`` computes exactly what K ``ToyTransformer``s compute, each on its own
batch, with batched matmuls (``torch.bmm``) and one attention call over all K × batch
sequences. It is built from single models' state dicts and gives each back (``state(k)``,
``single(k)``), so checkpoints stay per model and every downstream rule is unchanged.

The per-model pieces of an optimiser step that are not elementwise live here too:
``per_model_loss`` (each model's loss over its own non-PAD positions, so that the sum's
gradient is each model's own) and ``clip_per_model`` (gradient clipping by each model's
own global norm, as ``torch.nn.utils.clip_grad_norm_`` does for one model). AdamW itself
is elementwise, so one ``torch.optim.AdamW`` over the stacked weights updates each model
as its own optimiser would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from polyrot import hooks
from polyrot.toy import dyck
from polyrot.toy.transformer import ToyConfig, ToyTransformer, position_features


def _key(name: str) -> str:
    """A state-dict name as a parameter attribute (modules refuse dots)."""
    return name.replace(".", "__")


class StackedToy(nn.Module):
    """K toy transformers with weights of shape ``(K, ...)``.

    ``names`` are the single model's parameter names in ``named_parameters()`` order.
    """

    def __init__(self, states: Sequence[Mapping[str, torch.Tensor]], cfg: ToyConfig | None = None) -> None:
        super().__init__()
        if not states:
            raise ValueError("a stack needs at least one model")
        self.cfg = cfg = cfg or ToyConfig()
        self.names = [n for n, _ in ToyTransformer(cfg).named_parameters()]
        for s in states:
            missing = set(self.names) - set(s)
            if missing:
                raise ValueError(f"a model's state lacks {sorted(missing)}")
        self.weights = nn.ParameterDict(
            {_key(n): nn.Parameter(torch.stack([s[n].detach() for s in states]).clone()) for n in self.names}
        )
        self.register_buffer("pos", position_features(cfg.n_ctx, cfg.d_model), persistent=False)

    @classmethod
    def from_models(cls, models: Sequence[ToyTransformer]) -> StackedToy:
        stack = cls([m.state_dict() for m in models], models[0].cfg)
        return stack.to(models[0].W_E.device)

    @property
    def k(self) -> int:
        return int(self.weights[_key("W_E")].shape[0])

    def param(self, name: str) -> nn.Parameter:
        """The stacked weight of the single model's parameter ``name``."""
        return self.weights[_key(name)]

    def state(self, k: int) -> dict[str, torch.Tensor]:
        """Model ``k``'s state dict, as ``ToyTransformer.state_dict()`` names it (detached views)."""
        return {n: self.param(n)[k].detach() for n in self.names}

    def single(self, k: int) -> ToyTransformer:
        """Model ``k`` as a ``ToyTransformer`` (a copy, on the stack's device)."""
        model = ToyTransformer(self.cfg).to(self.pos.device)
        model.load_state_dict({n: v.clone() for n, v in self.state(k).items()})
        return model

    def select(self, indices: Sequence[int]) -> StackedToy:
        """A new stack of the models at ``indices`` (copies)."""
        states = [self.state(i) for i in indices]
        return StackedToy(states, self.cfg).to(self.pos.device)

    # ------------------------------------------------------------ forward
    def _norm(self, x: torch.Tensor, gain: str) -> torch.Tensor:
        g = self.param(gain)
        return F.rms_norm(x, (x.shape[-1],), eps=self.cfg.eps) * g[:, None, :]

    def _mm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return torch.bmm(x, self.param(name))

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head, each ``(K, batch, T, classes)``, for tokens ``(K, batch, T)``."""
        k, b, t = tokens.shape
        if k != self.k:
            raise ValueError(f"tokens for {k} models given to a stack of {self.k}")
        cfg = self.cfg
        h, dh = cfg.n_heads, cfg.d_head
        w_e = self.param("W_E")
        rows = torch.arange(k, device=tokens.device)[:, None, None]
        x = (w_e[rows, tokens] + self.pos[:t]).reshape(k, b * t, cfg.d_model)
        for i in range(cfg.n_layers):
            p = f"blocks.{i}."
            y = self._norm(x, p + "ln1.gain")
            q, kk, v = (self._mm(y, p + w).view(k * b, t, h, dh).transpose(1, 2) for w in ("W_Q", "W_K", "W_V"))
            z = F.scaled_dot_product_attention(q, kk, v, is_causal=True)
            x = x + self._mm(z.transpose(1, 2).reshape(k, b * t, cfg.d_model), p + "W_O")
            y = self._norm(x, p + "ln2.gain")
            x = x + self._mm(F.relu(self._mm(y, p + "W_in")), p + "W_out")
        y = self._norm(x, "ln_final.gain")
        return {head: self._mm(y, f"W_U_{head}").view(k, b, t, -1) for head in dyck.HEADS}


def per_model_loss(logits: Mapping[str, torch.Tensor], data: torch.Tensor) -> torch.Tensor:
    """``(K,)``: each model's sum over heads of the mean cross-entropy over its non-PAD
    positions (``evaluation.loss_fn`` per model). ``data`` is ``(K, 3, batch, T)``."""
    mask = (data[:, 0] != dyck.PAD).float()
    count = mask.sum((1, 2))
    total = torch.zeros(data.shape[0], device=data.device)
    for i, head in enumerate(dyck.HEADS):
        lg = logits[head].float()
        ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), data[:, i].reshape(-1), reduction="none")
        total = total + (ce.view_as(mask) * mask).sum((1, 2)) / count
    return total


@torch.no_grad()
def clip_per_model(params: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale each model's gradients so its global norm is at most ``max_norm``, as
    ``clip_grad_norm_`` does for one model; returns the ``(K,)`` norms before clipping.

    Each model's norm is ``torch.nn.utils.get_total_norm`` over its own slices (what
    ``clip_grad_norm_`` computes), so the coefficient is bitwise the single model's.
    """
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.stack([torch.nn.utils.get_total_norm([g[k] for g in grads]) for k in range(grads[0].shape[0])])
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
    return total


def forward_each(models: Mapping[str, nn.Module]) -> Callable[[torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """A function of tokens ``(batch, T)`` giving every model's logits by name. Plain toy
    models (no hooks: no steering, no recording) run as one stack, K forwards in one pass,
    bitwise each model's own on a CPU; any other model runs by itself."""
    plain = {n: m for n, m in models.items() if type(m) is ToyTransformer and not hooks.is_hooked(m)}
    stack = StackedToy.from_models(list(plain.values())).eval() if len(plain) > 1 else None
    names = list(plain)

    def run(tokens: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        out = {n: m(tokens) for n, m in models.items() if stack is None or n not in plain}
        if stack is not None:
            logits = stack(tokens.expand(len(names), *tokens.shape))
            out |= {n: {h: v[k] for h, v in logits.items()} for k, n in enumerate(names)}
        return {n: out[n] for n in models}

    return run
