"""Geometry and loss metrics of a trained toy model (paper §5), computed in float64.

* φ: fraction of represented features, ``‖W_i‖ > 1/2``; strong fraction: ``‖W_i‖ > 1``;
* the overlap of represented features, the paper's Fig 6d: mean cos² between the *strongly*
  represented rows (``‖W_i‖ > 1``, Gram identity), ≈ ``1/m`` in strong superposition, next to the
  frame bound ``(n_S − m) / (m (n_S − 1))``; the same mean over all ``‖W_i‖ > 1/2`` rows is kept
  under its own name (in strong superposition the rows of norm in (1/2, 1] share one direction,
  so that mean is far above ``1/m`` at small ``m``); mean cos² and the frame bound are the
  measurement's own (:mod:`llmgeom.geometry.overlap`, :mod:`llmgeom.geometry.baselines`);
* the "unlearned features" loss ``Σ_{i∉R} (⟨v²⟩p_i − ⟨v⟩²p_i²)`` from the model's own represented
  set ``R``, and the ideal weak-regime loss with the top ``m`` features learned perfectly.

Example:
    >>> import torch
    >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 0.0]])
    >>> g = row_geometry(W)
    >>> g["phi"], g["n_represented"], g["n_strong"], g["mean_cos2_norm_gt_half"]
    (0.6666666666666666, 2, 0, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..geometry.baselines import frame_bound as frame_bound  # re-exported: llmgeom.toy.frame_bound
from ..geometry.overlap import gram_mean_cos2, normalize_rows
from .data import V2_MEAN, V_MEAN

REPRESENTED_NORM: float = 0.5
STRONG_NORM: float = 1.0
HIST_EDGES: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 2.0, 41), 6).tolist())


def mean_cos2(W: torch.Tensor) -> float | None:
    """Mean of ``(ŵ_i·ŵ_j)²`` over ordered pairs ``i ≠ j`` of the non-zero rows of ``W`` (None
    for fewer than two).

    The overlap engine's exact Gram identity (:func:`llmgeom.geometry.overlap.gram_mean_cos2`, an
    ``m × m`` Gram matrix instead of ``n × n``) on rows normalised in float64 with no epsilon; a
    zero row has no direction and is left out, as :func:`llmgeom.measure` does.

    Example:
        >>> import torch
        >>> round(mean_cos2(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])), 6)
        0.5
    """
    Wd = W.detach().to(torch.float64)
    Wd = Wd[torch.linalg.vector_norm(Wd, dim=1) > 0]
    if Wd.shape[0] < 2:
        return None
    U, _ = normalize_rows(Wd, dtype=torch.float64)
    return gram_mean_cos2(U)


def row_geometry(W: torch.Tensor) -> dict[str, Any]:
    """Row-norm statistics, φ, strong fraction and the row overlaps of ``W [n, m]``.

    ``mean_cos2_strong`` is over rows with ``‖W_i‖ > 1`` (the paper's overlap of represented
    features), ``mean_cos2_norm_gt_half`` over rows with ``‖W_i‖ > 1/2`` (the rows counted by φ);
    each is None with fewer than two such rows.

    Example:
        >>> import torch
        >>> g = row_geometry(torch.eye(4, 2) * 2)
        >>> g["strong_fraction"], g["n_strong"], g["mean_cos2_strong"]
        (0.5, 2, 0.0)
    """
    Wd = W.detach().to(torch.float64).cpu()
    n, m = Wd.shape
    norms = torch.linalg.vector_norm(Wd, dim=1)
    represented = norms > REPRESENTED_NORM
    strong = norms > STRONG_NORM
    n_rep, n_strong = int(represented.sum()), int(strong.sum())
    counts, _ = np.histogram(norms.numpy(), bins=np.asarray(HIST_EDGES))
    return {
        "phi": n_rep / n,
        "n_represented": n_rep,
        "n_strong": n_strong,
        "strong_fraction": n_strong / n,
        "norm_mean": float(norms.mean()),
        "norm_std": float(norms.std()) if n > 1 else 0.0,
        "norm_min": float(norms.min()),
        "norm_max": float(norms.max()),
        "mean_cos2_strong": mean_cos2(Wd[strong]),
        "mean_cos2_norm_gt_half": mean_cos2(Wd[represented]),
        "inverse_m": 1.0 / m,
        "frame_bound_strong": frame_bound(n_strong, m),
        "frame_bound_norm_gt_half": frame_bound(n_rep, m),
        "norm_hist_counts": counts.tolist(),
        "norm_hist_above": int((norms >= HIST_EDGES[-1]).sum()),
        "represented_mask": represented,
    }


def feature_loss_floor(p: torch.Tensor) -> torch.Tensor:
    """Per-feature loss of a feature the model does not learn: ``⟨v²⟩p_i − ⟨v⟩²p_i²``.

    It is ``E[(x_i − p_i⟨v⟩)²]``, the error of the best constant output (the bias).

    Example:
        >>> import torch
        >>> feature_loss_floor(torch.tensor([0.5], dtype=torch.float64)).tolist()
        [0.41666666666666663]
    """
    p = p.to(torch.float64)
    return V2_MEAN * p - (V_MEAN * p) ** 2


def unlearned_loss(p: torch.Tensor, represented: torch.Tensor) -> float:
    """Predicted loss if the represented set ``R`` were learned perfectly: ``Σ_{i∉R}`` floor.

    Example:
        >>> import torch
        >>> p = torch.tensor([0.5, 0.5], dtype=torch.float64)
        >>> round(unlearned_loss(p, torch.tensor([True, False])), 6)
        0.416667
    """
    floor = feature_loss_floor(p.cpu())
    return float(floor[~represented.cpu()].sum())


def ideal_weak_loss(p: torch.Tensor, m: int) -> float:
    """The paper's ideal weak-regime loss: the ``m`` most frequent features learned perfectly.

    Example:
        >>> from llmgeom.toy.data import frequencies
        >>> round(ideal_weak_loss(frequencies(10240, "power", 1.2), 8), 3)
        0.684
    """
    floor = feature_loss_floor(torch.sort(p.cpu(), descending=True).values)
    return float(floor[m:].sum())
