"""Exact pair statistics from the ``m × m`` Gram matrix: no ``n × n`` work.

* :func:`gram_statistics` — mean cos² over pairs i<j through the Gram identity
  ``Σ_{i≠j} (u_i·u_j)² = ‖UᵀU‖_F² − Σ_i ‖u_i‖⁴`` (O(n·m²)), mean cos, the participation ratio
  and the top eigen-direction's share.
* :func:`scaled_gram_matrices` — ``UᵀU`` and ``WᵀW`` (the raw rows) in one pass, for the
  spectrum (:mod:`llmgeom.geometry.spectrum`).
* :func:`weighted_gram_statistics` — the same identity with row weights ``p_i`` (token
  frequencies): ``Σ_{i,j} p_i p_j cos²_ij = ‖Uᵀ diag(p) U‖_F²``.

Example:
    >>> import torch
    >>> from llmgeom.geometry.normalize import normalize_rows
    >>> U, _ = normalize_rows(torch.eye(4, 3, dtype=torch.float64))
    >>> round(gram_statistics(U)["mean_cos2"], 12)
    0.0
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .blocked import chunks, full_precision, progress_chunks
from .lanczos import top_eigenvalue_by_lanczos
from .normalize import CHUNK_ROWS

EIGSH_MIN_WIDTH = 1024  # above this width only the top eigenvalue is computed (Lanczos)
#: Rows per chunk of the Gram products: float32 sums within a chunk, float64 sums across chunks.
#: Entry errors stay near 1e-7 of the largest entry, as with 1024-row chunks (measured against
#: float64 on 60000 random bfloat16 rows), and the float64 adds of ``m × m`` blocks, a quarter of
#: the time at ``m = 8192`` with 1024-row chunks, become negligible. The chunks are views of
#: ``U``: no copy.
GRAM_CHUNK_ROWS = 16384
#: Columns per block of the upper block triangle: only the blocks on and above the diagonal are
#: multiplied (torch has no ``syrk``), about half the products of ``UᵀU``, then mirrored.
GRAM_BLOCK_COLUMNS = 512
#: Numbers in a chunk of scaled rows (:func:`scaled_gram_matrices`, a copy): 256 MiB of float32,
#: 16384 rows up to m = 4096. Each chunk adds its ``m × m`` blocks to the float64 sums, so at
#: m = 8192 the 2048-row chunks of 64 MiB made those adds a tenth of ``WᵀW``'s time.
SCALED_CHUNK_ELEMENTS = 2**26


def column_blocks(m: int, width: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the column blocks of the upper block triangle.

    Example:
        >>> column_blocks(5, 2)
        [(0, 2), (2, 4), (4, 5)]
    """
    return list(chunks(m, max(1, width)))


def _mirrored(G: torch.Tensor) -> torch.Tensor:
    """``G`` made symmetric from its upper triangle, diagonal included (in place)."""
    G.triu_()
    G += G.triu(1).T
    return G


def _accumulate_upper(G: torch.Tensor, rows: torch.Tensor, blocks: list[tuple[int, int]]) -> None:
    """``G[:k, j:k] += rows[:, :k]ᵀ rows[:, j:k]`` for each column block ``[j, k)``: the blocks
    of ``rowsᵀ rows`` on and above the diagonal."""
    for j, k in blocks:
        G[:k, j:k] += rows[:, :k].T @ rows[:, j:k]


def _gram_pass(
    U: torch.Tensor,
    scales: torch.Tensor | None,
    chunk_rows: int | None,
    progress: bool | None,
    block_columns: int | None,
    plain: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``UᵀU`` (``plain``) and, with ``scales`` ``s``, ``(sU)ᵀ(sU)``: per row chunk, the blocks on
    and above the diagonal (float32 products), summed in float64 across chunks, mirrored. The
    scaled rows are a copy: their chunks hold at most :data:`SCALED_CHUNK_ELEMENTS` numbers.
    ``chunk_rows`` and ``block_columns`` default to :data:`GRAM_CHUNK_ROWS` and
    :data:`GRAM_BLOCK_COLUMNS`."""
    m = U.shape[1]
    chunk_rows = GRAM_CHUNK_ROWS if chunk_rows is None else chunk_rows
    block_columns = GRAM_BLOCK_COLUMNS if block_columns is None else block_columns
    zeros = functools.partial(torch.zeros, m, m, dtype=torch.float64, device=U.device)
    G = zeros() if plain else None
    G_scaled = None if scales is None else zeros()
    if scales is not None:
        chunk_rows = max(1, min(chunk_rows, SCALED_CHUNK_ELEMENTS // max(1, m)))
    blocks = column_blocks(m, block_columns)
    with full_precision():
        for start, stop in progress_chunks(U.shape[0], chunk_rows, "Gram matrix", progress):
            chunk = U[start:stop]
            if not chunk.is_floating_point() or chunk.element_size() < 4:
                chunk = chunk.float()  # bfloat16/float16 rows: float32 products
            if G is not None:
                _accumulate_upper(G, chunk, blocks)
            if G_scaled is not None and scales is not None:
                _accumulate_upper(G_scaled, chunk * scales[start:stop, None], blocks)
    return tuple(None if M is None else _mirrored(M) for M in (G, G_scaled))  # type: ignore


def gram_matrix(
    U: torch.Tensor,
    chunk_rows: int | None = None,
    progress: bool | None = False,
    block_columns: int | None = None,
) -> torch.Tensor:
    """``UᵀU`` accumulated in float64 from float32 (or float64) products of row chunks, only the
    blocks on and above the diagonal computed (see :data:`GRAM_BLOCK_COLUMNS`).

    Example:
        >>> import torch
        >>> gram_matrix(torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]), block_columns=2).tolist()
        [[1.0, 2.0, 0.0], [2.0, 5.0, 1.0], [0.0, 1.0, 1.0]]
    """
    G = _gram_pass(U, None, chunk_rows, progress, block_columns)[0]
    assert G is not None
    return G


def scaled_gram_matrices(
    U: torch.Tensor,
    scales: torch.Tensor,
    chunk_rows: int | None = None,
    progress: bool | None = False,
    block_columns: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(UᵀU, Uᵀ diag(s²) U)`` in one pass over ``U``'s chunks, as :func:`gram_matrix` (float32
    chunk products, float64 accumulation). With ``s`` the row norms of a matrix ``W`` and ``U``
    its unit rows, the second is ``WᵀW``: twice the products of :func:`gram_matrix`, one read.

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> G, G_raw = scaled_gram_matrices(U, torch.tensor([3.0, 2.0]))
        >>> G.diagonal().tolist(), G_raw.diagonal().tolist()
        ([1.0, 1.0], [9.0, 4.0])
    """
    G, G_scaled = _scaled_pass(U, scales, chunk_rows, progress, block_columns, plain=True)
    assert G is not None
    return G, G_scaled


def raw_gram_matrix(
    U: torch.Tensor,
    scales: torch.Tensor,
    chunk_rows: int | None = None,
    progress: bool | None = False,
    block_columns: int | None = None,
) -> torch.Tensor:
    """``Uᵀ diag(s²) U`` alone (``WᵀW`` for unit rows ``U`` of norms ``s``), as the second matrix
    of :func:`scaled_gram_matrices`.

    Example:
        >>> import torch
        >>> raw_gram_matrix(torch.eye(2), torch.tensor([3.0, 2.0])).tolist()
        [[9.0, 0.0], [0.0, 4.0]]
    """
    return _scaled_pass(U, scales, chunk_rows, progress, block_columns, plain=False)[1]


def _scaled_pass(
    U: torch.Tensor,
    scales: torch.Tensor,
    chunk_rows: int | None,
    progress: bool | None,
    block_columns: int | None,
    plain: bool,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """:func:`_gram_pass` with the row scales ``s``, after dividing them by a power of 2
    (exact) that brings them below 1: no float32 overflow, whatever the norms."""
    s64 = scales.to(device=U.device, dtype=torch.float64).flatten()
    if s64.numel() != U.shape[0]:
        raise ValueError(f"{s64.numel()} scales for {U.shape[0]} rows")
    largest = float(s64.abs().max()) if s64.numel() else 0.0
    top = 2.0 ** math.frexp(largest)[1] if largest > 0 else 1.0
    dtype = U.dtype if U.dtype == torch.float64 else torch.float32
    G, G_scaled = _gram_pass(U, (s64 / top).to(dtype), chunk_rows, progress, block_columns, plain)
    assert G_scaled is not None
    return G, G_scaled * (top * top)


def row_sums(U: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(‖u_i‖² per row, Σ_i u_i)`` in float64, chunk by chunk.

    Example:
        >>> import torch
        >>> sq, total = row_sums(torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
        >>> sq.tolist(), total.tolist()
        ([25.0, 1.0], [4.0, 4.0])
    """
    sq = torch.zeros(U.shape[0], dtype=torch.float64, device=U.device)
    total = torch.zeros(U.shape[1], dtype=torch.float64, device=U.device)
    for start, stop in chunks(U.shape[0], chunk_rows):
        block = U[start:stop].to(torch.float64)
        sq[start:stop] = (block * block).sum(dim=1)
        total += block.sum(dim=0)
    return sq, total


def mean_cos2_of_gram(G: torch.Tensor, sq: torch.Tensor) -> float:
    """``(‖G‖_F² − Σ‖u_i‖⁴) / (n(n−1))``: the Gram identity for the mean cos² over pairs i≠j,
    from ``G = UᵀU`` and the rows' ``‖u_i‖²`` (``sq``, one per row).

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
        >>> round(mean_cos2_of_gram(U.T @ U, torch.ones(3, dtype=torch.float64)), 12)
        0.333333333333
    """
    n = sq.numel()
    return max(0.0, (float((G * G).sum()) - float((sq * sq).sum())) / (n * (n - 1)))


def gram_mean_cos2(U: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> float:
    """Exact mean cos² over pairs i<j via ``(‖UᵀU‖_F² − Σ‖u_i‖⁴) / (n(n−1))``; O(n·m²)."""
    sq, _ = row_sums(U, chunk_rows)
    return mean_cos2_of_gram(gram_matrix(U), sq)


def top_eigenvalue(G: torch.Tensor) -> float:
    """Largest eigenvalue of the symmetric matrix ``G`` (float64).

    Up to :data:`EIGSH_MIN_WIDTH` columns a full ``eigvalsh``; above, Lanczos iteration
    (:func:`~llmgeom.geometry.lanczos.top_eigenvalue_by_lanczos`, relative accuracy 1e-10) for
    the top eigenvalue only: seconds instead of minutes for an 8192-wide Gram matrix on a CPU.

    Example:
        >>> import torch
        >>> top_eigenvalue(torch.diag(torch.tensor([1.0, 5.0, 2.0], dtype=torch.float64)))
        5.0
    """
    if G.shape[0] <= EIGSH_MIN_WIDTH:
        return float(torch.linalg.eigvalsh(G)[-1])
    matrix = G.detach().to(torch.float64).cpu().numpy()
    start = np.ones(matrix.shape[0])  # deterministic start vector: reproducible results
    top = top_eigenvalue_by_lanczos(lambda x: matrix @ x, start)
    assert top is not None  # no step limit: at worst m steps span R^m
    return top


def gram_statistics(
    U: torch.Tensor, chunk_rows: int = CHUNK_ROWS, progress: bool | None = False
) -> dict[str, float]:
    """Exact pair statistics from the Gram matrix (no n×n work).

    Returns mean cos² and mean cos over pairs i<j, the participation ratio
    ``(Σ‖u_i‖²)² / ‖UᵀU‖_F²`` of the Gram spectrum and the fraction of ``Σ‖u_i‖²`` carried by
    the top eigen-direction.
    """
    if U.shape[0] < 2:
        raise ValueError("pair statistics need at least 2 rows")
    G = gram_matrix(U, progress=progress)
    sq, total = row_sums(U, chunk_rows)
    return statistics_of_gram(G, sq, total, top_eigenvalue(G))


def statistics_of_gram(
    G: torch.Tensor, sq: torch.Tensor, total: torch.Tensor, top: float
) -> dict[str, float]:
    """The statistics of :func:`gram_statistics` from its parts: ``G = UᵀU``, the rows'
    ``‖u_i‖²`` and ``Σ_i u_i`` (:func:`row_sums`) and ``G``'s largest eigenvalue ``top``.

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
        >>> G = U.T @ U
        >>> s = statistics_of_gram(G, *row_sums(U), top=2.0)
        >>> round(s["mean_cos2"], 12), s["participation_ratio"], round(s["top_eigen_fraction"], 6)
        (0.333333333333, 1.8, 0.666667)
    """
    n = sq.numel()
    fro2 = float((G * G).sum())
    trace = float(sq.sum())
    mean_cos2 = mean_cos2_of_gram(G, sq)
    mean_cos = (float(total @ total) - trace) / (n * (n - 1))
    return {
        "mean_cos2": mean_cos2,
        "mean_cos": mean_cos,
        "participation_ratio": trace * trace / fro2 if fro2 > 0 else float("nan"),
        "top_eigen_fraction": top / trace if trace > 0 else float("nan"),
    }


def weighted_gram_statistics(
    U: torch.Tensor, weights: torch.Tensor, chunk_rows: int = CHUNK_ROWS
) -> dict[str, float]:
    """Exact weighted means over pairs i≠j, weight ``p_i p_j``, by the Gram identity.

    ``weights`` (``p``, non-negative, any scale) has one entry per row of ``U``. With
    ``G_p = Uᵀ diag(p) U`` (float64 chunk products and accumulation),
    ``Σ_{i≠j} p_i p_j cos²_ij = ‖G_p‖_F² − Σ_i p_i² ‖u_i‖⁴`` and the pair weight is
    ``Σ_{i≠j} p_i p_j = (Σp)² − Σp²``; the signed mean cos uses ``‖Σ_i p_i u_i‖²`` the same
    way. Also returns the effective number of rows ``(Σp)² / Σp²`` (``1/Σp²`` for p summing
    to 1). O(n·m²), no n×n work.

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> s = weighted_gram_statistics(U, torch.tensor([1.0, 1.0, 0.0]))
        >>> s["weighted_mean_cos2"], s["effective_rows"]
        (1.0, 2.0)
    """
    n, m = U.shape
    p = weights.to(device=U.device, dtype=torch.float64).flatten()
    if p.numel() != n:
        raise ValueError(f"{p.numel()} weights for {n} rows")
    G = torch.zeros(m, m, dtype=torch.float64, device=U.device)
    sq = torch.zeros(n, dtype=torch.float64, device=U.device)
    total = torch.zeros(m, dtype=torch.float64, device=U.device)
    with full_precision():
        for start, stop in chunks(n, chunk_rows):
            # float64 products: with uneven weights Σ p_i² ‖u_i‖⁴ is most of ‖G_p‖_F² and is
            # subtracted, so float32 products would lose digits to the cancellation
            wide = U[start:stop].to(torch.float64)
            pw = p[start:stop]
            G += wide.T @ (wide * pw[:, None])
            sq[start:stop] = (wide * wide).sum(dim=1)
            total += pw @ wide
    p_sum = float(p.sum())
    p_sq = float((p * p).sum())
    pair_weight = p_sum * p_sum - p_sq
    if not pair_weight > 0:
        raise ValueError("weighted pair statistics need positive weight on at least 2 rows")
    cos2 = float((G * G).sum()) - float((p * p * sq * sq).sum())
    cos = float(total @ total) - float((p * p * sq).sum())
    return {
        "weighted_mean_cos2": max(0.0, cos2 / pair_weight),
        "weighted_mean_cos": cos / pair_weight,
        "pair_weight": pair_weight,
        "effective_rows": p_sum * p_sum / p_sq,
    }
