"""The overlap engine: exact statistics of pairwise cosines between the rows of a matrix.

All functions take a row-normalised float32 matrix ``U`` (``[n, m]``, see :func:`normalize_rows`)
and return plain dictionaries of Python floats (and a few arrays).

* :func:`gram_statistics` — mean cos² over pairs i<j, EXACT through the Gram identity
  ``Σ_{i≠j} (u_i·u_j)² = ‖UᵀU‖_F² − Σ_i ‖u_i‖⁴``: an ``m×m`` matrix, O(n·m²) work.
* :func:`pairwise_statistics` — mean and std of |cos| (the authors' ``mean_over``/``std_over``),
  a histogram of cos, and each row's max |cos| with its partner: a blocked pass over the upper
  triangle (float32 products, float64 accumulation, row blocks sized from a memory budget).
* :func:`sampled_statistics` — the |cos| statistics from random rows, each against every row
  (unbiased, with confidence intervals), for vocabularies where the exact pass is too slow;
* :func:`estimate_exact_pass` — the predicted time of the exact pass on this device;
* :func:`weighted_gram_statistics` — the same Gram identity with row weights ``p_i`` (token
  frequencies): ``Σ_{i,j} p_i p_j cos²_ij = ‖Uᵀ diag(p) U‖_F²``, O(n·m²). Passing ``weights``
  to the exact pass adds the weighted pair sum ``Σ p_i p_j |cos_ij|``;
  :func:`weighted_sampled_abs` estimates it from rows drawn by weight.

Rows are normalised exactly, ``u_i = w_i / ‖w_i‖`` in float64 then stored in float32 (the authors
divide by the norm with no epsilon; a zero row has no direction and is left as zeros here, and
:mod:`llmgeom.measurement` excludes it). Everything runs on the device ``U`` lives on; TF32 is
disabled for the duration. Chunked passes show a progress bar (with ETA) when they last more
than a couple of seconds.

Example:
    >>> import torch
    >>> U, _ = normalize_rows(torch.eye(4, 3, dtype=torch.float64))
    >>> round(gram_statistics(U)["mean_cos2"], 12)
    0.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from .memory import release_free_memory
from .progress import progress_bar

DEFAULT_BINS = 200  # histogram bins when one is asked for (it costs ~30% of a CPU pass)
CHUNK_ROWS = 1024  # rows per float64 temporary in norms/normalisation/Gram (6 MB at m=768)
# histogram range: a hair wider than [-1, 1] so float32 rounding of |cos| = 1 is never dropped
HIST_RANGE = (-1.0001, 1.0001)
EIGSH_MIN_WIDTH = 1024  # above this width only the top eigenvalue is computed (Lanczos)
PASS_EFFICIENCY = 0.75  # the exact pass runs at ~79 % of a plain matmul (benchmarks/overlap_speed)
HISTOGRAM_EFFICIENCY = 0.6  # with the exact histogram: ~60 %


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


def exact_pass_flops(n: int, m: int, block_rows: int) -> float:
    """Multiply-add FLOPs of :func:`pairwise_statistics` (the upper triangle, block diagonal)."""
    return 2.0 * m * sum((stop - start) * (n - start) for start, stop in _chunks(n, block_rows))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(U: torch.Tensor, rows: int, target_flops: float = 2e10) -> float:
    """Measured FLOP/s of a float32 product ``U[:rows] @ U[:cols]ᵀ`` on ``U``'s device.

    ``cols`` is chosen so one product costs about ``target_flops`` (a tenth of a second on a
    laptop CPU); the best of two timed runs after a warm-up is kept.
    """
    n, m = U.shape
    rows = max(1, min(rows, n, 512))
    cols = int(max(1, min(n, max(256, target_flops // (2 * rows * m)))))
    a, b = U[:rows], U[:cols]
    out = torch.empty(rows, cols, dtype=U.dtype, device=U.device)
    best = math.inf
    with full_precision():
        for attempt in range(3):
            _synchronize(U.device)
            t = time.perf_counter()
            torch.matmul(a, b.T, out=out)
            _synchronize(U.device)
            if attempt:  # the first product warms up threads, kernels and caches
                best = min(best, time.perf_counter() - t)
    return 2.0 * rows * cols * m / max(best, 1e-9)


def estimate_exact_pass(U: torch.Tensor, budget_bytes: int, bins: int = 0) -> dict[str, float]:
    """Predicted time of :func:`pairwise_statistics` on ``U``: its FLOPs over a measured rate.

    The pass runs at about :data:`PASS_EFFICIENCY` of a plain matmul of the same shape
    (:data:`HISTOGRAM_EFFICIENCY` with a histogram), as ``benchmarks/overlap_speed.py`` measures.

    Example:
        >>> import torch
        >>> est = estimate_exact_pass(torch.randn(2000, 64), 2**20)
        >>> est["flops"] > 0 and est["seconds"] > 0
        True
    """
    n, m = U.shape
    rows = block_rows_for(n, budget_bytes)
    rate = matmul_rate(U, rows)
    flops = exact_pass_flops(n, m, rows)
    efficiency = HISTOGRAM_EFFICIENCY if bins else PASS_EFFICIENCY
    return {"seconds": flops / (rate * efficiency), "flops": flops, "matmul_flops_per_s": rate}


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


def sampled_statistics(
    U: torch.Tensor,
    n_rows: int,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    bins: int = 0,
    mean_cos2: float | None = None,
    budget_bytes: int | None = None,
    progress: bool | None = None,
) -> dict:
    """Estimate the |cos| statistics from ``n_rows`` random rows, each against every other row.

    Rows are drawn uniformly without replacement; for each, one product with all of ``U``
    (blocked matmuls, no gathers) gives its exact means ``a_i = mean_{j≠i} |cos_ij|`` and
    ``q_i = mean_{j≠i} cos²_ij`` and its max |cos|. The all-pairs mean |cos| is the mean of
    ``a_i`` over all rows, so the sample mean is unbiased; its standard error is the between-row
    one with the finite-population correction (all rows: exact, SE 0), intervals Student-t.
    The std of |cos| is ``sqrt(E cos² − (E|cos|)²)`` with ``mean_cos2`` (pass the exact Gram
    value; else the estimate is used, delta method with the covariance of ``a`` and ``q``).
    ``bins`` > 0 adds the histogram of the covered pairs' cos.

    Example:
        >>> import torch
        >>> U, _ = normalize_rows(torch.eye(5, 5))
        >>> s = sampled_statistics(U, 3, progress=False)
        >>> s["rows_sampled"], s["pairs_covered"], s["mean_abs_cos"], s["interval"]["mean_abs_cos"]
        (3, 12, 0.0, [0.0, 0.0])
    """
    from scipy import stats as sps

    n = U.shape[0]
    if n < 2 or n_rows < 2:
        raise ValueError("sampling needs at least 2 rows")
    r = min(n, int(n_rows))
    gen = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(n, generator=gen)[:r].sort().values.to(U.device)
    budget = budget_bytes if budget_bytes is not None else default_budget(U.device)
    rows = min(r, block_rows_for(n, budget))
    release_free_memory()
    buffer = torch.empty(rows * n, dtype=U.dtype, device=U.device)
    sums = torch.empty(3, r, dtype=torch.float64, device=U.device)  # Σ|c|, Σc², max|c|
    hist = torch.zeros(bins, dtype=torch.float64, device=U.device) if bins else None
    lower_bound = (-1.0, -1, -1)
    with full_precision():
        for start, stop in _progress_chunks(r, rows, "sampled rows", progress):
            idx = chosen[start:stop]
            own = torch.arange(stop - start, device=U.device)
            S = buffer[: (stop - start) * n].view(stop - start, n)
            torch.matmul(U[idx], U.T, out=S)
            if hist is not None:
                S[own, idx] = 2.0  # a row with itself: outside the histogram's range
                hist += torch.histc(S, bins, *HIST_RANGE).to(torch.float64)
            S[own, idx] = 0.0
            S.abs_()
            sums[0, start:stop] = S.sum(dim=1).to(torch.float64)
            sums[1, start:stop] = torch.linalg.vector_norm(S, dim=1).to(torch.float64).square()
            S[own, idx] = -1.0
            row_max, partners = S.max(dim=1)
            sums[2, start:stop] = row_max.to(torch.float64)
            k = int(row_max.argmax())
            if float(row_max[k]) > lower_bound[0]:
                lower_bound = (float(row_max[k]), int(idx[k]), int(partners[k]))
    per_row = sums.cpu().numpy()
    per_row[:2] /= n - 1
    fpc = 1.0 - r / n  # rows drawn without replacement from n
    cov = fpc * np.cov(per_row) / r if r > 1 else np.zeros((3, 3))
    means = per_row.mean(axis=1)
    mean_abs, mean_sq, mean_max = (float(v) for v in means)
    exact_sq = mean_cos2 is not None
    second = float(mean_cos2) if mean_cos2 is not None else mean_sq
    std_abs = math.sqrt(max(0.0, second - mean_abs**2))
    grad = np.array([-mean_abs, 0.0 if exact_sq else 0.5]) / std_abs if std_abs > 0 else np.zeros(2)
    se = {
        "mean_abs_cos": math.sqrt(max(0.0, cov[0, 0])),
        "std_abs_cos": math.sqrt(max(0.0, float(grad @ cov[:2, :2] @ grad))),
        "mean_cos2": math.sqrt(max(0.0, cov[1, 1])),
        "mean_max_abs_cos": math.sqrt(max(0.0, cov[2, 2])),
    }
    values = {
        "mean_abs_cos": mean_abs,
        "std_abs_cos": std_abs,
        "mean_cos2": mean_sq,
        "mean_max_abs_cos": mean_max,
    }
    t = float(sps.t.ppf(0.5 + confidence / 2, max(1, r - 1)))
    out = {
        "rows_sampled": r,
        "pairs_covered": r * (n - 1),
        "seed": seed,
        "confidence": confidence,
        **values,
        "standard_error": se,
        "interval": {k: [v - t * se[k], v + t * se[k]] for k, v in values.items()},
        "max_abs_cos_lower_bound": {
            "abs_cos": lower_bound[0],
            "i": lower_bound[1],
            "j": lower_bound[2],
        },
        "matmul_flops": 2.0 * r * n * U.shape[1],
    }
    if hist is not None:
        out["histogram"] = _histogram_record(hist)
    return out


def weighted_sampled_abs(
    U: torch.Tensor,
    weights: torch.Tensor,
    n_rows: int,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    budget_bytes: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Estimate ``T = Σ_{i≠j} p_i p_j |cos_ij|`` (ordered pairs) from rows drawn with prob. ∝ p.

    ``n_rows`` rows are drawn with replacement with probability ``p_i / Σp``; for each, one
    product with all of ``U`` gives ``a_i = Σ_{j≠i} p_j |cos_ij|`` exactly. Since
    ``T = Σp · E[a_i]`` under that draw, ``Σp · mean(a)`` is unbiased, with the plain standard
    error of a mean (independent draws) and a Student-t interval. Drawing by weight keeps the
    error small where uniform rows would mostly hit tokens that never occur.

    Example:
        >>> import torch
        >>> U, _ = normalize_rows(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        >>> s = weighted_sampled_abs(U, torch.tensor([1.0, 1.0, 0.0]), 10, progress=False)
        >>> s["weighted_abs_sum"], s["weighted_abs_sum_se"]   # 2 ordered pairs, |cos| = 1
        (2.0, 0.0)
    """
    from scipy import stats as sps

    n = U.shape[0]
    p = weights.to(device=U.device, dtype=torch.float64).flatten()
    r = int(n_rows)
    if r < 2:
        raise ValueError("sampling needs at least 2 rows")
    gen = torch.Generator().manual_seed(seed)
    chosen = torch.multinomial(p.cpu() / p.sum().cpu(), r, replacement=True, generator=gen)
    chosen = chosen.to(U.device)
    budget = budget_bytes if budget_bytes is not None else default_budget(U.device)
    rows = min(r, block_rows_for(n, budget))
    release_free_memory()
    buffer = torch.empty(rows * n, dtype=U.dtype, device=U.device)
    a = torch.empty(r, dtype=torch.float64, device=U.device)
    p32 = p.to(U.dtype)
    with full_precision():
        for start, stop in _progress_chunks(r, rows, "weighted rows", progress):
            idx = chosen[start:stop]
            S = buffer[: (stop - start) * n].view(stop - start, n)
            torch.matmul(U[idx], U.T, out=S)
            S[torch.arange(stop - start, device=U.device), idx] = 0.0  # j ≠ i
            a[start:stop] = (S.abs_() @ p32).to(torch.float64)
    values = a.cpu().numpy()
    scale = float(p.sum())
    total = scale * float(values.mean())
    se = scale * float(np.std(values, ddof=1)) / math.sqrt(r)
    t = float(sps.t.ppf(0.5 + confidence / 2, r - 1))
    return {
        "rows_drawn": r,
        "seed": seed,
        "weighted_abs_sum": total,
        "weighted_abs_sum_se": se,
        "weighted_abs_sum_interval": [total - t * se, total + t * se],
    }


def affordable_rows(n: int, m: int, flops_per_s: float, seconds: float) -> int:
    """How many rows :func:`sampled_statistics` can compare with all others in ``seconds``.

    Example:
        >>> affordable_rows(50_000, 768, 1e11, 60.0)
        58593
    """
    return int(seconds * flops_per_s * PASS_EFFICIENCY / (2.0 * n * m))
