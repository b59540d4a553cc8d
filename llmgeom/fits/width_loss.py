"""The width-loss law ``L(g, d) = C / m^α + L0(g, d)``: one shared (C, α), one offset per group.

A group is a (family, corpus) pair. ``loss="ls"`` is least squares on the linear loss scale, as
the authors did (variable projection + joint polish, see :mod:`._varpro`); ``loss="huber"`` is the
robust alternative (Huber loss on log residuals, multi-start, see :mod:`._huber`).

Uncertainty of α, three ways:
- ``alpha_se_``: the authors' formula (paper.md §4), the OLS slope error of
  ``ln(L − L0)`` against ``ln m`` with ``n − 3`` degrees of freedom. It needs every ``L > L0``;
  otherwise, with ``se_rule="strict"`` (the default), it is undefined: NaN plus an explanation
  in ``alpha_se_note_``. ``se_rule="authors"`` computes it as the authors' notebook did,
  ``(L − L0).log().nan_to_num()``: a point with ``L < L0`` enters with ``ln(L − L0) = 0``
  (``L = L0``: the most negative float, so the SE is inf), and ``alpha_se_note_`` counts those
  points (:mod:`llmgeom.fits.width_loss_se`). Where every ``L > L0`` the two rules agree.
- ``alpha_se_asymptotic_`` (least squares only): from the Jacobian, ``s²(JᵀJ)⁻¹``.
- ``alpha_ci_bootstrap_``: percentile interval over ``n_bootstrap`` refits. ``bootstrap="points"``
  resamples points with replacement within each group (default), ``"models"`` resamples whole
  models (all their corpora together), ``"residuals"`` adds resampled residuals to the fit.

Example:
    >>> import numpy as np
    >>> m = np.array([512.0, 1024, 2048, 4096] * 2)
    >>> L = 476.08 * m ** -0.9098 + np.repeat([2.0, 2.3], 4)
    >>> law = WidthLossLaw().fit(m, L, family=["a"] * 8, corpus=["x"] * 4 + ["y"] * 4)
    >>> round(law.alpha_, 4), round(law.C_, 2)
    (0.9098, 476.08)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..errors import FitError
from ..fit_options import SE_RULES, SeRule
from ._restore import restore_width_loss
from ._util import (
    as_finite,
    as_positive,
    check_same_length,
    fmt,
    group_codes,
    jsonable,
    stratified_resample,
    within_group_width_dof,
)
from ._varpro import LawSolution
from ._width_loss_solve import check_identifiable, solve_width_loss
from .bootstrap import BootstrapResult, run_bootstrap
from .migration import WIDTH_LOSS
from .width_loss_se import alpha_se_with_note

SCHEMA = WIDTH_LOSS  # "llmgeom.fit.width_loss/2"
LOSSES = ("ls", "huber")
BOOTSTRAPS = ("points", "models", "residuals")
_SEP = "\x1f"


class WidthLossLaw:
    """Fit ``L = C/m^α + L0(family, corpus)`` by least squares (``"ls"``) or Huber (``"huber"``).

    Example:
        >>> from llmgeom.paper.published import paper_implied_losses
        >>> t = paper_implied_losses()
        >>> law = WidthLossLaw().fit(t.m, t.loss, family=t.family, corpus=t.corpus)
        >>> round(law.alpha_, 4), len(law.offsets_), law.n_points_
        (0.9098, 4, 108)
    """

    def __init__(
        self,
        loss: str = "ls",
        n_bootstrap: int = 0,
        bootstrap: str = "points",
        random_state: int | None = 0,
        confidence: float = 0.95,
        alpha_bounds: tuple[float, float] = (0.01, 5.0),
        huber_delta: float = 1e-3,
        se_rule: SeRule = "strict",
    ) -> None:
        self.loss = loss
        self.n_bootstrap = n_bootstrap
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.confidence = confidence
        self.alpha_bounds = alpha_bounds
        self.huber_delta = huber_delta
        self.se_rule = se_rule

    def _solve(
        self,
        log_m: np.ndarray,
        L: np.ndarray,
        codes: np.ndarray,
        G: int,
        start: LawSolution | None = None,
        with_cov: bool = True,
    ) -> LawSolution:
        return solve_width_loss(
            log_m, L, codes, G, loss=self.loss, alpha_bounds=self.alpha_bounds,
            huber_delta=self.huber_delta, start=start, with_cov=with_cov,
        )  # fmt: skip

    def fit(
        self,
        m: Sequence[float] | np.ndarray,
        loss: Sequence[float] | np.ndarray,
        *,
        family: Sequence[str] | None = None,
        corpus: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
    ) -> WidthLossLaw:
        """Fit widths ``m`` and losses (nats/token); one offset per (family, corpus); ``self``."""
        if self.loss not in LOSSES:
            raise FitError(f"unknown loss {self.loss!r}: use one of {', '.join(LOSSES)}")
        if not (np.isfinite(self.huber_delta) and self.huber_delta > 0):
            raise FitError(f"huber_delta must be finite and > 0, got {self.huber_delta:g}")
        if self.bootstrap not in BOOTSTRAPS:
            raise FitError(
                f"unknown bootstrap {self.bootstrap!r}: use one of {', '.join(BOOTSTRAPS)}"
            )
        if self.se_rule not in SE_RULES:
            raise FitError(f"unknown se_rule {self.se_rule!r}: use one of {', '.join(SE_RULES)}")
        if self.n_bootstrap < 0:
            raise FitError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        m_arr = as_positive("m (width)", m)
        L = as_finite("loss", loss)
        n = m_arr.size
        check_same_length(n, loss=L, family=family, corpus=corpus, models=models)
        if np.any(L <= 0):
            raise FitError(
                f"losses must be positive (cross-entropy in nats); "
                f"{int(np.sum(L <= 0))} are <= 0 (smallest {L.min():.4g})"
            )
        fam = ["all"] * n if family is None else [str(x) for x in family]
        cor = ["all"] * n if corpus is None else [str(x) for x in corpus]
        names = (
            [f"{f}@{mm:g}" for f, mm in zip(fam, m_arr, strict=True)]
            if models is None
            else [str(x) for x in models]
        )
        codes, labels = group_codes([f"{f}{_SEP}{c}" for f, c in zip(fam, cor, strict=True)])
        G = len(labels)
        log_m = np.log(m_arr)
        p = G + 2
        check_identifiable(m_arr, log_m, codes, G)
        sol = self._solve(log_m, L, codes, G)
        self.solution_ = sol
        self.m_, self.loss_values_, self.codes_ = m_arr, L, codes
        self.family_, self.corpus_, self.models_ = fam, cor, names
        self.groups_ = [tuple(label.split(_SEP)) for label in labels]
        self.n_points_, self.n_params_ = n, p
        self.alpha_, self.C_ = sol.alpha, sol.C
        self.offsets_: dict[str, dict[str, float]] = {}
        for (f, c), v in zip(self.groups_, sol.offsets, strict=True):
            self.offsets_.setdefault(f, {})[c] = float(v)
        fitted = sol.predict(log_m, codes)
        self.residuals_ = L - fitted
        self.mse_ = float(np.mean(self.residuals_**2))
        self.rms_ = float(np.sqrt(self.mse_))
        self.alpha_se_, self.alpha_se_note_ = alpha_se_with_note(
            m_arr, L, sol.offsets[codes], sol.C, sol.alpha, self.se_rule
        )
        self.alpha_se_asymptotic_ = sol.alpha_se()
        self.C_se_asymptotic_ = sol.C_se()
        z = float(stats.t.ppf(0.5 + self.confidence / 2, n - 3))
        self.alpha_ci_authors_ = (
            self.alpha_ - z * self.alpha_se_,
            self.alpha_ + z * self.alpha_se_,
        )
        za = float(stats.t.ppf(0.5 + self.confidence / 2, n - p))
        self.alpha_ci_asymptotic_ = (
            self.alpha_ - za * self.alpha_se_asymptotic_,
            self.alpha_ + za * self.alpha_se_asymptotic_,
        )
        self.bootstrap_ = self._run_bootstrap(log_m, L, codes, G, names, fitted)
        self.alpha_ci_bootstrap_ = self.bootstrap_.interval(self.confidence, 0)
        self.C_ci_bootstrap_ = self.bootstrap_.interval(self.confidence, 1)
        return self

    def _run_bootstrap(
        self,
        log_m: np.ndarray,
        L: np.ndarray,
        codes: np.ndarray,
        G: int,
        names: list[str],
        fitted: np.ndarray,
    ) -> BootstrapResult:
        sol = self.solution_
        n, p = L.size, G + 2
        model_codes, _ = group_codes(names)
        n_models = int(model_codes.max()) + 1
        resid = self.residuals_ * np.sqrt(n / (n - p))  # undo the shrinkage of fitted residuals

        def one(rng: np.random.Generator) -> np.ndarray:
            if self.bootstrap == "residuals":
                idx = np.arange(n)
                Lb = fitted + rng.choice(resid, size=n, replace=True)
            else:
                if self.bootstrap == "points":
                    idx = stratified_resample(codes, rng)
                else:
                    picks = rng.integers(0, n_models, size=n_models)
                    idx = np.concatenate([np.flatnonzero(model_codes == k) for k in picks])
                Lb = L[idx]
            cb = codes[idx]
            present = np.unique(cb)
            if present.size < G:  # a group lost all its points: renumber the remaining ones
                cb = np.searchsorted(present, cb)
            if (
                Lb.size <= present.size + 2
                or np.unique(log_m[idx]).size < 3
                or within_group_width_dof(log_m[idx], cb) < 2
            ):
                raise FitError("degenerate replicate")
            if np.any(Lb <= 0):
                raise FitError("non-positive loss in replicate")
            start = sol if present.size == G else None
            if self.loss == "huber" and start is None:
                start = LawSolution(sol.alpha, sol.C, sol.offsets[present], sol.log_m_ref)
            b = self._solve(log_m[idx], Lb, cb, present.size, start=start, with_cov=False)
            return np.array([b.alpha, b.C])

        method = {
            "points": "points resampled with replacement within each (family, corpus)",
            "models": "models resampled with replacement (all corpora of a model together)",
            "residuals": "fitted values + resampled residuals (scaled by sqrt(n/(n-p)))",
        }[self.bootstrap]
        return run_bootstrap(one, self.n_bootstrap, seed=self.random_state, method=method)

    @classmethod
    def from_dict(cls, data: dict) -> WidthLossLaw:
        """The fitted law back from its :meth:`to_dict` (no refit, no bootstrap replicates).

        Example:
            >>> import numpy as np
            >>> m = np.array([512.0, 1024, 2048, 4096] * 2)
            >>> L = 476.08 * m ** -0.9098 + np.repeat([2.0, 2.3], 4)
            >>> law = WidthLossLaw().fit(m, L, corpus=["x"] * 4 + ["y"] * 4)
            >>> back = WidthLossLaw.from_dict(law.to_dict())
            >>> back.to_dict() == law.to_dict()
            True
            >>> bool(back.predict(700, corpus="y") == law.predict(700, corpus="y"))
            True
        """
        return restore_width_loss(cls(), data, SCHEMA)

    def predict(
        self, m: np.ndarray | float, family: str = "all", corpus: str = "all"
    ) -> np.ndarray:
        """Fitted loss at width(s) ``m`` for the (family, corpus) group."""
        try:
            off = self.offsets_[family][corpus]
        except KeyError:
            raise FitError(f"no fitted offset for family {family!r}, corpus {corpus!r}") from None
        return self.C_ * np.asarray(m, dtype=float) ** (-self.alpha_) + off

    def alpha_interval(self) -> tuple[tuple[float, float], str]:
        """The interval to show: bootstrap if run, else the authors' SE, else the Jacobian SE."""
        if self.bootstrap_.samples.shape[0] >= 2:
            return self.alpha_ci_bootstrap_, "bootstrap"
        if np.isfinite(self.alpha_se_):
            return self.alpha_ci_authors_, "authors' SE"
        return self.alpha_ci_asymptotic_, "asymptotic SE"

    def to_dict(self) -> dict:
        """JSON-ready dictionary of the fitted values."""
        return jsonable(
            {
                "schema": SCHEMA,
                "law": "L(g,d) = C / m^alpha + L0(g,d)",
                "loss": self.loss,
                "huber_delta": self.huber_delta if self.loss == "huber" else None,
                "n_points": self.n_points_,
                "n_params": self.n_params_,
                "alpha": self.alpha_,
                "C": self.C_,
                "alpha_se_authors": self.alpha_se_,
                "alpha_se_authors_note": self.alpha_se_note_ or None,
                "se_rule": self.se_rule,
                "alpha_se_asymptotic": self.alpha_se_asymptotic_,
                "C_se_asymptotic": self.C_se_asymptotic_,
                "confidence": self.confidence,
                "alpha_ci_authors": list(self.alpha_ci_authors_),
                "alpha_ci_asymptotic": list(self.alpha_ci_asymptotic_),
                "alpha_ci_bootstrap": list(self.alpha_ci_bootstrap_),
                "C_ci_bootstrap": list(self.C_ci_bootstrap_),
                "bootstrap": self.bootstrap_.to_dict(self.confidence),
                "mean_squared_residual": self.mse_,
                "rms_residual": self.rms_,
                "offsets_L0": self.offsets_,
                "points": [
                    {
                        "model": a,
                        "family": f,
                        "corpus": c,
                        "m": float(m),
                        "loss": float(v),
                        "residual": float(r),
                    }
                    for a, f, c, m, v, r in zip(
                        self.models_,
                        self.family_,
                        self.corpus_,
                        self.m_,
                        self.loss_values_,
                        self.residuals_,
                        strict=True,
                    )
                ],
            }
        )

    def summary(self) -> str:
        """A one-screen human summary."""
        pct = round(100 * self.confidence)
        how = (
            "least squares, linear loss scale"
            if self.loss == "ls"
            else f"Huber (delta={self.huber_delta:g}) on ln L, multi-start"
        )
        lines = [
            f"width-loss law: L = C / m^alpha + L0(family, corpus)   ({how})",
            f"  {self.n_points_} points, {len(self.groups_)} offsets, {self.n_params_} parameters;"
            f" RMS residual {self.rms_:.4f} (mean square {self.mse_:.4g})",
            f"  alpha = {self.alpha_:.4f}   C = {self.C_:.6g}",
        ]
        if np.isfinite(self.alpha_se_):
            lo, hi = self.alpha_ci_authors_
            lines.append(
                f"  SE(alpha), authors' formula  = {self.alpha_se_:.4f}   "
                f"{pct}% interval [{lo:.4f}, {hi:.4f}]"
            )
            if self.alpha_se_note_:  # se_rule="authors" with some L <= L0
                lines.append(f"    ({self.alpha_se_note_})")
        else:
            lines.append(f"  SE(alpha), authors' formula  = undefined: {self.alpha_se_note_}")
        if self.loss == "ls":
            lo, hi = self.alpha_ci_asymptotic_
            lines.append(
                f"  SE(alpha), Jacobian (NLS)    = {fmt(self.alpha_se_asymptotic_)}   "
                f"{pct}% interval [{fmt(lo)}, {fmt(hi)}]"
            )
        b = self.bootstrap_
        if b.n_requested:
            lo, hi = self.alpha_ci_bootstrap_
            lines.append(
                f"  bootstrap {pct}% interval     = [{fmt(lo)}, {fmt(hi)}]  "
                f"({b.samples.shape[0]} of {b.n_requested} replicates; {b.method})"
            )
        else:
            lines.append("  bootstrap: not run (--bootstrap N)")
        lines.append("  offsets L0:")
        for f, by_corpus in self.offsets_.items():
            cells = "  ".join(f"{c}={v:.4f}" for c, v in by_corpus.items())
            lines.append(f"    {f:<10} {cells}")
        return "\n".join(lines)
