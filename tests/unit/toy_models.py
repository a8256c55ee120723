"""Toy models for the bar and steering tests: random gains, a random element of the symmetry
group, and a model built from folded weights."""

import numpy as np
import scipy.stats
import torch

from polyrot.bars import parametric
from polyrot.toy import transformer


def with_random_gains(seed: int) -> transformer.ToyTransformer:
    model = transformer.build(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gain"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
    return model


def random_element(d: int, heads: int, d_mlp: int, layers: int, rng) -> parametric.Alignment:
    """A random group element whose residual rotation fixes the six positional dimensions
    (so that the moved model, with its fixed positional buffer, is the same function)."""
    R = np.eye(d)
    R[6:, 6:] = scipy.stats.ortho_group.rvs(d - 6, random_state=rng)
    dh = d // heads
    return parametric.Alignment(
        R,
        [rng.permutation(heads) for _ in range(layers)],
        [np.stack([scipy.stats.ortho_group.rvs(dh, random_state=rng) for _ in range(heads)]) for _ in range(layers)],
        [np.stack([scipy.stats.ortho_group.rvs(dh, random_state=rng) for _ in range(heads)]) for _ in range(layers)],
        [rng.permutation(d_mlp) for _ in range(layers)],
        [rng.uniform(0.5, 2.0, d_mlp) for _ in range(layers)],
    )


def as_model(folded: dict[str, np.ndarray]) -> transformer.ToyTransformer:
    model = transformer.ToyTransformer()
    state = {k: torch.ones_like(v) for k, v in model.state_dict().items() if k.endswith("gain")}
    state |= {k: torch.from_numpy(v).float() for k, v in folded.items()}
    model.load_state_dict(state)
    return model
