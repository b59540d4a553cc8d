"""Rank-frequency exponent of token counts, fitted two ways.

- :func:`loglog_fit`, the paper's (§3): least squares of ln(count) on ln(rank) at 1000 ranks
  spaced uniformly in ln(rank) between 1 and the number of distinct tokens seen (rounded to whole
  ranks; repeated low ranks are kept, so the points stay uniform in ln(rank)). Its standard
  error assumes independent residuals, which neighbouring ranks are not: read it as a fit quality,
  not an uncertainty.
- :func:`zipf_mle`, a discrete power law p(r) = r^-s / H(V, s) on ranks 1..V fitted by maximum
  likelihood to every counted token (V = the distinct tokens seen, or ``n_ranks``). Its 95 %
  interval is the profile-likelihood interval (2 Δ ln L = 3.84) and its standard error
  comes from the observed Fisher information, N Var_s(ln r). Ranks come from the counts
  themselves, as in every rank-frequency fit.

Example:
    >>> import numpy as np
    >>> counts = np.round(1e6 / np.arange(1, 5001) ** 1.1)   # an exact power law, s = 1.1
    >>> round(loglog_fit(counts)["alpha"], 3)
    1.1
    >>> fit = zipf_mle(counts)
    >>> round(fit["s"], 2), fit["ci95"][0] < fit["s"] < fit["ci95"][1]
    (1.1, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ..errors import FitError

LOGLOG_POINTS = 1000
_CHI2_1_95 = 3.841458820694124  # the 95 % quantile of chi-square with 1 degree of freedom


def rank_counts(counts: np.ndarray) -> np.ndarray:
    """The positive counts sorted in decreasing order (index 0 = rank 1), as float64."""
    values = np.asarray(counts, dtype=np.float64).ravel()
    if values.size and (not np.all(np.isfinite(values)) or values.min() < 0):
        raise FitError("counts must be finite and non-negative")
    return np.sort(values[values > 0])[::-1]


def loglog_fit(counts: np.ndarray, points: int = LOGLOG_POINTS) -> dict[str, Any]:
    """The paper's fit: ln count = c - alpha ln rank at ``points`` ranks uniform in ln(rank)."""
    ranked = rank_counts(counts)
    distinct = ranked.size
    if distinct < 3:
        raise FitError(f"a rank-frequency fit needs at least 3 distinct tokens, got {distinct}")
    ranks = np.rint(np.geomspace(1, distinct, points)).astype(np.int64)
    x = np.log(ranks.astype(np.float64))
    y = np.log(ranked[ranks - 1])
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - (intercept + slope * x)
    sxx = float(np.sum((x - x.mean()) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    se = math.sqrt(float(residuals @ residuals) / (points - 2) / sxx)
    return {
        "method": "log-log least squares at ranks uniform in ln(rank) (paper §3)",
        "alpha": float(-slope),
        "se": se,
        "intercept": float(intercept),
        "r2": 1.0 - float(residuals @ residuals) / sst if sst > 0 else 1.0,
        "points": points,
        "max_rank": distinct,
    }


def _moments(log_r: np.ndarray, s: float) -> tuple[float, float, float]:
    """(ln Z(s), E_s[ln r], Var_s[ln r]) for p(r) ∝ exp(-s ln r), computed stably."""
    exponent = -s * log_r
    top = exponent.max()
    weights = np.exp(exponent - top)
    z = weights.sum()
    mean = float(weights @ log_r / z)
    var = float(weights @ (log_r - mean) ** 2 / z)
    return float(top + math.log(z)), mean, var


def zipf_mle(counts: np.ndarray, n_ranks: int | None = None) -> dict[str, Any]:
    """Maximum-likelihood exponent s of p(r) ∝ r^-s on ranks 1..V, with a 95 % interval.

    ``counts``: occurrences per token (any order); ``n_ranks``: V, at least the number of
    distinct tokens (default: that number; pass the vocabulary size to count unseen tokens as
    ranks observed zero times).
    """
    ranked = rank_counts(counts)
    distinct = ranked.size
    if distinct < 2:
        raise FitError(f"a power-law fit needs at least 2 distinct tokens, got {distinct}")
    ranks = distinct if n_ranks is None else int(n_ranks)
    if ranks < distinct:
        raise FitError(f"n_ranks ({ranks}) is below the number of distinct tokens ({distinct})")
    log_r = np.log(np.arange(1, ranks + 1, dtype=np.float64))
    total = float(ranked.sum())
    mean_log_r = float(ranked @ log_r[:distinct]) / total

    def loglik(s: float) -> float:
        return -s * mean_log_r * total - total * _moments(log_r, s)[0]

    def score(s: float) -> float:  # d ln L / ds divided by N: E_s[ln r] - mean ln r
        return _moments(log_r, s)[1] - mean_log_r

    low, high = -1.0, 4.0
    while score(low) < 0:  # E_s[ln r] decreases with s: widen until the root is bracketed
        low -= 4.0
    while score(high) > 0:
        high *= 2.0
        if high > 1e4:  # pragma: no cover - all mass at rank 1 is excluded above
            raise FitError("the power-law fit did not converge")
    s_hat = float(brentq(score, low, high, xtol=1e-12))
    best = loglik(s_hat)
    fisher = total * _moments(log_r, s_hat)[2]
    target = best - _CHI2_1_95 / 2

    def drop(s: float) -> float:
        return loglik(s) - target

    step = max(10.0 / math.sqrt(fisher), 1e-6)
    lo = s_hat - step
    while drop(lo) > 0:
        lo -= step
        step *= 2
    step = max(10.0 / math.sqrt(fisher), 1e-6)
    hi = s_hat + step
    while drop(hi) > 0:
        hi += step
        step *= 2
    ci = (float(brentq(drop, lo, s_hat, xtol=1e-12)), float(brentq(drop, s_hat, hi, xtol=1e-12)))
    return {
        "method": "discrete power law p(r) ∝ r^-s on ranks 1..V, maximum likelihood",
        "s": s_hat,
        "se": 1.0 / math.sqrt(fisher),
        "ci95": ci,
        "ci_method": "profile likelihood, 2 Δ ln L = 3.84 (sampling error only: it does not "
        "cover the misfit of a single power law to real token counts)",
        "n_ranks": ranks,
        "tokens": int(total),
        "log_likelihood": best,
    }
