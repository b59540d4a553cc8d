"""What the summary of a token table says: frequency ranks, the most crowded tokens and how a
per-token quantity goes with frequency (Spearman's rank correlation with log frequency).

Example:
    >>> frequency_rank(np.array([5, 0, 7, 5])).tolist()     # ties by id; a count of 0: -1
    [2, -1, 1, 3]
    >>> c = spearman_with_log_frequency(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 3, 4]))
    >>> c["spearman"], c["n_tokens"]
    (1.0, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def frequency_rank(counts: np.ndarray) -> np.ndarray:
    """Each token's rank by count (1: the most frequent; equal counts by id), -1 for a count of
    0 (a token never seen has no rank).

    Example:
        >>> frequency_rank(np.array([0, 3])).tolist()
        [-1, 1]
    """
    counts = np.asarray(counts)
    order = np.lexsort((np.arange(counts.size), -counts))  # by count, then by id
    rank = np.empty(counts.size, dtype=np.int64)
    rank[order] = np.arange(1, counts.size + 1)
    rank[counts <= 0] = -1
    return rank


def spearman_with_log_frequency(values: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """Spearman's rank correlation of ``values`` with ``log(count)`` over the tokens with a
    count above 0 and a finite value (``scipy.stats.spearmanr``; a rank correlation, so the log
    changes nothing but the reading), with its two-sided p-value and the number of tokens.

    Example:
        >>> values, counts = np.array([3.0, 2.0, 1.0, np.nan]), np.array([1, 5, 9, 2])
        >>> c = spearman_with_log_frequency(values, counts)
        >>> c["spearman"], c["n_tokens"]
        (-1.0, 3)
    """
    from scipy.stats import spearmanr

    values = np.asarray(values, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    keep = (counts > 0) & np.isfinite(values)
    n = int(keep.sum())
    if n < 3 or np.ptp(values[keep]) == 0 or np.ptp(counts[keep]) == 0:
        return {"spearman": None, "p_value": None, "n_tokens": n}
    result = spearmanr(values[keep], np.log(counts[keep]))
    return {"spearman": float(result.statistic), "p_value": float(result.pvalue), "n_tokens": n}


def most_crowded(
    interference: np.ndarray,
    k: int,
    *,
    strings: Sequence[str | None] | None = None,
    nearest_id: np.ndarray | None = None,
    nearest_abs_cos: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` tokens of largest interference (NaN last, ties by id), each with its string and
    its nearest neighbour when known.

    Example:
        >>> most_crowded(np.array([0.1, 0.3, np.nan]), 1, strings=["a", "b", "c"])
        [{'id': 1, 'string': 'b', 'interference': 0.3}]
    """
    values = np.asarray(interference, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.lexsort((finite, -values[finite]))][:k]
    out = []
    for i in order.tolist():
        entry: dict[str, Any] = {"id": i, "string": None if strings is None else strings[i]}
        entry["interference"] = float(values[i])
        if nearest_id is not None and nearest_abs_cos is not None and nearest_id[i] >= 0:
            j = int(nearest_id[i])
            entry["nearest_id"] = j
            entry["nearest_string"] = None if strings is None else strings[j]
            entry["nearest_abs_cos"] = float(nearest_abs_cos[i])
        out.append(entry)
    return out


def describe(values: np.ndarray) -> dict[str, float | None]:
    """Mean, median, min and max of the finite values (None when there are none).

    Example:
        >>> describe(np.array([1.0, 3.0, np.nan]))
        {'mean': 2.0, 'median': 2.0, 'min': 1.0, 'max': 3.0}
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return {"mean": None, "median": None, "min": None, "max": None}
    return {
        "mean": float(x.mean()),
        "median": float(np.median(x)),
        "min": float(x.min()),
        "max": float(x.max()),
    }
