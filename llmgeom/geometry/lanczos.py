"""The largest eigenvalue of a symmetric positive semi-definite operator by Lanczos iteration,
with full reorthogonalisation and no restarts: for the raw rows' ``‖W‖₂²``
(:mod:`llmgeom.geometry.raw_gram`) and a dense matrix's top eigenvalue
(:func:`llmgeom.geometry.gram.top_eigenvalue`).

Only the operator ``x ↦ Ax`` is needed (float64 vectors in and out), once per step. After step
``k`` the Ritz values ``θ_1 ≥ θ_2 ≥ …`` of the tridiagonal matrix are lower bounds of the top
eigenvalues and the top Ritz pair's residual is ``ρ = β_k |y_k|``. The iteration stops when the
top Ritz value is within ``tol`` (relative) of ``λ_1`` by the Kato–Temple bound
``λ_1 − θ_1 ≤ ρ² / (θ_1 − λ_2)``, with ``λ_2`` bounded by the second Ritz value plus its residual,
or by the plain bound ``ρ`` (ARPACK's criterion) where that is the smaller. A flat top of the
spectrum (random rows: ``λ_1`` and ``λ_2`` within a fraction of a per cent) takes about half the
operator applications of ARPACK's restarted iteration (``eigsh``, 20 vectors) for the same
accuracy; a dominant direction takes a handful.

Example:
    >>> import numpy as np
    >>> A = np.diag([1.0, 5.0, 2.0, 4.0])
    >>> round(top_eigenvalue_by_lanczos(lambda x: A @ x, np.ones(4)), 12)
    5.0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import eigh_tridiagonal

#: Relative accuracy of the top eigenvalue at which the iteration stops.
LANCZOS_TOL = 1e-10


def _ritz(alpha: list[float], beta: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The tridiagonal matrix's eigenvalues (descending) and their eigenvectors' last entries."""
    if len(alpha) == 1:
        return np.array(alpha), np.ones(1)
    values, vectors = eigh_tridiagonal(np.array(alpha), np.array(beta[: len(alpha) - 1]))
    return values[::-1], vectors[-1, ::-1]


def _converged(theta: np.ndarray, last: np.ndarray, beta: float, tol: float) -> bool:
    """The top Ritz value is within ``tol`` of ``λ_1`` (see the module)."""
    top = theta[0]
    if not top > 0:
        return beta == 0.0
    residual = beta * abs(last[0])
    if residual <= tol * top:
        return True
    if theta.size < 2:
        return False
    gap = top - (theta[1] + beta * abs(last[1]))  # a lower bound of θ_1 − λ_2
    return gap > 0 and residual * residual <= tol * top * gap


def top_eigenvalue_by_lanczos(
    apply: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    tol: float = LANCZOS_TOL,
    max_steps: int | None = None,
) -> float | None:
    """``λ_1`` of the symmetric operator ``apply`` (float64 ``m``-vectors) from the Krylov space
    of ``start``, to relative accuracy ``tol``; None when ``max_steps`` steps (default: ``m``,
    where the space is the whole of ``R^m`` and the answer exact) did not reach it.

    Example:
        >>> import numpy as np
        >>> A = np.diag(np.linspace(1.0, 2.0, 50))
        >>> top_eigenvalue_by_lanczos(lambda x: A @ x, np.ones(50), max_steps=2) is None
        True
    """
    q = np.asarray(start, dtype=np.float64).ravel()
    m = q.size
    steps = m if max_steps is None else min(m, max_steps)
    basis = np.empty((steps, m))
    basis[0] = q / np.linalg.norm(q)
    alpha: list[float] = []
    beta: list[float] = []
    for k in range(steps):
        w = np.asarray(apply(basis[k]), dtype=np.float64).ravel()
        alpha.append(float(basis[k] @ w))
        done = basis[: k + 1]
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w -= done.T @ (done @ w)
        beta.append(float(np.linalg.norm(w)))
        theta, last = _ritz(alpha, beta)
        if k + 1 == m or _converged(theta, last, beta[-1], tol):
            return float(theta[0])
        if beta[-1] <= np.finfo(np.float64).eps * abs(theta[0]):  # an invariant subspace
            return float(theta[0])
        if k + 1 < steps:
            basis[k + 1] = w / beta[-1]
    return None
