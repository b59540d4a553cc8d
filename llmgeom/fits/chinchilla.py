"""Chinchilla consistency check: ``N ∝ d_model^k`` and the implied width exponent ``α_m = k·α_N``.

``k`` is the OLS slope of ``ln N`` on ``ln d_model`` over a table of models (by default the 50
Chinchilla models of Hoffmann et al. 2022, Table A9: k = 2.5226, SE 0.0258). Given
``α_N ± SE(α_N)`` (default 0.35 ± 0.02, the paper's values) the error of ``α_m`` is propagated
two ways, both reported:

- ``"linear"`` (default, reproduces the paper's 0.06): ``σ = α_N·σ_k + k·σ_αN``, i.e. the relative
  errors added linearly (a worst-case bound, appropriate when the two errors may be correlated);
- ``"quadrature"``: ``σ = sqrt((α_N·σ_k)² + (k·σ_αN)²)``, first-order propagation for independent
  errors (0.051 here).

Example:
    >>> c = ChinchillaCheck().fit()
    >>> round(c.k_, 4), round(c.k_se_, 4), round(c.alpha_m_, 2), round(c.alpha_m_err_, 2)
    (2.5226, 0.0258, 0.88, 0.06)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..configs import config_path
from ..errors import FitError
from ._restore import restore_chinchilla
from ._util import jsonable
from .line import fit_power_law
from .migration import CHINCHILLA
from .tables import read_size_table

SCHEMA = CHINCHILLA  # "llmgeom.fit.chinchilla/2"
PROPAGATIONS = ("linear", "quadrature")
DEFAULT_TABLE = "chinchilla_table_a9.csv"


def propagate_product_error(
    k: float, k_se: float, a: float, a_se: float, rule: str = "linear"
) -> float:
    """Error of ``k·a`` from the errors of ``k`` and ``a`` by ``rule`` (linear or quadrature).

    Example:
        >>> round(propagate_product_error(2.52, 0.03, 0.35, 0.02, "linear"), 4)
        0.0609
    """
    terms = np.array([a * k_se, k * a_se])
    if rule == "linear":
        return float(np.sum(np.abs(terms)))
    if rule == "quadrature":
        return float(np.sqrt(np.sum(terms**2)))
    raise FitError(f"unknown propagation rule {rule!r}: use one of {', '.join(PROPAGATIONS)}")


class ChinchillaCheck:
    """Fit ``N = A·d_model^k`` and combine with ``α_N`` into ``α_m = k·α_N``.

    Example:
        >>> c = ChinchillaCheck(alpha_n=0.3478, propagation="quadrature").fit()
        >>> round(c.alpha_m_, 3), round(c.alpha_m_err_, 3)
        (0.877, 0.051)
    """

    def __init__(
        self, alpha_n: float = 0.35, alpha_n_se: float = 0.02, propagation: str = "linear"
    ) -> None:
        self.alpha_n = alpha_n
        self.alpha_n_se = alpha_n_se
        self.propagation = propagation

    def fit(
        self,
        params: Sequence[float] | np.ndarray | None = None,
        d_model: Sequence[float] | np.ndarray | None = None,
    ) -> ChinchillaCheck:
        """Fit parameter counts ``params`` against ``d_model`` (default: the shipped table A9)."""
        if self.propagation not in PROPAGATIONS:
            raise FitError(
                f"unknown propagation rule {self.propagation!r}: use one of "
                f"{', '.join(PROPAGATIONS)}"
            )
        if not (
            np.isfinite(self.alpha_n)
            and np.isfinite(self.alpha_n_se)
            and self.alpha_n > 0
            and self.alpha_n_se >= 0
        ):
            raise FitError("alpha_n must be a finite number > 0 and its SE finite and >= 0")
        if (params is None) != (d_model is None):
            raise FitError("give both params and d_model, or neither (the shipped table)")
        if params is None or d_model is None:  # both None (checked above)
            table = read_size_table(config_path(DEFAULT_TABLE))
            params, d_model = table.params, table.d_model
        fit = fit_power_law(d_model, params)  # ln N = ln A - (-k) ln d
        self.line_ = fit
        self.n_models_ = fit.n_points
        self.d_model_ = np.asarray(d_model, dtype=float)
        self.params_ = np.asarray(params, dtype=float)
        self.k_ = -fit.exponent
        self.k_se_ = fit.exponent_se
        self.k_ci_ = (-fit.exponent_ci95[1], -fit.exponent_ci95[0])
        self.prefactor_ = fit.prefactor
        self.r2_ = fit.r2
        self.alpha_m_ = self.k_ * self.alpha_n
        self.alpha_m_err_linear_ = propagate_product_error(
            self.k_, self.k_se_, self.alpha_n, self.alpha_n_se, "linear"
        )
        self.alpha_m_err_quadrature_ = propagate_product_error(
            self.k_, self.k_se_, self.alpha_n, self.alpha_n_se, "quadrature"
        )
        self.alpha_m_err_ = (
            self.alpha_m_err_linear_
            if self.propagation == "linear"
            else self.alpha_m_err_quadrature_
        )
        return self

    @classmethod
    def from_dict(cls, data: dict) -> ChinchillaCheck:
        """The fitted check back from its :meth:`to_dict` (no refit; the model table is not
        stored, so ``d_model_`` and ``params_`` are ``None``).

        Example:
            >>> c = ChinchillaCheck().fit()
            >>> back = ChinchillaCheck.from_dict(c.to_dict())
            >>> back.to_dict() == c.to_dict(), bool(back.predict(1024) == c.predict(1024))
            (True, True)
        """
        return restore_chinchilla(cls(), data, SCHEMA)

    def predict(self, d_model: np.ndarray | float) -> np.ndarray:
        """Fitted parameter count ``A · d_model^k``.

        Example:
            >>> c = ChinchillaCheck().fit()
            >>> float(c.predict(1.0)) == c.prefactor_
            True
        """
        return self.prefactor_ * np.asarray(d_model, dtype=float) ** self.k_

    def to_dict(self) -> dict:
        """JSON-ready dictionary of the fitted values."""
        return jsonable(
            {
                "schema": SCHEMA,
                "law": "N = A * d_model^k;  alpha_m = k * alpha_n",
                "n_models": self.n_models_,
                "k": self.k_,
                "k_se": self.k_se_,
                "k_ci95_t": list(self.k_ci_),
                "prefactor_A": self.prefactor_,
                "r2": self.r2_,
                "alpha_n": self.alpha_n,
                "alpha_n_se": self.alpha_n_se,
                "alpha_m": self.alpha_m_,
                "alpha_m_err": self.alpha_m_err_,
                "propagation": self.propagation,
                "alpha_m_err_linear": self.alpha_m_err_linear_,
                "alpha_m_err_quadrature": self.alpha_m_err_quadrature_,
            }
        )

    def summary(self) -> str:
        """A one-screen human summary."""
        other = "quadrature" if self.propagation == "linear" else "linear"
        other_err = (
            self.alpha_m_err_quadrature_
            if self.propagation == "linear"
            else self.alpha_m_err_linear_
        )
        return "\n".join(
            [
                f"Chinchilla check: ln N = ln A + k ln d_model   ({self.n_models_} models, "
                f"R^2 = {self.r2_:.4f})",
                f"  k = {self.k_:.2f} +/- {self.k_se_:.2f}   "
                f"(k = {self.k_:.4f}, SE {self.k_se_:.4f}; "
                f"95% t-interval [{self.k_ci_[0]:.4f}, {self.k_ci_[1]:.4f}])",
                f"  alpha_n = {self.alpha_n:g} +/- {self.alpha_n_se:g}",
                f"  alpha_m = k * alpha_n = {self.alpha_m_:.2f} +/- {self.alpha_m_err_:.2f}   "
                f"({self.propagation} error propagation: {self.alpha_m_:.4f} +/- "
                f"{self.alpha_m_err_:.4f})",
                f"  ({other} propagation would give +/- {other_err:.4f})",
            ]
        )
