"""Cosines that are bit-identical on every machine: float32 products rounded onto the grid
``2^-23`` and summed exactly (:func:`fixed_point_dots`), and exact integer sums of them
(:class:`PairSums`), so a sampled estimate cannot depend on device, thread count or chunking.

Example:
    >>> import torch
    >>> s = PairSums(bins=0)
    >>> s.add(fixed_point_dots(torch.tensor([[0.6, 0.8], [1.0, 0.0]]),
    ...                        torch.tensor([0, 0]), torch.tensor([1, 1])))
    >>> s.count, round(s.mean_se()[0], 6)
    (2, 0.6)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .overlap import HIST_RANGE

GRID_BITS = 23  # products are rounded to multiples of 2^-23: partial sums stay exact (< 2^24)


def fixed_point_dots(U: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> np.ndarray:
    """``u_i · u_j`` for index vectors ``i``, ``j`` as integers ``x`` with ``cos = x · 2^-23``.

    Float32 products (elementwise, correctly rounded: the same on every device), scaled by
    ``2^23`` and rounded to integers; since ``Σ_k |u_ik u_jk| ≤ ‖u_i‖‖u_j‖ ≈ 1`` every partial
    sum is an integer below ``2^24``, exact in float32 whatever the summation order. Returns
    int64 on the CPU.

    Example:
        >>> import torch
        >>> U = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
        >>> x = fixed_point_dots(U, torch.tensor([0, 0]), torch.tensor([1, 0]))
        >>> (x / 2.0**23).round(6).tolist()
        [0.6, 1.0]
    """
    a = torch.index_select(U, 0, i).to(torch.float32)
    a.mul_(torch.index_select(U, 0, j).to(torch.float32)).mul_(2.0**GRID_BITS).round_()
    return a.sum(dim=1).cpu().numpy().astype(np.int64)


class PairSums:
    """Exact integer sums over the pairs seen (x = cos · 2^23): count, Σ|x|, Σx², Σx⁴; so the
    result cannot depend on how pairs are chunked or summed."""

    def __init__(self, bins: int) -> None:
        self.count = 0
        self.sum_abs = 0
        self.sum_sq = 0
        self.sum_fourth = 0
        self.hist = np.zeros(bins, dtype=np.int64) if bins else None

    def add(self, x: np.ndarray) -> None:
        for start in range(0, x.size, self.SLICE):
            self._add(x[start : start + self.SLICE])
        if self.hist is not None:
            self.hist += np.histogram(x / 2.0**GRID_BITS, len(self.hist), HIST_RANGE)[0]

    SLICE = 2**14  # int64 sums of up to 2^14 values below 2^48 cannot overflow

    def _add(self, x: np.ndarray) -> None:
        ax = np.abs(x)
        self.count += int(x.size)
        self.sum_abs += int(ax.sum())
        sq = ax * ax  # < 2^48
        self.sum_sq += int(sq.sum())
        hi, lo = sq >> 24, sq & (2**24 - 1)  # x⁴ = (hi·2^24 + lo)², hi and lo < 2^24
        self.sum_fourth += (int((hi * hi).sum()) << 48) + (int((hi * lo).sum()) << 25)
        self.sum_fourth += int((lo * lo).sum())

    def mean_se(self) -> tuple[float, float, float, float]:
        """``(mean |cos|, its SE, mean cos², its SE)`` from the exact integer sums."""
        n, scale = self.count, 2.0**GRID_BITS
        mean_abs = self.sum_abs / n / scale
        mean_sq = self.sum_sq / n / scale**2
        if n < 2:
            return mean_abs, math.inf, mean_sq, math.inf
        var_abs = (self.sum_sq * n - self.sum_abs**2) / (n * (n - 1)) / scale**2  # exact ints
        var_sq = (self.sum_fourth * n - self.sum_sq**2) / (n * (n - 1)) / scale**4
        return mean_abs, math.sqrt(max(0.0, var_abs) / n), mean_sq, math.sqrt(max(0.0, var_sq) / n)
