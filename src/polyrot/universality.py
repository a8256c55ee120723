"""SAE "universality" metrics: decoder-direction cosines and firing-pattern correlations.

Decoder cosine (docs/methods.md §6, §12.4): for each feature of SAE_a, the max cosine to any feature of
SAE_b (the paper's code), and a one-to-one Hungarian matching
(``scipy.optimize.linear_sum_assignment``; the paper's text). Both on raw decoder rows and
after mapping b's rows into a's frame through R.

Firing patterns: SAE_a's codes on a's tokens against its codes on b's activations of the
same tokens (raw, or mapped through R); Pearson r per feature across tokens.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize


def _unit_rows(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    return W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)


def cosine_matrix(W_a: np.ndarray, W_b: np.ndarray) -> np.ndarray:
    """Cosines between the rows of two dictionaries, ``(n_a, n_b)``."""
    return _unit_rows(W_a) @ _unit_rows(W_b).T


def decoder_cosine(
    W_a: np.ndarray, W_b: np.ndarray, threshold: float = 0.5, hungarian: bool = True
) -> dict[str, float]:
    """Max-cosine and Hungarian summaries of how well b's features match a's.

    Keys: ``maxcos_mean``, ``maxcos_frac`` (fraction of a's features whose best match in b
    exceeds ``threshold``), ``hungarian_mean``, ``hungarian_frac`` (one-to-one matching
    maximising the total cosine; left out where ``hungarian`` is false).
    """
    C = cosine_matrix(W_a, W_b)
    best = C.max(axis=1)
    out = {"maxcos_mean": float(best.mean()), "maxcos_frac": float((best > threshold).mean())}
    if hungarian:
        rows, cols = scipy.optimize.linear_sum_assignment(C, maximize=True)
        matched = C[rows, cols]
        out |= {"hungarian_mean": float(matched.mean()), "hungarian_frac": float((matched > threshold).mean())}
    return out


def firing_correlation(codes_a: np.ndarray, codes_b: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Per-feature Pearson r across tokens between two code matrices ``(n_tokens, n_features)``.

    Features constant on either side (dead, or always on at one value) have no r; they are
    counted in ``n_undefined`` and left out of ``mean_r`` and ``frac_above`` (whose
    denominator is the defined features). ``mean_r_all`` and ``frac_above_all`` count them as
    r = 0 over every feature, as the study's code does (its denominator is clamped).
    """
    a = np.asarray(codes_a, dtype=np.float64)
    b = np.asarray(codes_b, dtype=np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    norm = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    defined = norm > 0
    r = (a * b).sum(0)[defined] / norm[defined]
    every = np.zeros(defined.shape)
    every[defined] = r
    return {
        "mean_r": float(r.mean()) if r.size else float("nan"),
        "frac_above": float((r > threshold).mean()) if r.size else float("nan"),
        "mean_r_all": float(every.mean()),
        "frac_above_all": float((every > threshold).mean()),
        "n_defined": int(defined.sum()),
        "n_undefined": int((~defined).sum()),
    }
