"""Robust fit of ``L = C·m^−α + L0[g]``: Huber loss on log residuals, multi-start.

As in Hoffmann et al. (2022, approach 3) and its replication by Besiroglu et al. (2024): the
residual is ``ln L − ln(e^a·m^−α + e^{e_g})`` (C = e^a and L0 = e^e stay positive), the loss is
Huber's with a small δ (default 1e-3, theirs), and the minimiser is started from a grid of
initialisations, keeping the best. The solver is ``scipy.optimize.least_squares`` (trust-region,
``loss="huber"``, ``f_scale=δ``: exactly Huber's function), with the analytic Jacobian.

Example:
    >>> import numpy as np
    >>> m = np.array([100.0, 200, 400, 800] * 2); g = np.array([0] * 4 + [1] * 4)
    >>> L = 50 * m ** -0.8 + np.where(g == 0, 2.0, 3.0)
    >>> sol = solve_huber(np.log(m), L, g, 2)
    >>> round(sol.alpha, 3), round(sol.C, 1)
    (0.8, 50.0)
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import optimize

from ..errors import FitError
from ._varpro import LawSolution

ALPHA_STARTS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
OFFSET_FRACTIONS = (0.5, 0.8, 0.95)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber's function: ``r²/2`` for ``|r| ≤ δ``, ``δ(|r| − δ/2)`` beyond."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def solve_huber(
    log_m: np.ndarray,
    L: np.ndarray,
    codes: np.ndarray,
    G: int,
    *,
    delta: float = 1e-3,
    alpha_bounds: tuple[float, float] = (0.01, 5.0),
    starts: list[np.ndarray] | None = None,
    extra_start: LawSolution | None = None,
) -> LawSolution:
    """Huber fit in log space; ``starts`` (θ = a, α, e_1..e_G, scaled m) overrides the grid."""
    lo, hi = alpha_bounds
    log_m_ref = float(np.mean(log_m))
    u = log_m - log_m_ref
    lnL = np.log(L)
    n = L.size
    onehot = np.zeros((n, G))
    onehot[np.arange(n), codes] = 1.0

    def resid(t: np.ndarray) -> np.ndarray:
        return lnL - np.logaddexp(t[0] - t[1] * u, t[2:][codes])

    def jac(t: np.ndarray) -> np.ndarray:
        pa = t[0] - t[1] * u
        pe = t[2:][codes]
        top = np.logaddexp(pa, pe)
        wa, we = np.exp(pa - top), np.exp(pe - top)
        return np.column_stack([-wa, u * wa, -we[:, None] * onehot])

    if starts is None:
        starts = _grid_starts(u, L, codes, G, lo, hi)
    if extra_start is not None and extra_start.C > 0 and np.all(extra_start.offsets > 0):
        first = np.concatenate(
            [
                [np.log(extra_start.C) - extra_start.alpha * log_m_ref, extra_start.alpha],
                np.log(extra_start.offsets),
            ]
        )
        starts = [first, *starts]
    lower = np.full(G + 2, -np.inf)
    upper = np.full(G + 2, np.inf)
    lower[1], upper[1] = lo, hi
    best, best_cost = None, np.inf
    for t0 in starts:
        t0 = np.array(t0, dtype=float)
        t0[1] = np.clip(t0[1], lo + 1e-9, hi - 1e-9)
        try:
            out = optimize.least_squares(
                resid,
                t0,
                jac=jac,
                bounds=(lower, upper),
                method="trf",
                loss="huber",
                f_scale=delta,
                x_scale="jac",
                xtol=1e-12,
                ftol=1e-12,
                gtol=1e-12,
                max_nfev=2000,
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        cost = float(np.sum(huber(resid(out.x), delta)))
        if np.all(np.isfinite(out.x)) and cost < best_cost:
            best, best_cost = out.x, cost
    if best is None:
        raise FitError("the Huber fit failed from every initialisation")
    alpha = float(best[1])
    if min(alpha - lo, hi - alpha) < 1e-6 * (hi - lo):
        raise FitError(f"the Huber fit's α lies at the edge of the search range [{lo:g}, {hi:g}]")
    return LawSolution(
        alpha=alpha,
        C=float(np.exp(best[0] + alpha * log_m_ref)),
        offsets=np.exp(best[2:]),
        log_m_ref=log_m_ref,
        cov=None,
        n_starts=len(starts),
    )


def _grid_starts(
    u: np.ndarray, L: np.ndarray, codes: np.ndarray, G: int, lo: float, hi: float
) -> list[np.ndarray]:
    """Initialisations: α on a grid × offsets at a fraction of each group's smallest loss."""
    mins = np.array([L[codes == g].min() for g in range(G)])
    starts = []
    for a0, f in itertools.product(ALPHA_STARTS, OFFSET_FRACTIONS):
        if not lo < a0 < hi:
            continue
        e = np.log(f * mins)
        excess = L - f * mins[codes]
        ln_c = float(np.median(np.log(excess) + a0 * u))
        starts.append(np.concatenate([[ln_c, a0], e]))
    return starts
