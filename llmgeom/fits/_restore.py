"""Rebuild fitted laws from the dictionaries their ``to_dict`` wrote, without refitting.

Every attribute that ``to_dict``, ``summary`` and ``predict`` read is restored from the payload,
so ``from_dict(d).to_dict() == d``. What the payload does not hold is rebuilt from what it does
hold (the overlap law's covariance from its points, the width-loss law's group codes from its
points) or left out: bootstrap replicates are not stored, so a restored :class:`BootstrapResult`
has ``n_used`` rows and no columns.

Example:
    >>> from llmgeom.fits.chinchilla import ChinchillaCheck
    >>> d = ChinchillaCheck().fit().to_dict()
    >>> restore_chinchilla(ChinchillaCheck(), d, d["schema"]).to_dict() == d
    True
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from ..errors import FitError
from ..records.base import MALFORMED
from ._util import group_codes
from .bootstrap import BootstrapResult
from .migration import migrate_fit

T = TypeVar("T")
_SEP = "\x1f"  # the (family, corpus) label separator of the width-loss law


def num(x: Any) -> float:
    """``x`` as a float, JSON's ``None`` (a non-finite value) as NaN.

    Example:
        >>> num(None), num(2)
        (nan, 2.0)
    """
    return float("nan") if x is None else float(x)


def pair(x: Any) -> tuple[float, float]:
    """A stored ``[lo, hi]`` interval as a tuple of floats (``None`` as NaN)."""
    lo, hi = x
    return num(lo), num(hi)


def bootstrap_from_dict(d: dict[str, Any]) -> BootstrapResult:
    """A :class:`BootstrapResult` from its ``to_dict`` (``n_used`` rows, no sample values)."""
    return BootstrapResult(
        samples=np.empty((int(d["n_used"]), 0)),
        n_requested=int(d["n_requested"]),
        n_failed=int(d["n_failed"]),
        method=str(d["method"]),
        seed=d["seed"],
    )


def _checked(kind: str, d: Any, schema: str, restore: Any) -> Any:
    if not isinstance(d, dict) or d.get("schema") != schema:
        got = d.get("schema") if isinstance(d, dict) else type(d).__name__
        raise FitError(f"not an {kind} fit result (schema {got!r}, expected {schema!r})")
    try:
        return restore()
    except MALFORMED as err:
        raise FitError(f"malformed {schema} result: {type(err).__name__}: {err}") from None


def restore_overlap(law: T, d: dict[str, Any], schema: str) -> T:
    """Set the fitted attributes of an ``OverlapLaw`` from its ``to_dict``; returns ``law``."""
    d = migrate_fit(d)  # a result of the former version: today's names

    def restore() -> T:
        s: Any = law
        points = d["points"]
        s.confidence = float(d["confidence"])
        s.bootstrap_ = bootstrap_from_dict(d["bootstrap"])
        s.n_bootstrap, s.random_state = s.bootstrap_.n_requested, s.bootstrap_.seed
        s.n_models_, s.families_ = int(d["n_models"]), list(d["families"])
        s.slope_, s.slope_se_ = num(d["slope"]), num(d["slope_se"])
        s.slope_ci_, s.slope_ci_bootstrap_ = pair(d["slope_ci_t"]), pair(d["slope_ci_bootstrap"])
        s.dof_ = int(d["dof"])
        s.r2_, s.r2_within_ = num(d["r2"]), num(d["r2_within_family"])
        s.residual_std_ = num(d["residual_std_log"])
        test = d["test_slope_eq_1"]
        s.t_slope_eq_1_, s.p_slope_eq_1_ = num(test["t"]), num(test["p_two_sided"])
        s.intercepts_ = {g: float(v) for g, v in d["intercepts"].items()}
        s.per_family_ = d["per_family"]
        s.models_ = [str(p["model"]) for p in points]
        s.family_ = [str(p["family"]) for p in points]
        s.m_ = np.array([p["m"] for p in points], dtype=float)
        s.mean_cos2_ = np.array([p["mean_cos2"] for p in points], dtype=float)
        s.m_times_mean_cos2_ = {str(p["model"]): float(p["m_times_mean_cos2"]) for p in points}
        s.cov_ = _overlap_cov(s)
        return law

    return _checked("overlap", d, schema, restore)


def _overlap_cov(s: Any) -> np.ndarray:
    """``s² (XᵀX)⁻¹`` of the pooled OLS, X = family dummies and ``−ln m`` of the points."""
    index = {g: i for i, g in enumerate(s.families_)}
    X = np.zeros((s.m_.size, len(index) + 1))
    X[np.arange(s.m_.size), [index[f] for f in s.family_]] = 1.0
    X[:, -1] = -np.log(s.m_)
    try:
        return s.residual_std_**2 * np.linalg.inv(X.T @ X)
    except np.linalg.LinAlgError:
        return np.full((X.shape[1], X.shape[1]), np.nan)


def restore_width_loss(law: T, d: dict[str, Any], schema: str) -> T:
    """Set the fitted attributes of a ``WidthLossLaw`` from its ``to_dict``; returns ``law``."""
    d = migrate_fit(d)  # a result of the former version: today's names
    from ._varpro import LawSolution

    methods = {"points": "points resampled", "models": "models resampled", "residuals": "fitted"}

    def restore() -> T:
        s: Any = law
        points = d["points"]
        s.loss = str(d["loss"])
        s.huber_delta = 1e-3 if d["huber_delta"] is None else float(d["huber_delta"])
        s.se_rule = str(d["se_rule"])
        s.confidence = float(d["confidence"])
        s.bootstrap_ = bootstrap_from_dict(d["bootstrap"])
        s.n_bootstrap, s.random_state = s.bootstrap_.n_requested, s.bootstrap_.seed
        s.bootstrap = next(
            (k for k, v in methods.items() if s.bootstrap_.method.startswith(v)), "points"
        )
        s.n_points_, s.n_params_ = int(d["n_points"]), int(d["n_params"])
        s.alpha_, s.C_ = float(d["alpha"]), float(d["C"])
        s.alpha_se_, s.alpha_se_note_ = num(d["alpha_se_authors"]), d["alpha_se_authors_note"] or ""
        s.alpha_se_asymptotic_ = num(d["alpha_se_asymptotic"])
        s.C_se_asymptotic_ = num(d["C_se_asymptotic"])
        s.alpha_ci_authors_ = pair(d["alpha_ci_authors"])
        s.alpha_ci_asymptotic_ = pair(d["alpha_ci_asymptotic"])
        s.alpha_ci_bootstrap_ = pair(d["alpha_ci_bootstrap"])
        s.C_ci_bootstrap_ = pair(d["C_ci_bootstrap"])
        s.mse_, s.rms_ = num(d["mean_squared_residual"]), num(d["rms_residual"])
        s.offsets_ = {f: {c: float(v) for c, v in by.items()} for f, by in d["offsets_L0"].items()}
        s.models_ = [str(p["model"]) for p in points]
        s.family_ = [str(p["family"]) for p in points]
        s.corpus_ = [str(p["corpus"]) for p in points]
        s.m_ = np.array([p["m"] for p in points], dtype=float)
        s.loss_values_ = np.array([p["loss"] for p in points], dtype=float)
        s.residuals_ = np.array([num(p["residual"]) for p in points])
        labels = [f"{f}{_SEP}{c}" for f, c in zip(s.family_, s.corpus_, strict=True)]
        s.codes_, groups = group_codes(labels)
        s.groups_ = [tuple(g.split(_SEP)) for g in groups]
        offsets = np.array([s.offsets_[f][c] for f, c in s.groups_])
        log_m_ref = float(np.mean(np.log(s.m_)))
        s.solution_ = LawSolution(s.alpha_, s.C_, offsets, log_m_ref)
        return law

    return _checked("width-loss", d, schema, restore)


def restore_chinchilla(check: T, d: dict[str, Any], schema: str) -> T:
    """Set the fitted attributes of a ``ChinchillaCheck`` from its ``to_dict``; returns it.

    The model table is not part of the payload: ``d_model_`` and ``params_`` stay ``None``.
    """
    d = migrate_fit(d)  # a result of the former version: today's names

    def restore() -> T:
        s: Any = check
        s.alpha_n, s.alpha_n_se = float(d["alpha_n"]), float(d["alpha_n_se"])
        s.propagation = str(d["propagation"])
        s.n_models_ = int(d["n_models"])
        s.k_, s.k_se_, s.k_ci_ = float(d["k"]), num(d["k_se"]), pair(d["k_ci95_t"])
        s.prefactor_, s.r2_ = float(d["prefactor_A"]), num(d["r2"])
        s.alpha_m_, s.alpha_m_err_ = float(d["alpha_m"]), num(d["alpha_m_err"])
        s.alpha_m_err_linear_ = num(d["alpha_m_err_linear"])
        s.alpha_m_err_quadrature_ = num(d["alpha_m_err_quadrature"])
        s.d_model_ = s.params_ = None
        return check

    return _checked("chinchilla", d, schema, restore)
