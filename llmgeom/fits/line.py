"""Ordinary least-squares power laws: ``y = A * x^(-exponent)`` fitted as a line in log-log.

This is the small building block shared by the toy model (model exponent α_m), the overlap law
and the Chinchilla check.

Example:
    >>> import numpy as np
    >>> m = np.array([10.0, 20.0, 40.0, 80.0])
    >>> fit = fit_power_law(m, 3.0 / m)
    >>> round(fit.exponent, 6), round(fit.prefactor, 6)
    (1.0, 3.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ..errors import FitError


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a log-log line fit ``ln y = ln A - exponent * ln x``."""

    exponent: float
    exponent_se: float
    exponent_ci95: tuple[float, float]
    prefactor: float
    r2: float
    n_points: int

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """Fitted ``A * x^(-exponent)``."""
        return self.prefactor * np.asarray(x, dtype=float) ** (-self.exponent)

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        out = asdict(self)
        out["exponent_ci95"] = list(self.exponent_ci95)
        return out


def _validated_log(name: str, values: ArrayLike) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(values)):
        raise FitError(f"{name} contains NaN or infinite values")
    if np.any(values <= 0):
        raise FitError(f"{name} must be strictly positive for a log-log fit")
    return np.log(values)


def fit_power_law(x: ArrayLike, y: ArrayLike) -> PowerLawFit:
    """Fit ``y = A x^-exponent`` by OLS on ``(ln x, ln y)``; the CI uses Student's t."""
    lx, ly = _validated_log("x", x), _validated_log("y", y)
    if lx.shape != ly.shape:
        raise FitError(f"x and y differ in length ({lx.size} vs {ly.size})")
    if lx.size < 3:
        raise FitError(f"a power-law fit needs at least 3 points, got {lx.size}")
    if np.ptp(lx) == 0:
        raise FitError("all x values are equal: the exponent is not identifiable")
    res = stats.linregress(lx, ly)
    dof = lx.size - 2
    t = stats.t.ppf(0.975, dof)
    slope_se = float(res.stderr)
    exponent = -float(res.slope)
    return PowerLawFit(
        exponent=exponent,
        exponent_se=slope_se,
        exponent_ci95=(exponent - t * slope_se, exponent + t * slope_se),
        prefactor=float(np.exp(res.intercept)),
        r2=float(res.rvalue**2),
        n_points=int(lx.size),
    )
