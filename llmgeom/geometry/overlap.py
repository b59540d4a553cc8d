"""The overlap engine: exact statistics of pairwise cosines between the rows of a matrix.

All functions take a row-normalised float32 matrix ``U`` (``[n, m]``, see :func:`normalize_rows`)
and return plain dictionaries of Python floats (and a few arrays).

* :func:`gram_statistics` — mean cos² over pairs i<j, EXACT through the Gram identity
  ``Σ_{i≠j} (u_i·u_j)² = ‖UᵀU‖_F² − Σ_i ‖u_i‖⁴``: an ``m×m`` matrix, O(n·m²) work.
* :func:`pairwise_statistics` — mean and std of |cos| (the authors' ``mean_over``/``std_over``),
  a histogram of cos, and each row's max |cos| with its partner: a blocked pass over the upper
  triangle (float32 products, float64 accumulation, row blocks sized from a memory budget).
* :func:`weighted_gram_statistics` — the same Gram identity with row weights ``p_i`` (token
  frequencies): ``Σ_{i,j} p_i p_j cos²_ij = ‖Uᵀ diag(p) U‖_F²``, O(n·m²). Passing ``weights``
  to the exact pass adds the weighted pair sum ``Σ p_i p_j |cos_ij|``.

Where the exact pass is too much work, :mod:`llmgeom.geometry.sampling` estimates the |cos|
statistics (random pairs for the means, random whole rows for the per-token maxima) and predicts the
exact pass's time.

Rows are normalised exactly, ``u_i = w_i / ‖w_i‖`` in float64 then stored in float32 (the authors
divide by the norm with no epsilon; a zero row has no direction and is left as zeros here, and
:mod:`llmgeom.geometry.measurement` excludes it). Everything runs on the device ``U`` lives on; TF32
is disabled for the duration. Chunked passes show a progress bar (with ETA) when they last more than
a couple of seconds.

Example:
    >>> import torch
    >>> U, _ = normalize_rows(torch.eye(4, 3, dtype=torch.float64))
    >>> round(gram_statistics(U)["mean_cos2"], 12)
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ..memory import release_free_memory
from ..progress import progress_bar

DEFAULT_BINS = 200  # histogram bins when one is asked for (it costs ~30% of a CPU pass)
CHUNK_ROWS = 1024  # rows per float64 temporary in norms/normalisation/Gram (6 MB at m=768)
# histogram range: a hair wider than [-1, 1] so float32 rounding of |cos| = 1 is never dropped
HIST_RANGE = (-1.0001, 1.0001)
EIGSH_MIN_WIDTH = 1024  # above this width only the top eigenvalue is computed (Lanczos)


@contextmanager
def full_precision() -> Iterator[None]:
    """Disable TF32 (and reduced-precision float32 matmuls) inside the block."""
    cuda_tf32 = torch.backends.cuda.matmul.allow_tf32
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = cuda_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.set_float32_matmul_precision(precision)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _progress_chunks(
    n: int, size: int, desc: str | None, progress: bool | None
) -> Iterator[tuple[int, int]]:
    """``_chunks`` with a row-count progress bar that appears only on long steps."""
    if desc is None or progress is False:
        yield from _chunks(n, size)
        return
    with progress_bar(n, desc, progress=progress) as bar:
        for start, stop in _chunks(n, size):
            yield start, stop
            bar.update(stop - start)


def row_norms(
    W: torch.Tensor, chunk_rows: int = CHUNK_ROWS, progress: bool | None = False
) -> torch.Tensor:
    """Euclidean norm of every row, accumulated in float64 (chunked: no full float64 copy)."""
    out = torch.empty(W.shape[0], dtype=torch.float64, device=W.device)
    for start, stop in _progress_chunks(W.shape[0], chunk_rows, "row norms", progress):
        out[start:stop] = torch.linalg.vector_norm(W[start:stop].to(torch.float64), dim=1)
    return out


def mean_row(W: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """The mean row, accumulated in float64 chunk by chunk (no full float64 copy)."""
    total = torch.zeros(W.shape[1], dtype=torch.float64, device=W.device)
    for start, stop in _chunks(W.shape[0], chunk_rows):
        total += W[start:stop].to(torch.float64).sum(dim=0)
    return total / W.shape[0]


def normalize_rows(
    W: torch.Tensor,
    *,
    center: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int = CHUNK_ROWS,
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
    for start, stop in _progress_chunks(n, chunk_rows, "normalising rows", progress):
        block = W[start:stop].to(torch.float64)
        if shift is not None:
            block = block - shift
        if given is None:
            norms[start:stop] = torch.linalg.vector_norm(block, dim=1)
        chunk_norms = norms[start:stop, None]
        inverse = torch.where(chunk_norms > 0, 1.0 / chunk_norms, torch.zeros_like(chunk_norms))
        U[start:stop] = (block * inverse).to(U.dtype)
    return U, norms


def gram_matrix(
    U: torch.Tensor, chunk_rows: int = CHUNK_ROWS, progress: bool | None = False
) -> torch.Tensor:
    """``UᵀU`` accumulated in float64 from float32 (or float64) chunk products."""
    m = U.shape[1]
    G = torch.zeros(m, m, dtype=torch.float64, device=U.device)
    with full_precision():
        for start, stop in _progress_chunks(U.shape[0], chunk_rows, "Gram matrix", progress):
            block = U[start:stop]
            G += (block.T @ block).to(torch.float64)
    return G


def _row_sums(U: torch.Tensor, chunk_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(‖u_i‖² per row, Σ_i u_i)`` in float64, chunk by chunk."""
    sq = torch.zeros(U.shape[0], dtype=torch.float64, device=U.device)
    total = torch.zeros(U.shape[1], dtype=torch.float64, device=U.device)
    for start, stop in _chunks(U.shape[0], chunk_rows):
        block = U[start:stop].to(torch.float64)
        sq[start:stop] = (block * block).sum(dim=1)
        total += block.sum(dim=0)
    return sq, total


def _mean_cos2(G: torch.Tensor, sq: torch.Tensor) -> float:
    """``(‖G‖_F² − Σ‖u_i‖⁴) / (n(n−1))``: the Gram identity for the mean over pairs i≠j."""
    n = sq.numel()
    return max(0.0, (float((G * G).sum()) - float((sq * sq).sum())) / (n * (n - 1)))


def gram_mean_cos2(U: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> float:
    """Exact mean cos² over pairs i<j via ``(‖UᵀU‖_F² − Σ‖u_i‖⁴) / (n(n−1))``; O(n·m²)."""
    sq, _ = _row_sums(U, chunk_rows)
    return _mean_cos2(gram_matrix(U, chunk_rows), sq)


def top_eigenvalue(G: torch.Tensor) -> float:
    """Largest eigenvalue of the symmetric matrix ``G`` (float64).

    Up to :data:`EIGSH_MIN_WIDTH` columns a full ``eigvalsh``; above, Lanczos iteration
    (``scipy.sparse.linalg.eigsh``) for the top eigenvalue only: seconds instead of minutes
    for an 8192-wide Gram matrix on a CPU.

    Example:
        >>> import torch
        >>> top_eigenvalue(torch.diag(torch.tensor([1.0, 5.0, 2.0], dtype=torch.float64)))
        5.0
    """
    if G.shape[0] <= EIGSH_MIN_WIDTH:
        return float(torch.linalg.eigvalsh(G)[-1])
    from scipy.sparse.linalg import eigsh

    matrix = G.detach().cpu().numpy()
    start = np.ones(matrix.shape[0])  # deterministic start vector: reproducible results
    return float(eigsh(matrix, k=1, which="LA", v0=start, tol=1e-12, return_eigenvectors=False)[0])


def gram_statistics(
    U: torch.Tensor, chunk_rows: int = CHUNK_ROWS, progress: bool | None = False
) -> dict[str, float]:
    """Exact pair statistics from the Gram matrix (no n×n work).

    Returns mean cos² and mean cos over pairs i<j, the effective dimension
    ``(Σ‖u_i‖²)² / ‖UᵀU‖_F²`` (participation ratio of the Gram spectrum) and the fraction of
    ``Σ‖u_i‖²`` carried by the top eigen-direction.
    """
    n = U.shape[0]
    if n < 2:
        raise ValueError("pair statistics need at least 2 rows")
    G = gram_matrix(U, chunk_rows, progress=progress)
    sq, total = _row_sums(U, chunk_rows)
    fro2 = float((G * G).sum())
    trace = float(sq.sum())
    mean_cos2 = _mean_cos2(G, sq)
    mean_cos = (float(total @ total) - trace) / (n * (n - 1))
    top = top_eigenvalue(G)
    return {
        "mean_cos2": mean_cos2,
        "mean_cos": mean_cos,
        "effective_dim": trace * trace / fro2 if fro2 > 0 else float("nan"),
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
        for start, stop in _chunks(n, chunk_rows):
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


def block_rows_for(n: int, budget_bytes: int, itemsize: int = 4) -> int:
    """Rows per block so that a block of products (rows × n) fits in ``budget_bytes``."""
    rows = budget_bytes // max(1, n * itemsize)
    return int(max(1, min(n, rows)))


def default_budget(device: torch.device) -> int:
    """Memory for one block of products: a quarter of free GPU memory, 64 MiB on the CPU.

    On the CPU a block of a few hundred rows already runs the matmul at full speed; a small
    buffer keeps the peak memory of a measurement near the size of the matrix itself.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.25)
    return 64 * 2**20


class _Accumulator:
    """Float64 running sums, histogram and per-row maxima of the blocked pass."""

    def __init__(self, n: int, bins: int, device: torch.device) -> None:
        self.weighted_abs = 0.0  # Σ_{i<j} p_i p_j |cos_ij| when weights are given
        self.sum_abs = 0.0
        self.sum_sq = 0.0
        self.pairs = 0
        self.bins = bins
        self.hist = torch.zeros(bins, dtype=torch.float64, device=device) if bins else None
        self.best = torch.full((n,), -1.0, dtype=torch.float32, device=device)
        self.partner = torch.full((n,), -1, dtype=torch.int64, device=device)
        self.best_block = torch.full((n,), -1, dtype=torch.int64, device=device)  # col updates

    def add_histogram(self, values: torch.Tensor, sign: int = 1) -> None:
        """Add (sign=+1) or remove (sign=-1) the histogram of ``values`` (signed cos)."""
        if self.hist is not None:
            self.hist += sign * torch.histc(values, self.bins, *HIST_RANGE).to(torch.float64)

    def add_abs_moments(self, abs_values: torch.Tensor, sign: int = 1) -> None:
        """Add (or remove) Σ|cos| and Σcos² of ``abs_values`` (already absolute, no copy made).

        Rows are summed in their own dtype (vectorised, cascaded), then in float64.
        """
        self.sum_abs += sign * float(abs_values.sum(dim=-1).to(torch.float64).sum())
        self.sum_sq += sign * float(
            torch.linalg.vector_norm(abs_values, dim=-1).to(torch.float64).square().sum()
        )
        self.pairs += sign * abs_values.numel()


def pairwise_statistics(
    U: torch.Tensor,
    *,
    budget_bytes: int | None = None,
    bins: int = 0,
    progress: bool | None = None,
    top_pairs: int = 20,
    weights: torch.Tensor | None = None,
) -> dict:
    """Exact mean/std of |cos| over pairs i<j, histogram of cos, per-row max |cos| and partner.

    The upper triangle is processed in row blocks ``I``: ``S = U[I] @ U[I.start:]ᵀ`` (one
    float32 buffer, reused), sums taken per row in float32 then accumulated in float64. The
    diagonal block's lower triangle and diagonal are removed exactly (its strict upper
    triangle is re-added from an explicit copy), so every pair is counted once. With
    ``weights`` (one ``p_i`` per row) the result also holds ``weighted_abs_sum``
    ``= Σ_{i<j} p_i p_j |cos_ij|`` (one matrix-vector product per block).

    Example:
        >>> import torch
        >>> U, _ = normalize_rows(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
        >>> s = pairwise_statistics(U, weights=torch.tensor([1.0, 2.0, 0.0]), progress=False)
        >>> round(s["mean_abs_cos"], 6), round(s["weighted_abs_sum"], 6)  # 2·|cos 45°|
        (0.471405, 1.414214)
    """
    n, _ = U.shape
    if n < 2:
        raise ValueError("pair statistics need at least 2 rows")
    device = U.device
    budget = budget_bytes if budget_bytes is not None else default_budget(device)
    rows = block_rows_for(n, budget)
    release_free_memory()  # hand freed temporaries back before the one big buffer
    acc = _Accumulator(n, bins, device)
    p64 = None if weights is None else weights.to(device=device, dtype=torch.float64).flatten()
    p32 = None if p64 is None else p64.to(U.dtype)
    buffer = torch.empty(rows * n, dtype=U.dtype, device=device)
    starts = list(range(0, n, rows))
    block_of_start = {s: b for b, s in enumerate(starts)}
    flops = 0.0
    with full_precision():
        bar = progress_bar(n * (n - 1) // 2, "pairwise cos", unit="pair", progress=progress)
        for start in starts:
            stop = min(n, start + rows)
            b = stop - start
            cols = n - start
            S = buffer[: b * cols].view(b, cols)
            torch.matmul(U[start:stop], U[start:].T, out=S)
            flops += 2.0 * b * cols * U.shape[1]
            diag = S[:, :b].to(torch.float64, copy=True)  # small: exact float64 sums
            iu = torch.triu_indices(b, b, offset=1, device=device)
            upper = diag[iu[0], iu[1]]
            acc.add_histogram(S)
            acc.add_histogram(diag.to(S.dtype), sign=-1)
            acc.add_histogram(upper.to(S.dtype))
            S.abs_()
            acc.add_abs_moments(S)
            acc.add_abs_moments(diag.abs_(), sign=-1)
            acc.add_abs_moments(upper.abs_())
            # Σ p_i p_j |cos_ij|: the block's right part, then its triangle (p32 is set with p64)
            if p64 is not None and p32 is not None:
                if cols > b:
                    right = (S[:, b:] @ p32[stop:]).to(torch.float64)
                    acc.weighted_abs += float(p64[start:stop] @ right)
                pb = p64[start:stop]
                acc.weighted_abs += float((pb[iu[0]] * pb[iu[1]] * upper).sum())
            S[:, :b].fill_diagonal_(-1.0)  # a row is not its own partner
            _update_rows(acc, S, start)
            if cols > b:
                _update_cols(acc, S[:, b:], stop, block_of_start[start])
            bar.update(b * (b - 1) // 2 + b * (cols - b))
        bar.close()
        _resolve_column_partners(acc, U, starts, rows)
    mean_abs = acc.sum_abs / acc.pairs
    mean_sq = acc.sum_sq / acc.pairs
    best = acc.best.to(torch.float64).cpu().numpy()
    partner = acc.partner.cpu().numpy()
    order = np.argsort(-best, kind="stable")
    seen: set[tuple[int, int]] = set()
    top = []
    for i in order:
        pair = (min(int(i), int(partner[i])), max(int(i), int(partner[i])))
        if pair not in seen:
            seen.add(pair)
            top.append({"i": pair[0], "j": pair[1], "abs_cos": float(best[i])})
        if len(top) >= top_pairs:
            break
    out = {
        "pairs": int(acc.pairs),
        "mean_abs_cos": mean_abs,
        "std_abs_cos": math.sqrt(max(0.0, mean_sq - mean_abs * mean_abs)),
        "mean_cos2_blocked": mean_sq,
        "max_abs_cos": float(best.max()),
        "mean_max_abs_cos": float(best.mean()),
        "median_max_abs_cos": float(np.median(best)),
        "top_pairs": top,
        "max_abs_cos_per_row": best,
        "partner_per_row": partner,
        "block_rows": rows,
        "matmul_flops": flops,
    }
    if acc.hist is not None:
        out["histogram"] = _histogram_record(acc.hist)
    if p64 is not None:
        out["weighted_abs_sum"] = acc.weighted_abs
    return out


def _histogram_record(hist: torch.Tensor) -> dict[str, list]:
    """The JSON form of float64 histogram counts over :data:`HIST_RANGE`."""
    edges = np.linspace(*HIST_RANGE, hist.numel() + 1)
    return {"edges": edges.tolist(), "counts": [round(c) for c in hist.cpu().tolist()]}


def _update_rows(acc: _Accumulator, S_abs: torch.Tensor, start: int) -> None:
    """Rows of the block: max over their columns (partner index known directly)."""
    values, idx = S_abs.max(dim=1)
    rows = slice(start, start + S_abs.shape[0])
    better = values > acc.best[rows]
    acc.best[rows] = torch.where(better, values, acc.best[rows])
    acc.partner[rows] = torch.where(better, idx + start, acc.partner[rows])
    acc.best_block[rows] = torch.where(better, -1, acc.best_block[rows])


def _update_cols(acc: _Accumulator, S_abs: torch.Tensor, col_start: int, block: int) -> None:
    """Columns right of the diagonal block: their max over this block's rows (partner later)."""
    values = S_abs.amax(dim=0)
    cols = slice(col_start, col_start + S_abs.shape[1])
    better = values > acc.best[cols]
    acc.best[cols] = torch.where(better, values, acc.best[cols])
    acc.best_block[cols] = torch.where(better, block, acc.best_block[cols])


def _resolve_column_partners(
    acc: _Accumulator, U: torch.Tensor, starts: list[int], rows: int
) -> None:
    """Find partners of maxima found column-wise: one small product per (block, columns)."""
    for block, start in enumerate(starts):
        cols = torch.nonzero(acc.best_block == block).flatten()
        for c0 in range(0, cols.numel(), rows):
            sel = cols[c0 : c0 + rows]
            products = (U[start : start + rows] @ U[sel].T).abs_()
            acc.partner[sel] = products.argmax(dim=0) + start
