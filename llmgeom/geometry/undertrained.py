"""The under-trained-token indicators of Land & Bartolo (2024, "Fishing for Magikarp"), from the
weights alone: :func:`reference_cosine_distance` (the head's rows against the mean of rows known
to be unused), :func:`input_norms` (the L2 norm of the input embedding's rows, for an untied
model) and :func:`low_tail` (the candidates: the lowest percentile of eligible tokens).

The unembedding indicator of token i is

    d_i = 1 − cos(w̃_i, r̃),   w̃_i = w_i − (w_i·v) v,   r̃ = mean of w̃_j over the reference rows,

where v is the first principal component of the rows: the top right singular vector of the
*centered* matrix W − mean(W) (as scikit-learn's ``PCA(n_components=1)`` in the authors' code),
whose projection is then removed from the *uncentered* rows, as they do. A row close in
direction to the rows that never trained (low d) is under-trained: training left it where the
unused rows are. All of it in float64, in blocks of rows (two passes: the mean, then the m × m
covariance; one more for the distances), so a 150k-row head never has a float64 copy.

Example:
    >>> import numpy as np, torch
    >>> W = torch.tensor([[10.0, 1.0, 0.0], [-10.0, 1.0, 0.0], [8.0, 0.9, 0.1],
    ...                   [-9.0, 0.0, 1.0], [9.0, 0.1, 1.0]])  # first component: along x
    >>> d = reference_cosine_distance(W, np.array([False, True, False, False, False]))
    >>> d.round(3).tolist()  # rows 0 and 2 point where the reference row 1 does, once x is gone
    [0.008, 0.0, 0.027, 0.981, 1.031]
    >>> low_tail(d, np.array([True, False, True, True, True]), 40.0)[0].tolist()
    [True, False, True, False, False]
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError

BLOCK_ROWS = 8192  # rows converted to float64 at a time


def _blocks(W: torch.Tensor, rows: np.ndarray, block_rows: int):
    """The given rows of ``W`` as float64 CPU blocks, in order."""
    index = torch.from_numpy(rows)
    for start in range(0, rows.size, block_rows):
        part = index[start : start + block_rows]
        yield W[part.to(W.device)].detach().to("cpu", torch.float64)


def first_principal_component(
    W: torch.Tensor, rows: np.ndarray | None = None, *, block_rows: int = BLOCK_ROWS
) -> torch.Tensor:
    """The first principal component (unit, float64) of the rows ``rows`` (ids; default all) of
    ``W``: the top eigenvector of the centered covariance Σ (w_i − μ)(w_i − μ)ᵀ, its sign
    arbitrary.

    Example:
        >>> W = torch.tensor([[0.0, 1.0], [0.0, -1.0], [2.0, 0.0], [-2.0, 0.0]])
        >>> first_principal_component(W).abs().tolist()
        [1.0, 0.0]
    """
    rows = np.arange(W.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.size < 2:
        raise ConfigError("the first principal component needs at least two rows")
    total = torch.zeros(W.shape[1], dtype=torch.float64)
    for block in _blocks(W, rows, block_rows):
        total += block.sum(dim=0)
    mean = total / rows.size
    covariance = torch.zeros(W.shape[1], W.shape[1], dtype=torch.float64)
    for block in _blocks(W, rows, block_rows):
        centered = block - mean
        covariance += centered.T @ centered
    _, vectors = torch.linalg.eigh(covariance)
    return vectors[:, -1].contiguous()


def reference_cosine_distance(
    W: torch.Tensor,
    reference: np.ndarray,
    *,
    usable: np.ndarray | None = None,
    block_rows: int = BLOCK_ROWS,
) -> np.ndarray:
    """``d_i = 1 − cos(w̃_i, r̃)`` for every row (float64; see the module docstring).

    ``reference``: a boolean mask of the rows known to be unused; ``usable``: the rows that
    take part (default: every row with finite entries): the principal component is theirs, the
    reference mean is over the usable reference rows, and the others' value is NaN, as is a
    zero row's (no direction). A ``ConfigError`` when no usable row is in the reference or the
    reference mean is zero once the component is removed.

    Example:
        >>> W = torch.tensor([[4.0, 1.0, 0.0], [-4.0, 1.0, 0.1], [0.0, 0.0, 0.0],
        ...                   [3.0, 0.0, 1.0], [-3.0, 0.2, -1.0]])
        >>> reference = np.array([True, False, False, False, False])
        >>> reference_cosine_distance(W, reference).round(3).tolist()  # row 2: no direction
        [0.0, 0.411, nan, 1.345, 0.391]
    """
    n = W.shape[0]
    reference = np.asarray(reference, dtype=bool)
    if usable is None:
        usable = torch.isfinite(W).all(dim=1).cpu().numpy()
    usable = np.asarray(usable, dtype=bool)
    rows = np.flatnonzero(usable)
    ref_rows = np.flatnonzero(usable & reference)
    if ref_rows.size == 0:
        raise ConfigError("reference: no usable row is in the reference set", parameter="reference")
    v = first_principal_component(W, rows, block_rows=block_rows)
    ref_sum = torch.zeros(W.shape[1], dtype=torch.float64)
    for block in _blocks(W, ref_rows, block_rows):
        ref_sum += block.sum(dim=0)
    r = ref_sum / ref_rows.size
    r = r - (r @ v) * v  # the mean of the rows without the component: the component removed
    r_norm = float(torch.linalg.vector_norm(r))
    if not r_norm > 0:
        raise ConfigError(
            "reference: the reference rows' mean is zero once the first principal component is "
            "removed",
            parameter="reference",
        )
    out = np.full(n, np.nan)
    start = 0
    for block in _blocks(W, rows, block_rows):
        without = block - torch.outer(block @ v, v)
        norms = torch.linalg.vector_norm(without, dim=1)
        cos = (without @ r) / (norms * r_norm)
        values = (1.0 - cos).numpy()
        values[norms.numpy() == 0] = np.nan
        out[rows[start : start + block.shape[0]]] = values
        start += block.shape[0]
    return out


def input_norms(E: torch.Tensor, *, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """The L2 norm of every row of the input embedding ``E``, in float64 (NaN for a row with
    NaN/inf).

    Example:
        >>> input_norms(torch.tensor([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [5.0, 0.0]
    """
    rows = np.arange(E.shape[0])
    parts = [torch.linalg.vector_norm(b, dim=1) for b in _blocks(E, rows, block_rows)]
    out = torch.cat(parts).numpy() if parts else np.zeros(0)
    out[~np.isfinite(out)] = np.nan
    return out


def low_tail(
    values: np.ndarray, eligible: np.ndarray, percentile: float
) -> tuple[np.ndarray, float | None]:
    """``(candidates, threshold)``: the threshold is the ``percentile``-th percentile (numpy's
    linear interpolation) of ``values`` over the eligible tokens with a finite value; the
    candidates are those at or below it (None and no candidate when none is eligible).

    Example:
        >>> mask, threshold = low_tail(np.arange(10.0), np.ones(10, bool), 20.0)
        >>> np.flatnonzero(mask).tolist(), threshold
        ([0, 1], 1.8)
    """
    values = np.asarray(values, dtype=np.float64)
    pool = np.asarray(eligible, dtype=bool) & np.isfinite(values)
    if not pool.any():
        return np.zeros(values.shape, dtype=bool), None
    threshold = float(np.percentile(values[pool], percentile))
    return pool & (values <= threshold), threshold
