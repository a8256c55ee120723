"""Steering (docs/methods.md §9, H4): difference-of-means vectors at a residual site, added as α·v at
every position; their effects; and transfer across seeds, unrotated (the paper) or mapped
into the other model's frame through the pair's fitted rotation (ours).

- ``vector``: ``SteeringVector`` (``apply()`` context manager, ``in_frame_of(R)``), the
  difference of means, the random control's directions;
- ``toy``: the three toy vectors and their targets, the pinned subspace, ``ToyEffects``;
- ``neox``: the contrast file, the GPT-NeoX vectors, ``NeoxEffects``;
- ``sweep``: every vector × dose × condition for one anchor and its other models;
- ``tables``: the transfer, dose and control tables the claims are judged on.
"""

from polyrot.steering.tables import ratio
from polyrot.steering.toy import TOY_VECTORS, ToyEffects, ToyVectorSpec, toy_vector, toy_vectors
from polyrot.steering.vector import SteeringVector, diff_of_means, random_directions

__all__ = [
    "TOY_VECTORS",
    "SteeringVector",
    "ToyEffects",
    "ToyVectorSpec",
    "diff_of_means",
    "random_directions",
    "ratio",
    "toy_vector",
    "toy_vectors",
]
