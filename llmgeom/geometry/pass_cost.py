"""What an exact pair pass costs: its FLOP count (the deterministic exact-or-sample rule of
``--pairs auto``) and its predicted time from a measured matmul rate (messages and the record only).

Example:
    >>> f"{pair_pass_flops(50257, 768):.3g}", prefers_exact(262144, 640)
    ('1.94e+12', False)
"""

from __future__ import annotations

import math
import time

import torch

from ..options import DEFAULT_EXACT_MAX_FLOPS
from .blocked import full_precision
from .overlap import block_rows_for

PASS_EFFICIENCY = 0.75  # the exact pass runs at ~79 % of a plain matmul (benchmarks/overlap_speed)
HISTOGRAM_EFFICIENCY = 0.6  # with the exact histogram: ~60 %


def pair_pass_flops(n: int, m: int) -> float:
    """FLOPs of all pairwise products, ``n(n−1)/2`` dot products of length ``m`` at 2 FLOPs per
    multiply-add: ``n(n−1)·m``. A function of the shape only: the same on every machine.

    Example:
        >>> f"{pair_pass_flops(50257, 768):.3g}"
        '1.94e+12'
    """
    return float(n) * (n - 1) * m


def prefers_exact(n: int, m: int, exact_max_flops: float = DEFAULT_EXACT_MAX_FLOPS) -> bool:
    """The rule of ``--pairs auto``: the exact pass when :func:`pair_pass_flops` is at most
    ``exact_max_flops``, else sampling. No timing enters, so every machine decides alike.

    Example:
        >>> prefers_exact(50257, 768), prefers_exact(262144, 640)
        (True, False)
    """
    return pair_pass_flops(n, m) <= exact_max_flops


def exact_pass_flops(n: int, m: int, block_rows: int) -> float:
    """Multiply-add FLOPs of the blocked exact pass (upper triangle, whole diagonal blocks)."""
    return (
        2.0
        * m
        * sum(
            (min(n, start + block_rows) - start) * (n - start) for start in range(0, n, block_rows)
        )
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(U: torch.Tensor, rows: int, target_flops: float = 2e10) -> float:
    """Measured FLOP/s of a float32 product ``U[:rows] @ U[:cols]ᵀ`` on ``U``'s device.

    ``cols`` is chosen so one product costs about ``target_flops`` (a tenth of a second on a
    laptop CPU); the best of two timed runs after a warm-up is kept. Used only to *predict*
    the exact pass's time for messages, never to choose between exact and sampled results.
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
    """Predicted time of the exact pass on ``U``: its FLOPs over a measured matmul rate.

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
