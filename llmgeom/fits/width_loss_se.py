"""The authors' standard error of the width-loss exponent α (paper.md §4), and what it does
where some loss lies at or below its fitted offset (``L ≤ L0``: ``ln(L − L0)`` is undefined).

Two rules (:data:`~llmgeom.fit_options.SE_RULES`, the ``se_rule`` of
:func:`~llmgeom.fits.fit_loss` and ``llmgeom fit loss --se-rule``):

* ``"strict"`` (the default): the SE is undefined there; :func:`authors_alpha_se` raises
  :class:`~llmgeom.errors.FitError` and the fit reports NaN with the reason.
* ``"authors"``: the authors' notebook, which takes ``(L − L0).log().nan_to_num()``: the
  logarithm of a negative gap (NaN) counts as 0, and of a zero gap (−inf) as the most negative
  float, so such a point contributes ``(0 − ln(C m^−α))²`` (or overflows the SE to inf). The
  number is what their code prints; it is not an estimate of anything where such points exist.

Example:
    >>> m, L0 = [10, 100, 1000, 10000], [2.2] * 4
    >>> round(authors_alpha_se(m, [3.1, 2.52, 2.4, 2.21], L0, 5.0, 0.5), 4)
    0.3454
    >>> round(authors_alpha_se(m, [3.1, 2.52, 2.4, 2.19], L0, 5.0, 0.5, rule="authors"), 4)
    0.6001
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import FitError
from ..fit_options import SE_RULES, SeRule
from ._util import as_finite, as_positive, check_same_length


def log_gaps(gap: np.ndarray, rule: SeRule = "strict") -> np.ndarray:
    """``ln(L − L0)`` of the gaps ``L − L0`` under ``rule``; :class:`FitError` under ``"strict"``
    where some gap is ≤ 0, the authors' ``nan_to_num`` under ``"authors"``.

    Example:
        >>> log_gaps(np.array([1.0, -0.5]), "authors").tolist()
        [0.0, 0.0]
    """
    if rule not in SE_RULES:
        raise FitError(f"unknown se_rule {rule!r}: use one of {', '.join(SE_RULES)}")
    bad = np.flatnonzero(gap <= 0)
    if rule == "authors":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(np.log(gap))
    if bad.size:
        raise FitError(
            f"the authors' SE formula is undefined: {bad.size} of {gap.size} points have L <= L0 "
            f"(ln(L − L0) of a non-positive number; worst L − L0 = {gap.min():.4g})"
        )
    return np.log(gap)


def authors_alpha_se(
    m: Sequence[float] | np.ndarray,
    loss: Sequence[float] | np.ndarray,
    offsets: Sequence[float] | np.ndarray,
    C: float,
    alpha: float,
    *,
    rule: SeRule = "strict",
) -> float:
    """The authors' standard error of α (paper.md §4), exactly.

    ``sqrt( Σ_k [ln(L_k − L0_k) − ln(C m_k^−α)]² / Σ_k (ln m_k − mean ln m)² / (n − 3) )``,
    ``offsets`` being each point's fitted L0. Where some ``L_k ≤ L0_k`` the logarithm is
    undefined: ``rule="strict"`` raises :class:`FitError`, ``rule="authors"`` takes
    ``nan_to_num`` of it as the authors' notebook did (:func:`log_gaps`).

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
    log_gap = log_gaps(L - L0, rule)
    log_m = np.log(m_arr)
    sxx = float(np.sum((log_m - log_m.mean()) ** 2))
    if sxx == 0:
        raise FitError("the authors' SE is undefined when every point has the same width")
    r = log_gap - (np.log(C) - alpha * log_m)
    with np.errstate(over="ignore"):  # a zero gap under the authors' rule: inf, as theirs
        return float(np.sqrt(np.sum(r**2) / sxx / (n - 3)))


def alpha_se_with_note(
    m: np.ndarray, loss: np.ndarray, offsets: np.ndarray, C: float, alpha: float, rule: SeRule
) -> tuple[float, str]:
    """``(authors' SE, note)`` as a fit reports them: NaN and the reason where the SE is
    undefined under ``rule``; under ``"authors"``, a note counting the points with ``L ≤ L0``.

    Example:
        >>> se, note = alpha_se_with_note(np.array([10.0, 100, 1000, 10000]),
        ...     np.array([3.1, 2.52, 2.4, 2.19]), np.full(4, 2.2), 5.0, 0.5, "strict")
        >>> se, note.split(":")[0]
        (nan, "the authors' SE formula is undefined")
    """
    try:
        se = authors_alpha_se(m, loss, offsets, C, alpha, rule=rule)
    except FitError as err:
        return float("nan"), str(err)
    below = int(np.sum(np.asarray(loss) - np.asarray(offsets) <= 0))
    if not below:
        return se, ""
    return se, (
        f"se_rule='authors': {below} of {np.size(loss)} points have L <= L0 and enter with "
        "nan_to_num(ln(L − L0)), as in the authors' notebook"
    )
