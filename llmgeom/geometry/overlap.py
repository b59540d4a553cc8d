"""The overlap engine: exact statistics of pairwise cosines between the rows of a matrix.

All functions take a row-normalised float32 matrix ``U`` (``[n, m]``, see
:func:`~llmgeom.geometry.normalize.normalize_rows`) and return plain dictionaries of Python floats
(and a few arrays).

* :func:`pairwise_statistics` (here) — mean and std of |cos| (the authors'
  ``mean_over``/``std_over``), a histogram of cos, and each row's max |cos| with its partner: a
  blocked pass over the upper triangle (float32 products, float64 accumulation, row blocks sized
  from a memory budget). Passing ``weights`` adds the weighted pair sum ``Σ p_i p_j |cos_ij|``.
* :func:`~llmgeom.geometry.gram.gram_statistics` and
  :func:`~llmgeom.geometry.gram.weighted_gram_statistics` — mean cos² EXACT through the Gram
  identity, O(n·m²) work (:mod:`llmgeom.geometry.gram`).
* :mod:`llmgeom.geometry.normalize` — the exact unit rows; :mod:`llmgeom.geometry.blocked` — the
  chunking and precision every pass shares.

This module also gives the names of those modules (``overlap.gram_statistics``,
``overlap.normalize_rows``...), so the whole engine reads as one namespace.

Where the exact pass is too much work, :mod:`llmgeom.geometry.sampling` estimates the |cos|
statistics (random pairs for the means, random whole rows for the per-token maxima) and
:mod:`llmgeom.geometry.pass_cost` predicts the exact pass's time.

Everything runs on the device ``U`` lives on; TF32 is disabled for the duration. Chunked passes
show a progress bar (with ETA) when they last more than a couple of seconds.

Example:
    >>> import torch
    >>> U, _ = normalize_rows(torch.eye(4, 3, dtype=torch.float64))
    >>> round(gram_statistics(U)["mean_cos2"], 12)
    0.0
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..memory import release_free_memory
from ..progress import progress_bar
from .blocked import full_precision
from .gram import (  # noqa: F401 - the engine's names, one namespace
    EIGSH_MIN_WIDTH,
    gram_matrix,
    gram_mean_cos2,
    gram_statistics,
    top_eigenvalue,
    weighted_gram_statistics,
)
from .normalize import CHUNK_ROWS, mean_row, normalize_rows, row_norms  # noqa: F401

DEFAULT_BINS = 200  # histogram bins when one is asked for (it costs ~30% of a CPU pass)
# histogram range: a hair wider than [-1, 1] so float32 rounding of |cos| = 1 is never dropped
HIST_RANGE = (-1.0001, 1.0001)


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
