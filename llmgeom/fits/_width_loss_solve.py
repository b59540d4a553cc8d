"""Solving the width-loss law: whether the data can identify it, and the solver for each loss
(least squares by variable projection, :mod:`._varpro`; Huber on ln L, multi-start,
:mod:`._huber`).

Example:
    >>> import numpy as np
    >>> m = np.array([512.0, 1024, 2048, 4096])
    >>> sol = solve_width_loss(np.log(m), 476.08 * m**-0.9098 + 2.0, np.zeros(4, int), 1,
    ...                        loss="ls", alpha_bounds=(0.01, 5.0), huber_delta=1e-3)
    >>> round(sol.alpha, 4), round(sol.C, 2)
    (0.9098, 476.08)
"""

from __future__ import annotations

import numpy as np

from ..errors import FitError
from ._huber import solve_huber
from ._util import within_group_width_dof
from ._varpro import LawSolution, solve_ls


def check_identifiable(m: np.ndarray, log_m: np.ndarray, codes: np.ndarray, G: int) -> None:
    """:class:`FitError` unless widths ``m`` (logs ``log_m``) in groups ``codes`` (``G`` of them)
    can identify C, α and one offset per group."""
    n, p = m.size, G + 2
    if np.ptp(log_m) == 0:
        raise FitError(f"every point has the same width m = {m[0]:g}: α is not identifiable")
    n_widths = np.unique(m).size
    if n_widths < 3:
        raise FitError(
            f"only {n_widths} distinct widths: C and α of a power law plus offsets "
            "need at least three"
        )
    if n <= p:
        raise FitError(
            f"{n} points but the law has {p} parameters (C, α and {G} offsets): "
            "need more points than parameters"
        )
    if within_group_width_dof(log_m, codes) < 2:
        raise FitError(
            "too little width variation within the (family, corpus) groups: C and "
            "α need at least three distinct widths in one group, or two in each "
            "of two groups"
        )


def solve_width_loss(
    log_m: np.ndarray,
    L: np.ndarray,
    codes: np.ndarray,
    G: int,
    *,
    loss: str,
    alpha_bounds: tuple[float, float],
    huber_delta: float,
    start: LawSolution | None = None,
    with_cov: bool = True,
) -> LawSolution:
    """``L = C/m^α + L0[codes]`` by ``loss`` (``"ls"`` or ``"huber"``); ``start``: a bootstrap
    replicate's starting point (Huber then starts there only). :class:`FitError` where the
    fitted C is not positive."""
    if loss == "ls":
        sol = solve_ls(log_m, L, codes, G, alpha_bounds=alpha_bounds, with_cov=with_cov)
    elif start is None:  # full fit: grid of starts plus the least-squares solution
        try:
            ls = solve_ls(log_m, L, codes, G, alpha_bounds=alpha_bounds, with_cov=False)
        except FitError:
            ls = None
        sol = solve_huber(
            log_m, L, codes, G, delta=huber_delta, alpha_bounds=alpha_bounds, extra_start=ls
        )
    else:  # bootstrap replicate: start from the full-data optimum only
        sol = solve_huber(
            log_m, L, codes, G, delta=huber_delta, alpha_bounds=alpha_bounds, starts=[],
            extra_start=start,
        )  # fmt: skip
    if sol.C <= 0:
        raise FitError(
            f"the fitted C = {sol.C:.4g} is not positive: the losses do not fall with width"
        )
    return sol
