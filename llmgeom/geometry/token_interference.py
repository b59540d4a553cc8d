"""Every token's interference, exactly, from the ``m × m`` Gram matrix: no ``n × n`` work.

For unit rows ``u_i`` and ``G = Σ_j u_j u_jᵀ`` (``UᵀU``), ``u_iᵀ G u_i = Σ_j cos²_ij``, so a
token's mean cos² with all the others is ``(u_iᵀ G u_i − ‖u_i‖⁴) / (n − 1)`` (``‖u_i‖ = 1`` up to
float32 rounding, which the subtraction takes exactly): one ``m × m`` product per row, O(n·m²) for
all tokens at once. With frequencies ``p`` (summing to 1) and ``G_p = Σ_j p_j u_j u_jᵀ``, the
frequency-weighted one ``Σ_{j≠i} p_j cos²_ij / Σ_{j≠i} p_j`` is
``(u_iᵀ G_p u_i − p_i ‖u_i‖⁴) / (1 − p_i)``.

The Gram matrices come from :func:`~llmgeom.geometry.gram.scaled_gram_matrices` (float32 chunk
products, float64 accumulation, TF32 off); the quadratic forms are float32 products with ``G``
rounded to float32, summed per row in float64 (relative error about 1e-7 of ``u_iᵀ G u_i``).
:func:`nearest_neighbours` is the exact blocked pass of
:func:`~llmgeom.geometry.overlap.pairwise_statistics` (each row's largest |cos| and its partner),
for heads small enough (:func:`~llmgeom.geometry.pass_cost.prefers_exact`).

Example:
    >>> import torch
    >>> U = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> [round(x, 6) for x in token_interference(U).tolist()]   # cos²: 0.36, 0, 0.64
    [0.18, 0.5, 0.32]
"""

from __future__ import annotations

import torch

from .blocked import full_precision, progress_chunks
from .gram import gram_matrix, scaled_gram_matrices
from .normalize import CHUNK_ROWS
from .overlap import pairwise_statistics


def quadratic_form_rows(m: int) -> int:
    """Rows per chunk of :func:`quadratic_forms`: products of about 2**23 floats (32 MiB in
    float32), at least :data:`~llmgeom.geometry.normalize.CHUNK_ROWS`: large enough that the
    ``chunk × m`` by ``m × m`` product runs at full speed (about twice as fast as 1024-row
    chunks at ``m`` = 768 on a CPU), small beside the matrix itself.

    Example:
        >>> quadratic_form_rows(768), quadratic_form_rows(8192)
        (10922, 1024)
    """
    return max(CHUNK_ROWS, 2**23 // max(1, m))


def quadratic_forms(
    U: torch.Tensor, G: torch.Tensor, chunk_rows: int | None = None, progress: bool | None = False
) -> torch.Tensor:
    """``u_iᵀ G u_i`` for every row ``u_i`` of ``U`` (float64): float32 products ``U[chunk] @ G``
    (``G`` rounded to ``U``'s dtype, TF32 off) times ``u_i`` element by element, each row's sum
    in float64.

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> quadratic_forms(U, torch.tensor([[2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)).tolist()
        [2.0, 5.0]
    """
    out = torch.empty(U.shape[0], dtype=torch.float64, device=U.device)
    G32 = G.to(device=U.device, dtype=U.dtype)
    chunk_rows = chunk_rows or quadratic_form_rows(U.shape[1])
    with full_precision():
        for start, stop in progress_chunks(U.shape[0], chunk_rows, "token interference", progress):
            block = U[start:stop]
            out[start:stop] = (block @ G32).mul_(block).sum(dim=1, dtype=torch.float64)
    return out


def _squared_norms(U: torch.Tensor) -> torch.Tensor:
    return U.to(torch.float64).square().sum(dim=1)


def token_interference(
    U: torch.Tensor, G: torch.Tensor | None = None, progress: bool | None = False
) -> torch.Tensor:
    """Each row's mean cos² with all other rows, ``(u_iᵀ G u_i − ‖u_i‖⁴) / (n − 1)`` (float64,
    at least 0), for unit rows ``U`` (``n ≥ 2``); ``G = UᵀU`` is computed unless given.

    Example:
        >>> import torch
        >>> token_interference(torch.eye(3, 4)).tolist()     # orthonormal rows: no overlap
        [0.0, 0.0, 0.0]
    """
    n = U.shape[0]
    if n < 2:
        raise ValueError("token interference needs at least 2 rows")
    if G is None:
        G = gram_matrix(U, progress=progress)
    sq = _squared_norms(U)
    return ((quadratic_forms(U, G, progress=progress) - sq * sq) / (n - 1)).clamp_(min=0.0)


def weighted_token_interference(
    U: torch.Tensor, p: torch.Tensor, G_p: torch.Tensor | None = None, progress: bool | None = False
) -> torch.Tensor:
    """Each row's frequency-weighted mean cos² with the other rows,
    ``Σ_{j≠i} p_j cos²_ij / Σ_{j≠i} p_j = (u_iᵀ G_p u_i − p_i ‖u_i‖⁴) / (1 − p_i)`` with
    ``G_p = Σ_j p_j u_j u_jᵀ`` (computed unless given); ``p`` is normalised to sum 1 here. A row
    that carries all the weight (``p_i = 1``) has no weighted partner: NaN.

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> weighted_token_interference(U, torch.tensor([1.0, 1.0, 2.0])).tolist()
        [0.3333333333333333, 0.3333333333333333, 0.0]
    """
    p64 = p.to(device=U.device, dtype=torch.float64).flatten()
    p64 = p64 / p64.sum()
    if G_p is None:
        _, G_p = scaled_gram_matrices(U, p64.sqrt(), progress=progress)
    sq = _squared_norms(U)
    rest = 1.0 - p64
    value = (quadratic_forms(U, G_p, progress=progress) - p64 * sq * sq) / rest
    return torch.where(rest > 0, value.clamp(min=0.0), torch.full_like(value, float("nan")))


def nearest_neighbours(
    U: torch.Tensor, budget_bytes: int | None = None, progress: bool | None = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(partner, |cos|)``: for every row the other row of largest |cos| and that |cos|, by the
    exact blocked pass over all pairs (O(n²·m): see
    :func:`~llmgeom.geometry.pass_cost.prefers_exact` for when it is affordable).

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
        >>> partner, cos = nearest_neighbours(U)
        >>> partner.tolist(), [round(c, 6) for c in cos.tolist()]
        ([1, 2, 1], [0.6, 0.8, 0.8])
    """
    found = pairwise_statistics(U, budget_bytes=budget_bytes, progress=progress)
    partner = torch.from_numpy(found["partner_per_row"]).to(torch.int64)
    return partner, torch.from_numpy(found["max_abs_cos_per_row"]).to(torch.float64)
