"""The frequency direction of a head (issue 18 §5): the direction of the rows that predicts how
often a token occurs, and how much of the mean cos² it carries.

* :func:`fit_frequency_ridge` — a ridge regression of ``y_i = log(1 + count_i)`` on the raw rows
  ``w_i`` (the features as the logits use them, not standardised; the intercept fitted and not
  penalised; every row with a direction, the tokens never seen included: ``log(1 + 0) = 0``
  says "rare"). scikit-learn's ``RidgeCV`` picks the penalty α from a log-spaced grid
  (:func:`alpha_grid`: relative to the mean eigenvalue of the centred ``XᵀX``, so the grid
  follows the head's scale) by its efficient leave-one-out path on all tokens; with α fixed,
  ``cross_val_score`` gives the R² of ``Ridge(alpha)`` on 5 shuffled folds (``KFold``, seed
  :data:`SEED`; α is chosen once, on all tokens, and fixed in the folds). The direction ``d`` is
  the coefficient vector made unit: it points towards the frequent tokens. Cost O(n·m²) per α
  of the grid and per fold (float64, on a float64 copy of the rows), no ``n × n`` work.
* :func:`projected_mean_cos2` — every unit row with ``d`` projected out,
  ``u_i' = (u_i − (u_i·d) d) / ‖u_i − (u_i·d) d‖``, and their mean cos² over pairs i≠j exactly
  by the Gram identity ``(‖Σ_i u_i' u_i'ᵀ‖_F² − Σ_i ‖u_i'‖⁴) / (n(n−1))``. The sum is
  ``P (Σ_i s_i² u_i u_iᵀ) P`` with ``P = I − ddᵀ`` and ``s_i = 1 / ‖P u_i‖``; it is built from
  the projected rows chunk by chunk (float32 products, float64 sums), not by projecting the
  scaled Gram matrix, because a row close to ``±d`` has a large ``s_i`` whose float32 products
  along ``d`` would swamp the part that ``P`` keeps. A row with nothing left after the
  projection (``‖P u_i‖`` below :data:`ALONG_DIRECTION`) has no direction and takes no part.
* :func:`frequency_direction` — both, with the share of mean cos² the direction explains,
  ``1 − mean_cos2_without_direction / mean_cos2``, as the summary block of ``llmgeom tokens``.

Example:
    >>> import numpy as np, torch
    >>> d = np.array([1.0, 0.0, 0.0])
    >>> U = torch.tensor([[0.6, 0.8, 0], [0.6, -0.8, 0], [0.6, 0, 0.8]], dtype=torch.float64)
    >>> p = projected_mean_cos2(U, d)    # left: e2, -e2, e3
    >>> round(p.mean_cos2, 12), p.along.tolist()
    (0.333333333333, [0.6, 0.6, 0.6])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .blocked import progress_chunks
from .gram import gram_matrix, mean_cos2_of_gram
from .normalize import CHUNK_ROWS

FOLDS = 5  # cross-validation folds of R²
SEED = 0  # the folds' shuffle (KFold's random_state), recorded with the result
# α over the mean eigenvalue of the centred XᵀX: from almost least squares (1e-6) to a penalty
# that shrinks every direction a thousandfold (1e3), one value per decade
RELATIVE_ALPHAS = tuple(10.0**k for k in range(-6, 4))
ALONG_DIRECTION = 1e-6  # ‖u_i − (u_i·d) d‖ below this: the row is ±d, no direction is left

DEFINITION = (
    "ridge regression of log(1 + count) on the raw rows w_i (intercept fitted, not penalised); "
    "alpha by RidgeCV's efficient leave-one-out on all tokens over the grid, then R^2 of "
    "Ridge(alpha) by cross_val_score on shuffled KFold folds; d = coefficients / |coefficients| "
    "(towards frequent tokens); frequency_projection_i = u_i . d (unit rows); "
    "mean_cos2_without_direction: mean cos^2 over pairs i != j of "
    "u_i' = (u_i - (u_i . d) d) / |u_i - (u_i . d) d|, exact (Gram identity); "
    "fraction_explained = 1 - mean_cos2_without_direction / mean_cos2"
)
FEATURES = "raw rows w_i of the rows used (the folded rows with fold_norm), not standardised"
TARGET = "log(1 + count); tokens with count 0 included (log 1 = 0: never seen is information)"


@dataclass(frozen=True)
class RidgeFit:
    """The ridge regression of :func:`fit_frequency_ridge`: the chosen ``alpha`` out of
    ``alphas``, the R² of each fold, the unit direction (float64, ``m``) and the intercept."""

    alpha: float
    alphas: tuple[float, ...]
    r2_folds: tuple[float, ...]
    direction: np.ndarray
    intercept: float


def alpha_grid(X: np.ndarray) -> np.ndarray:
    """The α that ``RidgeCV`` chooses from: :data:`RELATIVE_ALPHAS` times the mean eigenvalue of
    the centred ``XᵀX`` (``‖X − mean row‖_F² / m``), so a head scaled by ``c`` gets the grid
    scaled by ``c²`` and the same fit.

    Example:
        >>> X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
        >>> alpha_grid(X)[[0, -1]] / 5   # ‖X‖_F² / m = 10 / 2
        array([1.e-06, 1.e+03])
    """
    n, m = X.shape
    mean = X.mean(axis=0)
    centred = float(np.einsum("ij,ij->", X, X)) - n * float(mean @ mean)
    scale = max(centred, 0.0) / max(m, 1)
    return scale * np.asarray(RELATIVE_ALPHAS)


def fit_frequency_ridge(
    X: np.ndarray, y: np.ndarray, *, folds: int = FOLDS, seed: int = SEED
) -> RidgeFit:
    """Ridge of ``y`` on the rows of ``X`` (float64): α by ``RidgeCV`` on all rows over
    :func:`alpha_grid`, then the R² of ``Ridge(alpha)`` (Cholesky: one ``m × m`` system per
    fold) on ``KFold(folds, shuffle=True, random_state=seed)`` by ``cross_val_score``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((200, 3))
        >>> fit = fit_frequency_ridge(X, 2.0 * X[:, 1] + 1.0)
        >>> (np.round(fit.direction, 4) + 0.0).tolist(), min(fit.r2_folds) > 0.999
        ([0.0, 1.0, 0.0], True)
    """
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.model_selection import KFold, cross_val_score

    alphas = alpha_grid(X)
    chosen = RidgeCV(alphas=alphas).fit(X, y)
    alpha = float(chosen.alpha_)
    splits = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(Ridge(alpha=alpha, solver="cholesky"), X, y, cv=splits, scoring="r2")
    coef = np.asarray(chosen.coef_, dtype=np.float64)
    size = float(np.linalg.norm(coef))
    direction = coef / size if size > 0 else coef  # all zeros: no direction
    return RidgeFit(
        alpha=alpha,
        alphas=tuple(float(a) for a in alphas),
        r2_folds=tuple(float(s) for s in scores),
        direction=direction,
        intercept=float(chosen.intercept_),
    )


@dataclass(frozen=True)
class ProjectedRows:
    """What :func:`projected_mean_cos2` returns: the mean cos² of the rows with the direction
    projected out (None when fewer than two rows keep a direction), each row's ``u_i·d`` and
    ``‖u_i‖²`` (float64) and how many rows were ``±d`` (no direction left)."""

    mean_cos2: float | None
    along: np.ndarray
    squared_norms: np.ndarray
    n_along_direction: int


def projected_mean_cos2(
    U: torch.Tensor,
    direction: np.ndarray,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = False,
) -> ProjectedRows:
    """The rows ``U`` (unit rows, float32 or float64) with the unit direction ``d`` projected
    out, and their mean cos² over pairs i≠j: see the module docstring.

    Example:
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
        >>> p = projected_mean_cos2(U, np.array([0.0, 1.0]))
        >>> p.mean_cos2, p.along.tolist(), p.n_along_direction   # e1 and -e1 are left
        (1.0, [0.0, 1.0, 0.0], 1)
    """
    n, m = U.shape
    d = torch.as_tensor(np.asarray(direction, dtype=np.float64), device=U.device)
    along = torch.empty(n, dtype=torch.float64, device=U.device)
    sq = torch.empty_like(along)
    G = torch.zeros(m, m, dtype=torch.float64, device=U.device)
    fourth = 0.0  # Σ ‖u_i'‖⁴ of the rows kept (1 each up to the rounding of u_i' to U's dtype)
    kept = 0
    for start, stop in progress_chunks(n, chunk_rows, "frequency direction", progress):
        block = U[start:stop].to(torch.float64)
        t = block @ d
        along[start:stop] = t
        sq[start:stop] = block.square().sum(dim=1)
        rest = block - t[:, None] * d[None, :]
        size = rest.norm(dim=1)
        keep = size >= ALONG_DIRECTION
        unit = (rest[keep] / size[keep, None]).to(U.dtype)
        G += gram_matrix(unit, chunk_rows=max(1, unit.shape[0]))
        fourth += float(unit.to(torch.float64).square().sum(dim=1).square().sum())
        kept += int(keep.sum())
    mean = None
    if kept >= 2:
        mean = max(0.0, (float((G * G).sum()) - fourth) / (kept * (kept - 1)))
    return ProjectedRows(mean, along.cpu().numpy(), sq.cpu().numpy(), n - kept)


def _raw_rows(U: torch.Tensor, norms: torch.Tensor, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """``w_i = ‖w_i‖ u_i`` in float64 (numpy), chunk by chunk: the raw rows back from the unit
    rows (the head itself may have been normalised in place)."""
    n, m = U.shape
    X = np.empty((n, m), dtype=np.float64)
    scale = norms.to(device=U.device, dtype=torch.float64)
    for start, stop in progress_chunks(n, chunk_rows, None, False):
        block = U[start:stop].to(torch.float64) * scale[start:stop, None]
        X[start:stop] = block.cpu().numpy()
    return X


def frequency_direction(
    U: torch.Tensor,
    norms: torch.Tensor,
    counts: np.ndarray,
    G: torch.Tensor,
    progress: bool | None = False,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """``(u_i·d per row or None, the summary block)`` for the unit rows ``U``, their norms (the
    raw rows are ``norms_i · u_i``), their counts and ``G = UᵀU`` (float64, for the mean cos²
    with the direction kept). Not computed (the block says why, no column) with fewer than
    ``2 × FOLDS`` rows or counts that are all equal.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> y = rng.uniform(0, 3, 100)
        >>> W = np.outer(y, [1.0, 0, 0, 0]) + np.c_[np.zeros(100), rng.normal(size=(100, 3))]
        >>> U = torch.from_numpy(W / np.linalg.norm(W, axis=1, keepdims=True))
        >>> column, block = frequency_direction(U, torch.from_numpy(np.linalg.norm(W, axis=1)),
        ...                                     np.expm1(y), U.T @ U)
        >>> round(block["r2_cv"]["mean"], 4), (np.round(block["direction"], 4) + 0.0).tolist()
        (1.0, [1.0, 0.0, 0.0, 0.0])
    """
    n = U.shape[0]
    counts = np.asarray(counts, dtype=np.float64)
    y = np.log1p(counts)
    base: dict[str, Any] = {"definition": DEFINITION, "features": FEATURES, "target": TARGET}
    reason = None
    if n < 2 * FOLDS:
        reason = f"{n} rows with a direction: the {FOLDS}-fold R^2 needs at least {2 * FOLDS}"
    elif np.ptp(y) == 0:
        reason = "every token has the same count: nothing to predict"
    if reason is not None:
        return None, {**base, "computed": False, "reason": reason}
    fit = fit_frequency_ridge(_raw_rows(U, norms), y)
    if not fit.direction.any():
        return None, {**base, "computed": False, "reason": "the ridge coefficients are all zero"}
    projected = projected_mean_cos2(U, fit.direction, progress=progress)
    without = projected.mean_cos2
    mean = mean_cos2_of_gram(G, torch.from_numpy(projected.squared_norms).to(G.device))
    r2 = np.asarray(fit.r2_folds)
    block = {
        **base,
        "computed": True,
        "n_tokens": n,
        "n_tokens_with_count": int(np.count_nonzero(counts)),
        "alpha": fit.alpha,
        "alpha_grid": list(fit.alphas),
        "alpha_at_grid_edge": fit.alpha in (fit.alphas[0], fit.alphas[-1]),
        "r2_cv": {
            "folds": list(fit.r2_folds),
            "mean": float(r2.mean()),
            "std": float(r2.std()),  # over the folds (ddof = 0)
            "n_folds": FOLDS,
            "splitter": f"KFold(n_splits={FOLDS}, shuffle=True, random_state={SEED})",
        },
        "seed": SEED,
        "intercept": fit.intercept,
        "direction": fit.direction.tolist(),
        "mean_cos2": mean,
        "mean_cos2_without_direction": without,
        "fraction_explained": None if without is None or mean <= 0 else 1.0 - without / mean,
        "n_rows_along_direction": projected.n_along_direction,
    }
    return projected.along, block
