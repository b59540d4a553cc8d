"""Sampled |cos| statistics: random pairs for the means, random whole rows for the maxima.

When the exact pass over all ``n(n−1)/2`` pairs is too much work
(:func:`~llmgeom.geometry.pass_cost.prefers_exact`, a deterministic FLOP rule), the statistics
are estimated with two designs, each for what it estimates best:

* **mean and std of |cos|** — independent, uniformly random ordered pairs ``(i, j)``, ``i ≠ j``
  (:func:`sampled_statistics`). Pairs spread over all rows, so the error falls as ``σ/√N`` with the
  per-pair spread ``σ``; comparing a few whole rows with every row instead (the former design)
  is limited by how much the per-row means differ, which on real heads is far larger. The
  sample mean is unbiased, its standard error ``s/√N`` (independent draws), the interval
  Student-t. Pairs are drawn in fixed batches of :data:`PAIR_BATCH` and sampling stops after the
  first batch where the 95 % half-width is at most ``precision`` × the estimate, or when
  ``time_budget`` seconds have passed (at least :data:`MIN_PAIR_BATCHES` batches). The std of
  |cos| is ``sqrt(mean cos² − (mean |cos|)²)`` with the exact Gram mean cos² when given
  (consistent; its bias is of the order of the squared standard error), else the sample's.
* **per-token maxima** — ``max_j |cos_ij|`` needs all of row ``i``: a fixed number of random
  whole rows (:func:`sampled_row_maxima`, blocked matmuls), mean with finite-population
  standard error.

Determinism: the draws come from NumPy's PCG64 generator on the CPU, batch sizes are fixed,
and each cosine is computed as :func:`~llmgeom.geometry.fixed_point.fixed_point_dots`:
float32 products (correctly rounded elementwise, the same on every device) rounded onto the grid
``2^-23`` and summed in float32, where every partial sum is an integer below ``2^24`` and
therefore exact in any order. So the pair estimates are bit-identical for a seed on any machine,
thread count or device whenever the precision (not the clock) stops the sampling. Each cosine is
within ``m·2^-24`` of the float32 products' sum (typically ``~1e-6``; the rounding errors are
symmetric and average out).

:func:`weighted_sampled_abs` is the same design with pairs drawn with probability ``∝ p_i p_j``
(``i ~ p``, ``j ~ p``, draws with ``i = j`` discarded), which estimates the frequency-weighted
mean |cos| directly.

Example:
    >>> import torch
    >>> from llmgeom.geometry.overlap import normalize_rows
    >>> U, _ = normalize_rows(torch.eye(5, 5))
    >>> s = sampled_statistics(U, 3, progress=False)
    >>> s["rows_sampled"], s["mean_abs_cos"], s["interval"]["mean_abs_cos"], s["stopped_by"]
    (3, 0.0, [0.0, 0.0], 'precision')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..memory import release_free_memory
from ..options import DEFAULT_MAX_ROWS, DEFAULT_PRECISION
from ..progress import progress_bar
from .blocked import full_precision, progress_chunks
from .fixed_point import GRID_BITS, PairSums, fixed_point_dots
from .overlap import _histogram_record, block_rows_for, default_budget

PAIR_BATCH = 2**16  # pairs drawn between two checks of the stopping rule (fixed: determinism)
PAIR_CHUNK_ELEMENTS = 2**22  # pairs computed at once: this many products (2 × 16 MB float32)
MIN_PAIR_BATCHES = 2  # at least this many batches, whatever the clock says


def _t_quantile(confidence: float, df: int) -> float:
    from scipy import stats as sps

    return float(sps.t.ppf(0.5 + confidence / 2, max(1, df)))


def _sample_pairs(
    U: torch.Tensor,
    draw: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    *,
    precision: float,
    time_budget: float,
    confidence: float,
    bins: int = 0,
    desc: str = "random pairs",
    progress: bool | None = None,
) -> tuple[PairSums, str]:
    """Draw batches of pairs with ``draw`` until the interval is precise enough or time is up."""
    sums = PairSums(bins)
    chunk = max(1024, PAIR_CHUNK_ELEMENTS // U.shape[1])  # no effect on the result: exact sums
    start = time.perf_counter()
    batches = 0
    unknown_total: Any = None  # the stopping rule decides how many pairs
    with progress_bar(unknown_total, desc, unit="pair", progress=progress) as bar:
        while True:
            i, j = draw(rng, PAIR_BATCH)
            for c0 in range(0, i.size, chunk):
                ii = torch.from_numpy(i[c0 : c0 + chunk]).to(U.device)
                jj = torch.from_numpy(j[c0 : c0 + chunk]).to(U.device)
                sums.add(fixed_point_dots(U, ii, jj))
            bar.update(i.size)
            batches += 1
            if batches < MIN_PAIR_BATCHES or sums.count < 2:  # (a weighted draw may drop many)
                continue
            mean, se, _, _ = sums.mean_se()
            if _t_quantile(confidence, sums.count - 1) * se <= precision * mean:
                return sums, "precision"
            if time.perf_counter() - start >= time_budget:
                return sums, "time_budget"


def _uniform_pairs(n: int) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    """Ordered pairs uniform over ``i ≠ j``: ``i`` uniform, ``j = i + d mod n`` with ``d`` in
    ``1..n−1`` uniform."""

    def draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        i = rng.integers(0, n, size)
        return i, (i + rng.integers(1, n, size)) % n

    return draw


def _weighted_pairs(
    p: np.ndarray,
) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    """Pairs with probability ``∝ p_i p_j`` over ``i ≠ j``: ``i ~ p``, ``j ~ p`` independently
    (inverse CDF of a float64 cumulative sum), draws with ``i = j`` discarded."""
    cdf = np.cumsum(p / p.sum())
    last = len(p) - 1

    def draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        i = np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), last)
        j = np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), last)
        keep = i != j
        return i[keep], j[keep]

    return draw


def sampled_row_maxima(
    U: torch.Tensor,
    n_rows: int,
    *,
    seed: int = 0,
    budget_bytes: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Per-token max |cos| of ``n_rows`` random whole rows (without replacement), each against
    every other row (blocked float32 matmuls); the partner's cosine is then recomputed with
    :func:`~llmgeom.geometry.fixed_point.fixed_point_dots` so the maxima do not depend on the
    matmul's summation order (only a near-tie between two partners could). Returns the maxima,
    the rows and their partners.

    Example:
        >>> import torch
        >>> from llmgeom.geometry.overlap import normalize_rows
        >>> U, _ = normalize_rows(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
        >>> out = sampled_row_maxima(U, 3, progress=False)
        >>> [round(v, 4) for v in out["max_abs_cos"].tolist()], out["partner"].tolist()
        ([0.7071, 0.7071, 0.7071], [1, 0, 1])
    """
    n = U.shape[0]
    r = min(n, int(n_rows))
    rng = np.random.default_rng([seed, 2])
    chosen = torch.from_numpy(np.sort(rng.choice(n, r, replace=False))).to(U.device)
    budget = budget_bytes if budget_bytes is not None else default_budget(U.device)
    rows = min(r, block_rows_for(n, budget))
    release_free_memory()
    buffer = torch.empty(rows * n, dtype=U.dtype, device=U.device)
    partner = torch.empty(r, dtype=torch.int64, device=U.device)
    with full_precision():
        for start, stop in progress_chunks(r, rows, "whole rows (per-token max)", progress):
            idx = chosen[start:stop]
            S = buffer[: (stop - start) * n].view(stop - start, n)
            torch.matmul(U[idx], U.T, out=S)
            S.abs_()
            S[torch.arange(stop - start, device=U.device), idx] = -1.0  # not its own partner
            partner[start:stop] = S.argmax(dim=1)
    x = fixed_point_dots(U, chosen, partner)
    return {
        "rows": chosen.cpu().numpy(),
        "partner": partner.cpu().numpy(),
        "max_abs_cos": np.abs(x) / 2.0**GRID_BITS,
        "matmul_flops": 2.0 * r * n * U.shape[1],
    }


def sampled_statistics(
    U: torch.Tensor,
    n_rows: int = DEFAULT_MAX_ROWS,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    precision: float = DEFAULT_PRECISION,
    time_budget: float = 60.0,
    bins: int = 0,
    mean_cos2: float | None = None,
    budget_bytes: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Estimate the |cos| statistics of unit rows ``U``: random pairs and ``n_rows`` whole rows.

    Mean |cos| and mean cos² from uniform random pairs until ``precision`` or ``time_budget``
    (see the module docstring; ``stopped_by`` says which), std |cos| from them and
    ``mean_cos2`` (pass the exact Gram value; else the sample's), the per-token maxima from
    ``n_rows`` whole rows (:func:`sampled_row_maxima`, finite-population SE: all rows give SE 0).
    ``bins`` > 0 adds the histogram of the sampled pairs' cos. Intervals are Student-t.

    Example:
        >>> import torch
        >>> from llmgeom.geometry.overlap import normalize_rows
        >>> U, _ = normalize_rows(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
        >>> s = sampled_statistics(U, 3, progress=False)
        >>> 0.45 < s["mean_abs_cos"] < 0.49, s["pairs_sampled"] >= 2**17   # exact: 0.4714
        (True, True)
    """
    n, m = U.shape
    if n < 2 or n_rows < 2:
        raise ValueError("sampling needs at least 2 rows")
    if not 0 < precision < 1:
        raise ValueError(f"precision must be in (0, 1), got {precision}")
    t0 = time.perf_counter()
    maxima = sampled_row_maxima(U, n_rows, seed=seed, budget_bytes=budget_bytes, progress=progress)
    rng = np.random.default_rng([seed, 0])
    remaining = max(0.0, time_budget - (time.perf_counter() - t0))
    sums, stopped_by = _sample_pairs(
        U, _uniform_pairs(n), rng, precision=precision, time_budget=remaining,
        confidence=confidence, bins=bins, progress=progress,
    )  # fmt: skip
    mean_abs, se_abs, mean_sq, se_sq = sums.mean_se()
    exact_sq = mean_cos2 is not None
    second = float(mean_cos2) if mean_cos2 is not None else mean_sq
    std_abs = math.sqrt(max(0.0, second - mean_abs**2))
    se_std = mean_abs * se_abs / std_abs if std_abs > 0 else 0.0
    best = maxima["max_abs_cos"]
    r = best.size
    fpc = 1.0 - r / n  # rows drawn without replacement from n
    se_max = math.sqrt(fpc * float(np.var(best, ddof=1)) / r) if r > 1 else math.inf
    t_pairs = _t_quantile(confidence, sums.count - 1)
    t_rows = _t_quantile(confidence, r - 1)
    values = {
        "mean_abs_cos": mean_abs,
        "std_abs_cos": std_abs,
        "mean_cos2": mean_sq,
        "mean_max_abs_cos": float(best.mean()),
    }
    se = {
        "mean_abs_cos": se_abs,
        "std_abs_cos": se_std,
        "mean_cos2": se_sq,
        "mean_max_abs_cos": se_max,
    }
    half = {k: (t_rows if k == "mean_max_abs_cos" else t_pairs) * v for k, v in se.items()}
    k = int(np.argmax(best))
    out = {
        "design": "uniform random pairs i != j (mean, std |cos|); random whole rows (maxima)",
        "pairs_sampled": sums.count,
        "stopped_by": stopped_by,
        "precision": precision,
        "relative_half_width": half["mean_abs_cos"] / mean_abs if mean_abs > 0 else 0.0,
        "rows_sampled": r,
        "seed": seed,
        "confidence": confidence,
        "std_from": "exact mean cos^2" if exact_sq else "sampled mean cos^2",
        **values,
        "standard_error": se,
        "interval": {key: [v - half[key], v + half[key]] for key, v in values.items()},
        "max_abs_cos_lower_bound": {
            "abs_cos": float(best[k]),
            "i": int(maxima["rows"][k]),
            "j": int(maxima["partner"][k]),
        },
        "matmul_flops": maxima["matmul_flops"],
        "pair_flops": 2.0 * sums.count * m,
    }
    if sums.hist is not None:
        out["histogram"] = _histogram_record(torch.from_numpy(sums.hist.astype(np.float64)))
    return out


def weighted_sampled_abs(
    U: torch.Tensor,
    weights: torch.Tensor,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    precision: float = DEFAULT_PRECISION,
    time_budget: float = 60.0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Estimate the weighted mean ``Σ_{i≠j} p_i p_j |cos_ij| / Σ_{i≠j} p_i p_j`` from pairs
    drawn with probability ``∝ p_i p_j`` (``i ~ p``, ``j ~ p``, ``i = j`` discarded).

    Under that draw ``E|cos_ij|`` is the weighted mean itself, so the sample mean is unbiased,
    with the SE of independent draws and a Student-t interval; stopping as for
    :func:`sampled_statistics`. Drawing by weight puts the work where the weight is (tokens
    that never occur are never drawn).

    Example:
        >>> import torch
        >>> from llmgeom.geometry.overlap import normalize_rows
        >>> U, _ = normalize_rows(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        >>> s = weighted_sampled_abs(U, torch.tensor([1.0, 1.0, 0.0]), progress=False)
        >>> s["weighted_mean_abs_cos"], s["weighted_mean_abs_cos_se"]   # |cos| = 1 on (0, 1)
        (1.0, 0.0)
    """
    p = weights.detach().to(torch.float64).cpu().numpy().ravel()
    if p.size != U.shape[0]:
        raise ValueError(f"{p.size} weights for {U.shape[0]} rows")
    if not (p > 0).sum() >= 2:
        raise ValueError("weighted sampling needs positive weight on at least 2 rows")
    rng = np.random.default_rng([seed, 1])
    sums, stopped_by = _sample_pairs(
        U, _weighted_pairs(p), rng, precision=precision, time_budget=time_budget,
        confidence=confidence, desc="pairs drawn by weight", progress=progress,
    )  # fmt: skip
    mean, se, _, _ = sums.mean_se()
    half = _t_quantile(confidence, sums.count - 1) * se
    return {
        "pairs_drawn": sums.count,
        "seed": seed,
        "stopped_by": stopped_by,
        "weighted_mean_abs_cos": mean,
        "weighted_mean_abs_cos_se": se,
        "weighted_mean_abs_cos_interval": [max(0.0, mean - half), min(1.0, mean + half)],
    }
