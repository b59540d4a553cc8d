"""Feature frequencies and the sparse data generator of the toy model (paper §5).

A sample is ``x_i = u_i * v_i`` with ``u_i ~ Bernoulli(p_i)`` and ``v_i ~ Uniform(0, 2)``, fresh
every step. With activation density ``E = sum(p)`` of about one, a batch of 2048 samples holds about
2048 non-zeros out of two million entries, so batches are generated and stored sparsely: the
active positions of feature ``i`` are drawn exactly by geometric skipping (gaps between successes
of a Bernoulli(p_i) sequence are geometric), which costs O(B·E + n) random numbers instead of
O(B·n).

Example:
    >>> import torch
    >>> p = frequencies(1000, "power", alpha=1.0)
    >>> round(float(p.sum()), 6), bool(p[0] > p[-1])
    (1.0, True)
    >>> sampler = FeatureSampler(p, batch=256, generator=torch.Generator().manual_seed(0))
    >>> batch = sampler.sample()
    >>> batch.to_dense().shape
    torch.Size([256, 1000])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .config_checks import FAMILIES

V_MEAN: float = 1.0  # <v> for v ~ U(0, 2)
V2_MEAN: float = 4.0 / 3.0  # <v^2> for v ~ U(0, 2)


def frequencies(
    n: int,
    family: str = "power",
    alpha: float = 1.0,
    density: float = 1.0,
    decay: float = 400.0,
) -> torch.Tensor:
    """Feature probabilities ``p`` (float64, descending) normalised so that ``sum(p) = density``.

    Families: ``power`` p_i ∝ i^-alpha; ``exp`` p_i ∝ exp(-i/decay); ``linear`` p_i ∝ n - i + 1.

    Example:
        >>> frequencies(4, "linear").tolist()
        [0.4, 0.3, 0.2, 0.1]
    """
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise ConfigError(f"n (number of features) must be a positive integer, got {n!r}")
    if family not in FAMILIES:
        raise ConfigError(
            f"unknown frequency family {family!r}; choose one of {', '.join(FAMILIES)}"
        )
    if not math.isfinite(alpha) or alpha < 0:
        raise ConfigError(f"alpha (frequency exponent) must be >= 0, got {alpha!r}")
    if not math.isfinite(density) or density <= 0:
        raise ConfigError(
            f"density E (expected active features per sample) must be > 0, got {density!r}"
        )
    if not math.isfinite(decay) or decay <= 0:
        raise ConfigError(f"decay (exp family length scale) must be > 0, got {decay!r}")
    i = torch.arange(1, n + 1, dtype=torch.float64)
    if family == "power":
        w = i ** (-float(alpha))
    elif family == "exp":
        w = torch.exp(-(i - 1) / float(decay))
    else:
        w = n - i + 1
    p = w / w.sum() * float(density)
    if float(p.max()) > 1.0:
        raise ConfigError(
            f"density E={density} makes the most frequent feature's probability"
            f" {float(p.max()):.3g} > 1; lower the density or flatten the frequencies"
        )
    return p


@dataclass(frozen=True)
class SparseBatch:
    """A batch of samples in coordinate form, with the empty samples factored out.

    ``rows`` index the ``n_rows`` non-empty samples (0..n_rows-1), ``cols`` the active features and
    ``vals`` their values; ``n_empty`` samples have no active feature at all.
    """

    batch: int
    n_features: int
    rows: torch.Tensor
    cols: torch.Tensor
    vals: torch.Tensor
    n_rows: int

    @property
    def n_empty(self) -> int:
        """Number of all-zero samples (they only see the bias)."""
        return self.batch - self.n_rows

    def to_dense(self) -> torch.Tensor:
        """The ``[batch, n]`` dense matrix, empty samples last (for tests and references).

        Example:
            >>> b = SparseBatch(3, 2, torch.tensor([0]), torch.tensor([1]), torch.tensor([0.5]), 1)
            >>> b.to_dense().tolist()
            [[0.0, 0.5], [0.0, 0.0], [0.0, 0.0]]
        """
        x = torch.zeros(self.batch, self.n_features, dtype=self.vals.dtype, device=self.vals.device)
        x[self.rows, self.cols] = self.vals
        return x


def _geometric_positions(
    p: torch.Tensor, log_q: torch.Tensor, batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact Bernoulli(p_i) positions in ``[0, batch)`` for every feature, by geometric skipping."""
    device = p.device
    n = p.numel()
    mu = batch * p
    budget = torch.ceil(mu + 6.0 * torch.sqrt(mu * (1.0 - p)) + 8.0).clamp_(max=batch + 1).long()
    features = torch.arange(n, device=device)
    start = torch.full((n,), -1, dtype=torch.long, device=device)  # last position drawn so far
    feat_out, pos_out = [], []
    while features.numel():
        seg = torch.repeat_interleave(features, budget)
        u = torch.rand(seg.numel(), dtype=torch.float64, device=device, generator=generator)
        # failures before the next success: floor(log(1-u) / log(1-p)), with 1-u in (0, 1]
        gaps = torch.floor(torch.log1p(-u) / log_q[seg]).clamp_(max=batch).long() + 1
        csum = torch.cumsum(gaps, 0)
        ends = torch.cumsum(budget, 0)
        base = torch.cat([start[:1] * 0, csum[ends[:-1] - 1]])  # cumsum before each segment
        pos = csum + torch.repeat_interleave(start - base, budget)
        keep = pos < batch
        feat_out.append(seg[keep])
        pos_out.append(pos[keep])
        last = pos[ends - 1]
        short = last < batch  # rare (6 sigma): the walk has not left the batch, draw on
        features, start, budget = features[short], last[short], budget[short]
    return torch.cat(feat_out), torch.cat(pos_out)


class FeatureSampler:
    """Draws fresh sparse batches ``x = Bernoulli(p) * U(0, 2)`` from a seeded generator.

    Example:
        >>> import torch
        >>> gen = torch.Generator().manual_seed(1)
        >>> s = FeatureSampler(frequencies(100), batch=64, generator=gen)
        >>> b = s.sample()
        >>> b.batch, b.n_features, bool((b.vals > 0).all() and (b.vals < 2).all())
        (64, 100, True)
    """

    def __init__(
        self,
        p: torch.Tensor,
        batch: int,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if batch <= 0:
            raise ConfigError(f"batch must be a positive integer, got {batch!r}")
        self.p = p.to(dtype=torch.float64, device=generator.device)
        self.log_q = torch.log1p(-self.p)
        self.batch = int(batch)
        self.generator = generator
        self.dtype = dtype

    @property
    def n_features(self) -> int:
        """Number of features ``n``."""
        return self.p.numel()

    def sample(self) -> SparseBatch:
        """One fresh batch."""
        cols, pos = _geometric_positions(self.p, self.log_q, self.batch, self.generator)
        vals = 2.0 * torch.rand(
            cols.numel(), dtype=self.dtype, device=self.p.device, generator=self.generator
        )
        counts = torch.bincount(pos, minlength=self.batch)
        nonempty = counts > 0
        rowmap = torch.cumsum(nonempty, 0) - 1
        n_rows = int(nonempty.sum())
        return SparseBatch(self.batch, self.n_features, rowmap[pos], cols, vals, n_rows)
