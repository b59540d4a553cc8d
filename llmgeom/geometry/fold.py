"""Folding the final norm into the head: the matrix that produces the logits.

``logit_j = (γ ⊙ x + b) · w_j = x · (γ ⊙ w_j) + b · w_j`` with ``x`` the normalised final hidden
state (LayerNorm: ``(h − mean)/std``, RMSNorm: ``h/rms``), ``γ`` the norm's scale (Gemma's
``1 + γ`` already added, :mod:`llmgeom.sources.final_norm`) and ``b`` its bias. The folded head
has rows ``γ ⊙ w_j``; ``b · w_j`` is a fixed per-token logit offset (None without a bias).

Example:
    >>> import torch
    >>> from llmgeom.unembedding import FinalNorm, HeadMetadata, Unembedding
    >>> norm = FinalNorm(torch.tensor([2.0, 0.5]), torch.tensor([1.0, -1.0]), "layernorm", "ln_f")
    >>> head = Unembedding(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), HeadMetadata("x", "array"),
    ...                    final_norm=norm)
    >>> folded, offset = fold_final_norm(head)
    >>> folded.weight.tolist(), offset.tolist(), folded.meta.extra["final_norm"]["weight"]
    ([[2.0, 1.0], [6.0, 2.0]], [-1.0, -1.0], 'ln_f')
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..errors import ConfigError
from ..memory import ensure_fits
from ..unembedding import Unembedding

_OFFSET_BLOCK_ROWS = 1 << 15  # rows per float64 block of the offset (bounded extra memory)


def logit_offsets(weight: torch.Tensor, bias: torch.Tensor) -> np.ndarray:
    """``b · w_j`` for every row ``j`` of ``weight``, accumulated in float64, block by block.

    Example:
        >>> logit_offsets(torch.eye(3, 2), torch.tensor([1.0, 2.0])).tolist()
        [1.0, 2.0, 0.0]
    """
    b = bias.to(device=weight.device, dtype=torch.float64)
    parts = [
        (weight[i : i + _OFFSET_BLOCK_ROWS].to(torch.float64) @ b).cpu().numpy()
        for i in range(0, int(weight.shape[0]), _OFFSET_BLOCK_ROWS)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def fold_final_norm(head: Unembedding) -> tuple[Unembedding, np.ndarray | None]:
    """The folded head ``γ ⊙ w_j`` (float32, a new tensor; ``meta.extra["final_norm"]`` says
    which norm) and the per-token logit offsets ``b · w_j`` (None when the norm has no bias)."""
    norm = head.final_norm
    if norm is None:
        raise ConfigError("fold_norm: the head carries no final norm", parameter="fold_norm")
    n, m = head.shape
    ensure_fits(n * m * 4, "the folded head (float32)")
    folded = head.weight.to(torch.float32, copy=True)
    folded.mul_(norm.scale.to(device=folded.device, dtype=torch.float32))
    offset = None if norm.bias is None else logit_offsets(head.weight, norm.bias)
    meta = replace(head.meta, extra={**head.meta.extra, "final_norm": norm.describe()})
    return Unembedding(folded, meta, norm), offset
