"""Reference values a measured overlap is compared with (paper.md §2).

For ``n`` unit vectors in ``R^m``: i.i.d. random directions give E[cos²] = 1/m exactly,
Var[cos²] = 2(m−1)/(m²(m+2)) and E|cos| = Γ(m/2)/(√π Γ((m+1)/2)); no set of ``n`` unit
vectors can have mean cos² below the frame bound (n−m)/(m(n−1)), nor max |cos| below the
Welch bound √((n−m)/(m(n−1))).

Example:
    >>> ref = reference_values(n=1000, m=10)
    >>> ref["random_mean_cos2"], round(ref["frame_bound_mean_cos2"], 6)
    (0.1, 0.099099)
"""

from __future__ import annotations

import math


def random_mean_abs_cos(m: int) -> float:
    """E|cos| between two independent uniformly random unit vectors in ``R^m``."""
    return math.exp(math.lgamma(m / 2) - math.lgamma((m + 1) / 2)) / math.sqrt(math.pi)


def frame_bound(n: int, m: int) -> float:
    """Lower bound on mean_{i≠j} cos² for any ``n`` unit vectors in ``R^m``,
    ``(n − m) / (m (n − 1))``; 0 when ``n ≤ m`` (orthogonal vectors fit) and for fewer than two
    vectors (no pair).

    Example:
        >>> round(frame_bound(1000, 10), 6), frame_bound(5, 10), frame_bound(1, 10)
        (0.099099, 0.0, 0.0)
    """
    return max(0.0, (n - m) / (m * (n - 1))) if n > 1 else 0.0


def reference_values(n: int, m: int) -> dict[str, float]:
    """Baselines for ``n`` unit vectors of width ``m`` (random vectors, frame and Welch bounds)."""
    bound = frame_bound(n, m)
    return {
        "random_mean_cos2": 1.0 / m,
        "random_std_cos2": math.sqrt(2 * (m - 1) / (m * m * (m + 2))),
        "random_mean_abs_cos": random_mean_abs_cos(m),
        "frame_bound_mean_cos2": bound,
        "welch_bound_max_abs_cos": math.sqrt(bound),
    }
