"""The authors' standard error of the width-loss exponent α (paper.md §4).

Example:
    >>> round(authors_alpha_se([10, 100, 1000, 10000], [3.1, 2.52, 2.4, 2.21],
    ...                        [2.2] * 4, 5.0, 0.5), 4)
    0.3454
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import FitError
from ._util import as_finite, as_positive, check_same_length


def authors_alpha_se(
    m: Sequence[float] | np.ndarray,
    loss: Sequence[float] | np.ndarray,
    offsets: Sequence[float] | np.ndarray,
    C: float,
    alpha: float,
) -> float:
    """The authors' standard error of α (paper.md §4), exactly.

    ``sqrt( Σ_k [ln(L_k − L0_k) − ln(C m_k^−α)]² / Σ_k (ln m_k − mean ln m)² / (n − 3) )``,
    ``offsets`` being each point's fitted L0. Raises :class:`FitError` where some ``L_k ≤ L0_k``
    (the logarithm is undefined there).

    Example:
        >>> round(authors_alpha_se([10, 100, 1000, 10000], [3.1, 2.52, 2.4, 2.21],
        ...                        [2.2] * 4, 5.0, 0.5), 4)
        0.3454
    """
    m_arr = as_positive("m", m)
    L = as_finite("loss", loss)
    L0 = as_finite("offsets", offsets)
    check_same_length(m_arr.size, loss=L, offsets=L0)
    n = m_arr.size
    if n <= 3:
        raise FitError(f"the authors' SE needs more than 3 points (n − 3 dof), got {n}")
    gap = L - L0
    bad = np.flatnonzero(gap <= 0)
    if bad.size:
        raise FitError(
            f"the authors' SE formula is undefined: {bad.size} of {n} points have L <= L0 "
            f"(ln(L − L0) of a non-positive number; worst L − L0 = {gap.min():.4g})"
        )
    log_m = np.log(m_arr)
    sxx = float(np.sum((log_m - log_m.mean()) ** 2))
    if sxx == 0:
        raise FitError("the authors' SE is undefined when every point has the same width")
    r = np.log(gap) - (np.log(C) - alpha * log_m)
    return float(np.sqrt(np.sum(r**2) / sxx / (n - 3)))
