"""Least-squares solver of ``L = C·m^−α + L0[g]`` on the linear loss scale (variable projection).

Given α the model is linear in (C, L0_1..L0_G): C comes from regressing the within-group-centred
losses on the within-group-centred ``m^−α``, and each offset is a group mean. The residual sum of
squares is then a function of α alone: scanned on a grid, refined by bounded 1-D minimisation,
then every parameter is polished jointly by ``scipy.optimize.least_squares`` (Levenberg-Marquardt
with the analytic Jacobian). Internally ``m`` is scaled by its geometric mean ``m_ref`` so that C
and α are not strongly correlated.

Example:
    >>> import numpy as np
    >>> m = np.array([100.0, 200, 400, 800] * 2); g = np.array([0] * 4 + [1] * 4)
    >>> L = 50 * m ** -0.8 + np.where(g == 0, 2.0, 3.0)
    >>> sol = solve_ls(np.log(m), L, g, 2)
    >>> round(sol.alpha, 6), round(sol.C, 4)
    (0.8, 50.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..errors import FitError


@dataclass
class LawSolution:
    """Parameters of ``C·m^−α + L0[g]`` and the Jacobian-based covariance (if available)."""

    alpha: float
    C: float
    offsets: np.ndarray
    log_m_ref: float
    cov: np.ndarray | None = None  # of (C_ref, α, L0_1..L0_G), with C_ref = C·m_ref^−α
    n_starts: int = 1

    def predict(self, log_m: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Fitted losses."""
        return self.C * np.exp(-self.alpha * log_m) + self.offsets[codes]

    def alpha_se(self) -> float:
        """Asymptotic (Jacobian) standard error of α."""
        return float(np.sqrt(self.cov[1, 1])) if self.cov is not None else float("nan")

    def C_se(self) -> float:
        """Asymptotic standard error of C (delta method from C_ref and α)."""
        if self.cov is None:
            return float("nan")
        grad = np.array([np.exp(self.alpha * self.log_m_ref), self.C * self.log_m_ref])
        return float(np.sqrt(grad @ self.cov[:2, :2] @ grad))


def _profile(
    alphas: np.ndarray, u: np.ndarray, L: np.ndarray, codes: np.ndarray, G: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each α: (rss, C_ref, offsets) of the linear sub-problem; ``u = ln(m/m_ref)``."""
    X = np.exp(-np.outer(u, alphas))  # n × K
    counts = np.bincount(codes, minlength=G).astype(float)
    onehot = np.zeros((codes.size, G))
    onehot[np.arange(codes.size), codes] = 1.0
    mean_x = (onehot.T @ X) / counts[:, None]
    mean_L = (onehot.T @ L) / counts
    Xc = X - mean_x[codes]
    Lc = L - mean_L[codes]
    sxx = np.sum(Xc**2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        C = np.where(sxx > 0, (Xc.T @ Lc) / sxx, 0.0)
    resid = Lc[:, None] - Xc * C[None, :]
    rss = np.sum(resid**2, axis=0)
    offsets = mean_L[:, None] - mean_x * C[None, :]
    return rss, C, offsets


def solve_ls(
    log_m: np.ndarray,
    L: np.ndarray,
    codes: np.ndarray,
    G: int,
    *,
    alpha_bounds: tuple[float, float] = (0.01, 5.0),
    n_grid: int = 200,
    polish: bool = True,
    with_cov: bool = True,
) -> LawSolution:
    """Least-squares fit of ``C·m^−α + L0[g]`` (see the module docstring)."""
    lo, hi = alpha_bounds
    log_m_ref = float(np.mean(log_m))
    u = log_m - log_m_ref
    grid = np.linspace(lo, hi, n_grid)
    rss, _, _ = _profile(grid, u, L, codes, G)
    i = int(np.argmin(rss))
    a_lo, a_hi = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]

    def rss_at(a: float) -> float:
        return float(_profile(np.array([a]), u, L, codes, G)[0][0])

    res = optimize.minimize_scalar(
        rss_at, bounds=(a_lo, a_hi), method="bounded", options={"xatol": 1e-10}
    )
    alpha = float(res.x)
    span = hi - lo
    if min(alpha - lo, hi - alpha) < 1e-6 * span:
        raise FitError(
            f"the best α lies at the edge of the search range [{lo:g}, {hi:g}]: the losses do not "
            "pin down a power law in m"
        )
    _, C_ref, off = _profile(np.array([alpha]), u, L, codes, G)
    theta = np.concatenate([[C_ref[0], alpha], off[:, 0]])
    n = L.size
    onehot = np.zeros((n, G))
    onehot[np.arange(n), codes] = 1.0

    def resid(t: np.ndarray) -> np.ndarray:
        return t[0] * np.exp(-t[1] * u) + t[2:][codes] - L

    def jac(t: np.ndarray) -> np.ndarray:
        x = np.exp(-t[1] * u)
        return np.column_stack([x, -t[0] * u * x, onehot])

    if polish:
        out = optimize.least_squares(
            resid, theta, jac=jac, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15
        )
        if np.all(np.isfinite(out.x)) and 0.5 * np.sum(resid(out.x) ** 2) <= 0.5 * np.sum(
            resid(theta) ** 2
        ):
            theta = out.x
    cov = None
    if with_cov:
        J = jac(theta)
        dof = n - theta.size
        r = resid(theta)
        s2 = float(r @ r) / dof if dof > 0 else float("nan")
        try:
            cov = s2 * np.linalg.inv(J.T @ J)
        except np.linalg.LinAlgError:
            cov = None
    alpha = float(theta[1])
    return LawSolution(
        alpha=alpha,
        C=float(theta[0] * np.exp(alpha * log_m_ref)),
        offsets=np.asarray(theta[2:], dtype=float),
        log_m_ref=log_m_ref,
        cov=cov,
    )
