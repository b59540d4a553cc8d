"""Row norms and unit rows, exactly: ``u_i = w_i / ‖w_i‖`` in float64, stored in float32.

The authors divide by the norm with no epsilon; a zero row has no direction and is left as zeros
here (:mod:`llmgeom.geometry.measurement` excludes it). Chunked: no full float64 copy of the
matrix.

Example:
    >>> import torch
    >>> U, norms = normalize_rows(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))
    >>> U.tolist(), norms.tolist()
    ([[0.6000000238418579, 0.800000011920929], [0.0, 1.0]], [5.0, 2.0])
"""

from __future__ import annotations

import torch

from .blocked import chunks, progress_chunks

CHUNK_ROWS = 1024  # rows per float64 temporary in norms/normalisation/Gram (6 MB at m=768)
#: Numbers per chunk of the row passes here (norms, unit rows, sums): 2 MiB of float64, so that a
#: chunk's float64 copy stays in a core's cache between the operations on it; wide heads gain the
#: most over 1024-row chunks (``benchmarks/normalize_chunks.py``, on the benchmark page).
CHUNK_ELEMENTS = 2**18


def pass_chunk_rows(m: int) -> int:
    """Rows per chunk of the row passes for rows of width ``m``: :data:`CHUNK_ELEMENTS` numbers,
    between 16 and :data:`CHUNK_ROWS` rows. The rows are independent: the chunking changes no
    norm and no unit row, only the order of the float64 column sums.

    Example:
        >>> pass_chunk_rows(768), pass_chunk_rows(2048), pass_chunk_rows(8192), pass_chunk_rows(4)
        (341, 128, 32, 1024)
    """
    return max(16, min(CHUNK_ROWS, CHUNK_ELEMENTS // max(1, m)))


def row_norms(
    W: torch.Tensor, chunk_rows: int | None = None, progress: bool | None = False
) -> torch.Tensor:
    """Euclidean norm of every row, accumulated in float64 (chunked: no full float64 copy;
    ``chunk_rows`` defaults to :func:`pass_chunk_rows`)."""
    out = torch.empty(W.shape[0], dtype=torch.float64, device=W.device)
    chunk_rows = chunk_rows or pass_chunk_rows(W.shape[-1])
    for start, stop in progress_chunks(W.shape[0], chunk_rows, "row norms", progress):
        out[start:stop] = torch.linalg.vector_norm(W[start:stop].to(torch.float64), dim=1)
    return out


def mean_row(W: torch.Tensor, chunk_rows: int | None = None) -> torch.Tensor:
    """The mean row, accumulated in float64 chunk by chunk (no full float64 copy)."""
    total = torch.zeros(W.shape[1], dtype=torch.float64, device=W.device)
    chunk_rows = chunk_rows or pass_chunk_rows(W.shape[1])
    for start, stop in chunks(W.shape[0], chunk_rows):
        total += W[start:stop].to(torch.float64).sum(dim=0)
    return total / W.shape[0]


def normalize_rows(
    W: torch.Tensor,
    *,
    center: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int | None = None,
    out: torch.Tensor | None = None,
    norms: torch.Tensor | None = None,
    progress: bool | None = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(U, norms)`` with ``u_i = (w_i − c) / ‖w_i − c‖`` stored in ``dtype``.

    Norms and the division are float64 (no additive epsilon, so a row of norm 1e-30 still
    becomes a unit vector), the result is stored in ``dtype`` (float32 or better); a zero row
    stays zero. ``center`` (a row vector, e.g. the mean row) is optional; ``norms`` may pass
    precomputed float64 norms (without ``center``); ``out`` (which may be ``W`` itself, to save
    memory) receives ``U``.

    Example:
        >>> import torch
        >>> U, norms = normalize_rows(torch.tensor([[3e-30, 4e-30], [0.0, 0.0]]))
        >>> U.tolist(), norms[1].item()
        ([[0.6000000238418579, 0.800000011920929], [0.0, 0.0]], 0.0)
    """
    n = W.shape[0]
    U = out if out is not None else torch.empty(W.shape, dtype=dtype, device=W.device)
    shift = center.to(device=W.device, dtype=torch.float64) if center is not None else None
    given = norms if shift is None else None
    norms = torch.empty(n, dtype=torch.float64, device=W.device) if given is None else given
    _normalize_chunks(
        W, U, shift, norms, given is None, chunk_rows, progress, None, "normalising rows"
    )
    return U, norms


def normalize_rows_with_sums(
    W: torch.Tensor,
    *,
    chunk_rows: int | None = None,
    out: torch.Tensor | None = None,
    progress: bool | None = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(U, norms, ‖u_i‖², Σ_i u_i)``: :func:`normalize_rows` (float32 rows, norms computed) and,
    in the same pass, :func:`llmgeom.geometry.gram.row_sums` of the stored rows (float64, the
    same numbers): one read of ``W`` for what took three.

    Example:
        >>> import torch
        >>> U, norms, sq, total = normalize_rows_with_sums(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))
        >>> norms.tolist(), sq.round(decimals=12).tolist(), total.round(decimals=6).tolist()
        ([5.0, 2.0], [1.000000047684, 1.0], [0.6, 1.8])
    """
    n, m = W.shape
    U = out if out is not None else torch.empty(W.shape, dtype=torch.float32, device=W.device)
    norms = torch.empty(n, dtype=torch.float64, device=W.device)
    sq = torch.empty(n, dtype=torch.float64, device=W.device)
    total = torch.zeros(m, dtype=torch.float64, device=W.device)
    sums = (sq, total)
    _normalize_chunks(W, U, None, norms, True, chunk_rows, progress, sums, "row norms, unit rows")
    return U, norms, sq, total


def _normalize_chunks(
    W: torch.Tensor,
    U: torch.Tensor,
    shift: torch.Tensor | None,
    norms: torch.Tensor,
    compute_norms: bool,
    chunk_rows: int | None,
    progress: bool | None,
    sums: tuple[torch.Tensor, torch.Tensor] | None,
    desc: str,
) -> None:
    """The pass of :func:`normalize_rows`, filling ``U`` (and ``norms`` when ``compute_norms``)
    and, with ``sums = (sq, total)``, each stored row's ``‖u_i‖²`` and their sum; ``chunk_rows``
    defaults to :func:`pass_chunk_rows`."""
    chunk_rows = chunk_rows or pass_chunk_rows(W.shape[1])
    for start, stop in progress_chunks(W.shape[0], chunk_rows, desc, progress):
        block = W[start:stop].to(torch.float64)
        if shift is not None:
            block = block - shift
        if compute_norms:
            norms[start:stop] = torch.linalg.vector_norm(block, dim=1)
        chunk_norms = norms[start:stop, None]
        inverse = torch.where(chunk_norms > 0, 1.0 / chunk_norms, torch.zeros_like(chunk_norms))
        U[start:stop] = block * inverse  # rounded to U's dtype as it is stored
        if sums is not None:  # of the stored rows, in float64: squares of float32 are exact
            stored = U[start:stop].to(torch.float64)  # one conversion: vectorised reductions
            sums[0][start:stop] = torch.linalg.vector_norm(stored, dim=1)
            sums[1].add_(stored.sum(dim=0))
    if sums is not None:
        sums[0].square_()
