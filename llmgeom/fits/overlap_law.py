"""The overlap-vs-width law: ``ln(mean cos²) = a_g − s·ln m``, per family and pooled.

The pooled fit is ordinary least squares with one intercept per family (dummies) and one shared
slope ``s``. Reported: ``s`` ± SE (OLS), its Student-t interval, a seeded bootstrap interval that
resamples models within each family, R², the t-test of ``s = 1`` (the paper's 1/m claim), and
each model's ratio of mean cos² to the random-vector value 1/m (m = its head width).

Example:
    >>> import numpy as np
    >>> m = np.array([512, 1024, 2048, 768, 1536, 3072.0])
    >>> fam = ["a", "a", "a", "b", "b", "b"]
    >>> y = np.where(np.array(fam) == "a", 20.0, 40.0) / m * np.array([1, 1.02, .99, 1, .98, 1.01])
    >>> law = OverlapLaw(n_bootstrap=0).fit(m, y, family=fam)
    >>> round(law.slope_, 2)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..errors import FitError
from ._restore import restore_overlap
from ._util import (
    as_positive,
    check_same_length,
    fmt,
    group_codes,
    jsonable,
    stratified_resample,
    within_group_width_dof,
)
from .bootstrap import BootstrapResult, run_bootstrap
from .line import fit_power_law
from .migration import OVERLAP

SCHEMA = OVERLAP  # "llmgeom.fit.overlap/2"


def _pooled_ols(log_m: np.ndarray, y: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple:
    """OLS of ``y`` on family dummies and ``−ln m``; returns (beta, cov, ssr, dof)."""
    n = y.size
    p = n_groups + 1
    if n < p:
        raise FitError(f"{n} points but the pooled fit has {p} parameters ({n_groups} offsets + s)")
    if np.ptp(log_m) == 0:
        raise FitError(
            f"all models have the same width m = {np.exp(log_m[0]):g}: "
            "the slope is not identifiable"
        )
    if within_group_width_dof(log_m, codes) < 1:
        raise FitError(
            "no family has two different widths: with one offset per family the "
            "slope is not identifiable"
        )
    dof = n - p
    if dof < 1:
        raise FitError(f"{n} points for {p} parameters leaves no degree of freedom for an error")
    X = np.zeros((n, p))
    X[np.arange(n), codes] = 1.0
    X[:, -1] = -log_m
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    ssr = float(resid @ resid)
    cov = ssr / dof * np.linalg.inv(X.T @ X)
    return beta, cov, ssr, dof


class OverlapLaw:
    """Fit ``mean cos² = e^{a_g} · m^{−s}``: shared slope ``s``, one offset per family.

    Parameters: ``n_bootstrap`` replicates (0 to skip), ``random_state`` seed, ``confidence``
    level of the intervals.

    Example:
        >>> import numpy as np
        >>> m = np.array([256.0, 512, 1024, 2048])
        >>> law = OverlapLaw(n_bootstrap=0).fit(m, 30 / m * np.array([1, 1.1, .9, 1]))
        >>> round(law.slope_, 1), law.families_
        (1.0, ['all'])
    """

    def __init__(
        self, n_bootstrap: int = 1000, random_state: int | None = 0, confidence: float = 0.95
    ) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.confidence = confidence

    def fit(
        self,
        m: Sequence[float] | np.ndarray,
        mean_cos2: Sequence[float] | np.ndarray,
        *,
        family: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        head_width: Sequence[float] | np.ndarray | None = None,
    ) -> OverlapLaw:
        """Fit the law to widths ``m`` and mean squared overlaps; returns ``self``.

        ``head_width`` (default ``m``) sets the random baseline 1/m of the ratios.
        """
        if self.n_bootstrap < 0:
            raise FitError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        m_arr = as_positive("m (width)", m)
        y_raw = as_positive("mean_cos2", mean_cos2)
        n = m_arr.size
        check_same_length(n, mean_cos2=y_raw, family=family, models=models, head_width=head_width)
        fam = ["all"] * n if family is None else [str(f) for f in family]
        names = [f"model{i}" for i in range(n)] if models is None else [str(x) for x in models]
        head = m_arr if head_width is None else as_positive("head_width", head_width)
        codes, groups = group_codes(fam)
        log_m, y = np.log(m_arr), np.log(y_raw)

        beta, cov, ssr, dof = _pooled_ols(log_m, y, codes, len(groups))
        self.m_, self.mean_cos2_, self.family_, self.models_ = m_arr, y_raw, fam, names
        self.families_ = groups
        self.n_models_ = n
        self.slope_ = float(beta[-1])
        self.slope_se_ = float(np.sqrt(cov[-1, -1]))
        self.dof_ = int(dof)
        t_crit = float(stats.t.ppf(0.5 + self.confidence / 2, dof))
        half = t_crit * self.slope_se_
        self.slope_ci_ = (self.slope_ - half, self.slope_ + half)
        self.intercepts_ = {g: float(beta[i]) for i, g in enumerate(groups)}
        self.cov_ = cov
        sst = float(np.sum((y - y.mean()) ** 2))
        group_means = np.bincount(codes, weights=y) / np.bincount(codes)
        sst_within = float(np.sum((y - group_means[codes]) ** 2))
        self.r2_ = 1.0 - ssr / sst if sst > 0 else float("nan")
        self.r2_within_ = 1.0 - ssr / sst_within if sst_within > 0 else float("nan")
        self.residual_std_ = float(np.sqrt(ssr / dof))
        self.t_slope_eq_1_ = (
            (self.slope_ - 1.0) / self.slope_se_
            if self.slope_se_ > 0
            else (float("inf") if self.slope_ != 1.0 else 0.0)
        )
        self.p_slope_eq_1_ = float(2 * stats.t.sf(abs(self.t_slope_eq_1_), dof))
        self.m_times_mean_cos2_ = {
            nm: float(v * h) for nm, v, h in zip(names, y_raw, head, strict=True)
        }
        self.per_family_ = self._per_family(m_arr, y_raw, fam, groups)
        self.bootstrap_ = self._bootstrap(log_m, y, codes, len(groups))
        self.slope_ci_bootstrap_ = self.bootstrap_.interval(self.confidence)
        return self

    def _per_family(self, m: np.ndarray, y: np.ndarray, fam: list[str], groups: list[str]) -> dict:
        out: dict[str, dict] = {}
        fam_arr = np.array(fam)
        for g in groups:
            sel = fam_arr == g
            try:
                fit = fit_power_law(m[sel], y[sel])
            except FitError as err:
                out[g] = {"n_models": int(sel.sum()), "skipped": str(err)}
                continue
            out[g] = {
                "n_models": fit.n_points,
                "slope": fit.exponent,
                "slope_se": fit.exponent_se,
                "slope_ci95": list(fit.exponent_ci95),
                "prefactor": fit.prefactor,
                "r2": fit.r2,
            }
        return out

    def _bootstrap(
        self, log_m: np.ndarray, y: np.ndarray, codes: np.ndarray, G: int
    ) -> BootstrapResult:
        def one(rng: np.random.Generator) -> float:
            idx = stratified_resample(codes, rng)
            return float(_pooled_ols(log_m[idx], y[idx], codes[idx], G)[0][-1])

        return run_bootstrap(
            one,
            self.n_bootstrap,
            seed=self.random_state,
            method="models resampled with replacement within each family",
        )

    @classmethod
    def from_dict(cls, data: dict) -> OverlapLaw:
        """The fitted law back from its :meth:`to_dict` (no refit; bootstrap replicates are not
        stored, the covariance is rebuilt from the points).

        Example:
            >>> import numpy as np
            >>> m = np.array([256.0, 512, 1024, 2048])
            >>> law = OverlapLaw(n_bootstrap=0).fit(m, 30 / m * np.array([1, 1.1, .9, 1]))
            >>> back = OverlapLaw.from_dict(law.to_dict())
            >>> back.to_dict() == law.to_dict(), bool(back.predict(300.0) == law.predict(300.0))
            (True, True)
        """
        return restore_overlap(cls(), data, SCHEMA)

    def predict(self, m: np.ndarray | float, family: str | None = None) -> np.ndarray:
        """Fitted mean cos² at width(s) ``m`` for ``family`` (the only one if omitted)."""
        g = self._family(family)
        return np.exp(self.intercepts_[g] - self.slope_ * np.log(np.asarray(m, dtype=float)))

    def predict_band(self, m: np.ndarray, family: str | None = None) -> tuple[np.ndarray, ...]:
        """Pointwise confidence band (lower, upper) of the fitted line of ``family``."""
        g = self._family(family)
        i = self.families_.index(g)
        lm = np.log(np.asarray(m, dtype=float))
        var = self.cov_[i, i] + lm**2 * self.cov_[-1, -1] - 2 * lm * self.cov_[i, -1]
        t_crit = float(stats.t.ppf(0.5 + self.confidence / 2, self.dof_))
        centre = self.intercepts_[g] - self.slope_ * lm
        half = t_crit * np.sqrt(np.maximum(var, 0.0))
        return np.exp(centre - half), np.exp(centre + half)

    def _family(self, family: str | None) -> str:
        if family is None:
            if len(self.families_) != 1:
                raise FitError(f"name a family: one of {', '.join(self.families_)}")
            return self.families_[0]
        if family not in self.intercepts_:
            raise FitError(f"unknown family {family!r}: one of {', '.join(self.families_)}")
        return family

    def to_dict(self) -> dict:
        """JSON-ready dictionary of the fitted values."""
        return jsonable(
            {
                "schema": SCHEMA,
                "law": "ln(mean_cos2) = a_family - s * ln(m)",
                "n_models": self.n_models_,
                "families": self.families_,
                "slope": self.slope_,
                "slope_se": self.slope_se_,
                "confidence": self.confidence,
                "slope_ci_t": list(self.slope_ci_),
                "slope_ci_bootstrap": list(self.slope_ci_bootstrap_),
                "bootstrap": self.bootstrap_.to_dict(self.confidence),
                "dof": self.dof_,
                "r2": self.r2_,
                "r2_within_family": self.r2_within_,
                "residual_std_log": self.residual_std_,
                "test_slope_eq_1": {"t": self.t_slope_eq_1_, "p_two_sided": self.p_slope_eq_1_},
                "intercepts": self.intercepts_,
                "per_family": self.per_family_,
                "points": [
                    {
                        "model": nm,
                        "family": f,
                        "m": float(m),
                        "mean_cos2": float(v),
                        "m_times_mean_cos2": self.m_times_mean_cos2_[nm],
                    }
                    for nm, f, m, v in zip(
                        self.models_, self.family_, self.m_, self.mean_cos2_, strict=True
                    )
                ],
            }
        )

    def summary(self) -> str:
        """A one-screen human summary."""
        lo, hi = self.slope_ci_
        blo, bhi = self.slope_ci_bootstrap_
        pct = round(100 * self.confidence)
        lines = [
            f"overlap law: ln(mean cos^2) = a_family - s ln m   "
            f"({self.n_models_} models, {len(self.families_)} families)",
            f"  pooled slope s = {self.slope_:.3f} +/- {self.slope_se_:.3f} (SE)   "
            f"{pct}% t-interval [{lo:.3f}, {hi:.3f}]",
            f"  bootstrap {pct}% interval [{fmt(blo, 4)}, {fmt(bhi, 4)}] "
            f"({self.bootstrap_.samples.shape[0]} of {self.bootstrap_.n_requested} replicates, "
            "models resampled within family)",
            f"  R^2 = {self.r2_:.3f} (within families {fmt(self.r2_within_, 3)}), "
            f"residual sd {self.residual_std_:.3f} in ln",
            f"  test s = 1: t = {self.t_slope_eq_1_:.2f} on {self.dof_} dof, "
            f"p = {self.p_slope_eq_1_:.3g}",
            "  per family:",
        ]
        for g, d in self.per_family_.items():
            if "skipped" in d:
                lines.append(f"    {g:<10} n={d['n_models']:<3} skipped: {d['skipped']}")
            else:
                lines.append(
                    f"    {g:<10} n={d['n_models']:<3} s = {d['slope']:.3f} +/- "
                    f"{d['slope_se']:.3f}   R^2 = {d['r2']:.3f}"
                )
        ratios = np.array(list(self.m_times_mean_cos2_.values()))
        lines.append(
            f"  m*mean cos^2 (m = head width): median {np.median(ratios):.1f} "
            f"(range {ratios.min():.1f} .. {ratios.max():.1f})"
        )
        return "\n".join(lines)
