"""The overlap engine: exact statistics of pairwise cosines between the rows of a matrix.

All functions take a row-normalised float32 matrix ``U`` (``[n, m]``, see :func:`normalize_rows`)
and return plain dictionaries of Python floats (and a few arrays).

* :func:`gram_statistics` — mean cos² over pairs i<j, EXACT through the Gram identity
  ``Σ_{i≠j} (u_i·u_j)² = ‖UᵀU‖_F² − Σ_i ‖u_i‖⁴``: an ``m×m`` matrix, O(n·m²) work.
* :func:`pairwise_statistics` — mean and std of |cos| (the authors' ``mean_over``/``std_over``),
  a histogram of cos, and each row's max |cos| with its partner: a blocked pass over the upper
  triangle (float32 products, float64 accumulation, row blocks sized from a memory budget).
* :func:`sampled_statistics` — the same numbers from random pairs, with confidence intervals.

Everything runs on the device ``U`` lives on; TF32 is disabled for the duration.

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
from tqdm.auto import tqdm

from .memory import release_free_memory

EPS = 1e-9  # the authors' normalisation: w / (‖w‖ + 1e-9)
DEFAULT_BINS = 200  # histogram bins when one is asked for (it costs ~30% of a CPU pass)
CHUNK_ROWS = 1024  # rows per float64 temporary in norms/normalisation/Gram (6 MB at m=768)
# histogram range: a hair wider than [-1, 1] so float32 rounding of |cos| = 1 is never dropped
HIST_RANGE = (-1.0001, 1.0001)


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


def row_norms(W: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """Euclidean norm of every row, accumulated in float64 (chunked: no full float64 copy)."""
    out = torch.empty(W.shape[0], dtype=torch.float64, device=W.device)
    for start in range(0, W.shape[0], chunk_rows):
        block = W[start : start + chunk_rows]
        out[start : start + chunk_rows] = torch.linalg.vector_norm(block.to(torch.float64), dim=1)
    return out


def mean_row(W: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """The mean row, accumulated in float64 chunk by chunk (no full float64 copy)."""
    total = torch.zeros(W.shape[1], dtype=torch.float64, device=W.device)
    for start in range(0, W.shape[0], chunk_rows):
        total += W[start : start + chunk_rows].to(torch.float64).sum(dim=0)
    return total / W.shape[0]


def normalize_rows(
    W: torch.Tensor,
    *,
    center: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int = CHUNK_ROWS,
    out: torch.Tensor | None = None,
    norms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(U, norms)`` with ``u_i = (w_i − c) / (‖w_i − c‖ + 1e-9)`` in ``dtype``.

    Norms are computed in float64 (or taken from ``norms`` when there is no ``center``); the
    division runs in ``dtype`` (float32 or better). ``center`` (a row vector, e.g. the mean
    row) is optional; ``out`` (which may be ``W`` itself, to save memory) receives ``U``.
    """
    n = W.shape[0]
    U = out if out is not None else torch.empty(W.shape, dtype=dtype, device=W.device)
    if norms is None or center is not None:
        norms = torch.empty(n, dtype=torch.float64, device=W.device)
        for start in range(0, n, chunk_rows):
            block = W[start : start + chunk_rows].to(torch.float64)
            if center is not None:
                block = block - center.to(torch.float64)
            norms[start : start + chunk_rows] = torch.linalg.vector_norm(block, dim=1)
    scale = (1.0 / (norms + EPS)).to(dtype)
    for start in range(0, n, chunk_rows):
        block = W[start : start + chunk_rows].to(dtype)
        if center is not None:
            block = block - center.to(dtype)
        torch.mul(block, scale[start : start + chunk_rows, None], out=U[start : start + chunk_rows])
    return U, norms


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def gram_matrix(U: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """``UᵀU`` accumulated in float64 from float32 (or float64) chunk products."""
    m = U.shape[1]
    G = torch.zeros(m, m, dtype=torch.float64, device=U.device)
    with full_precision():
        for start, stop in _chunks(U.shape[0], chunk_rows):
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


def gram_statistics(U: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> dict[str, float]:
    """Exact pair statistics from the Gram matrix (no n×n work).

    Returns mean cos² and mean cos over pairs i<j, the effective dimension
    ``(Σ‖u_i‖²)² / ‖UᵀU‖_F²`` (participation ratio of the Gram spectrum) and the fraction of
    ``Σ‖u_i‖²`` carried by the top eigen-direction.
    """
    n = U.shape[0]
    if n < 2:
        raise ValueError("pair statistics need at least 2 rows")
    G = gram_matrix(U, chunk_rows)
    sq, total = _row_sums(U, chunk_rows)
    fro2 = float((G * G).sum())
    trace = float(sq.sum())
    mean_cos2 = _mean_cos2(G, sq)
    mean_cos = (float(total @ total) - trace) / (n * (n - 1))
    top = float(torch.linalg.eigvalsh(G)[-1])
    return {
        "mean_cos2": mean_cos2,
        "mean_cos": mean_cos,
        "effective_dim": trace * trace / fro2 if fro2 > 0 else float("nan"),
        "top_eigen_fraction": top / trace if trace > 0 else float("nan"),
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
) -> dict:
    """Exact mean/std of |cos| over pairs i<j, histogram of cos, per-row max |cos| and partner.

    The upper triangle is processed in row blocks ``I``: ``S = U[I] @ U[I.start:]ᵀ`` (one
    float32 buffer, reused), sums taken per row in float32 then accumulated in float64. The
    diagonal block's lower triangle and diagonal are removed exactly (its strict upper
    triangle is re-added from an explicit copy), so every pair is counted once.
    """
    n, _ = U.shape
    if n < 2:
        raise ValueError("pair statistics need at least 2 rows")
    device = U.device
    budget = budget_bytes if budget_bytes is not None else default_budget(device)
    rows = block_rows_for(n, budget)
    release_free_memory()  # hand freed temporaries back before the one big buffer
    acc = _Accumulator(n, bins, device)
    buffer = torch.empty(rows * n, dtype=U.dtype, device=device)
    starts = list(range(0, n, rows))
    block_of_start = {s: b for b, s in enumerate(starts)}
    flops = 0.0
    with full_precision():
        bar = tqdm(
            total=n * (n - 1) // 2,
            desc="pairwise cos",
            unit="pair",
            unit_scale=True,
            disable=(not progress) if progress is not None else None,
            leave=False,
        )
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
        out["histogram"] = {
            "edges": np.linspace(*HIST_RANGE, bins + 1).tolist(),
            "counts": [round(c) for c in acc.hist.cpu().tolist()],
        }
    return out


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
    U: torch.Tensor, n_pairs: int, *, seed: int = 0, confidence: float = 0.95
) -> dict:
    """Estimate mean |cos|, std |cos| and mean cos² from ``n_pairs`` random pairs i≠j.

    Pairs are drawn uniformly (with replacement) among unordered pairs of distinct rows.
    Intervals: normal approximation for the means, delta method for the std.
    """
    from scipy import stats as sps

    n = U.shape[0]
    if n < 2 or n_pairs < 2:
        raise ValueError("sampling needs at least 2 rows and 2 pairs")
    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(0, n, (n_pairs,), generator=gen)
    j = torch.randint(0, n - 1, (n_pairs,), generator=gen)
    j = j + (j >= i)  # uniform over j != i
    cos = torch.empty(n_pairs, dtype=torch.float64)
    for s, e in _chunks(n_pairs, 4096):  # float32 dot products of m terms, kept in float64
        a, b = U[i[s:e].to(U.device)], U[j[s:e].to(U.device)]
        cos[s:e] = torch.linalg.vecdot(a, b).to(torch.float64).cpu()
    x = cos.abs().numpy()
    x2 = x * x
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    mean_abs, mean_sq = float(x.mean()), float(x2.mean())
    std_abs = math.sqrt(max(0.0, mean_sq - mean_abs**2))
    cov = np.cov(np.vstack([x, x2])) / n_pairs
    grad = np.array([-mean_abs / std_abs, 0.5 / std_abs]) if std_abs > 0 else np.zeros(2)
    se = {
        "mean_abs_cos": math.sqrt(cov[0, 0]),
        "mean_cos2": math.sqrt(cov[1, 1]),
        "std_abs_cos": math.sqrt(max(0.0, float(grad @ cov @ grad))),
    }
    values = {"mean_abs_cos": mean_abs, "std_abs_cos": std_abs, "mean_cos2": mean_sq}
    return {
        "pairs_sampled": int(n_pairs),
        "confidence": confidence,
        "seed": seed,
        **values,
        "standard_error": se,
        "interval": {k: [v - z * se[k], v + z * se[k]] for k, v in values.items()},
    }
