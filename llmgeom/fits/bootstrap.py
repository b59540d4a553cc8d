"""A small seeded bootstrap driver shared by the fits.

The caller supplies a function that draws one replicate from a random generator and returns the
statistic(s); replicates whose refit is degenerate (a :class:`FitError`) are counted, not kept.

Example:
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> res = run_bootstrap(lambda rng: rng.choice(x, x.size).mean(), 200, seed=0, method="cases")
    >>> lo, hi = res.interval()
    >>> bool(lo < 4.5 < hi), res.n_failed
    (True, 0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import FitError
from ._util import percentile_interval


@dataclass
class BootstrapResult:
    """Replicate estimates (one row per successful replicate) and how many failed."""

    samples: np.ndarray
    n_requested: int
    n_failed: int
    method: str
    seed: int | None

    def interval(self, level: float = 0.95, column: int = 0) -> tuple[float, float]:
        """Percentile interval of the statistic in ``column``."""
        if self.samples.shape[0] < 2:
            return (float("nan"), float("nan"))
        return percentile_interval(self.samples[:, column], level)

    def std(self, column: int = 0) -> float:
        """Bootstrap standard deviation of the statistic in ``column``."""
        if self.samples.shape[0] < 2:
            return float("nan")
        return float(np.std(self.samples[:, column], ddof=1))

    def to_dict(self, level: float = 0.95) -> dict:
        """JSON-ready description (not the samples themselves)."""
        return {
            "method": self.method,
            "n_requested": self.n_requested,
            "n_used": int(self.samples.shape[0]),
            "n_failed": self.n_failed,
            "seed": self.seed,
            "level": level,
        }


def run_bootstrap(
    statistic: Callable[[np.random.Generator], float | np.ndarray],
    n: int,
    *,
    seed: int | None,
    method: str,
) -> BootstrapResult:
    """Call ``statistic(rng)`` ``n`` times with one seeded generator; collect the results."""
    if n < 0:
        raise FitError(f"the number of bootstrap replicates must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    failed = 0
    for _ in range(n):
        try:
            value = np.atleast_1d(np.asarray(statistic(rng), dtype=float))
        except (FitError, np.linalg.LinAlgError):
            failed += 1
            continue
        if not np.all(np.isfinite(value)):
            failed += 1
            continue
        out.append(value)
    samples = np.vstack(out) if out else np.empty((0, 1))
    return BootstrapResult(
        samples=samples, n_requested=n, n_failed=failed, method=method, seed=seed
    )
