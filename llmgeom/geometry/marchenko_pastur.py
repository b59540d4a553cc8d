"""The Marchenko–Pastur law for the Gram matrix ŴᵀŴ of ``n`` random unit rows in ``R^m``.

With ``x_i`` independent and uniform on the unit sphere of ``R^m``, ``E[x xᵀ] = I/m``, so
``S = (m/n) Σ_i x_i x_iᵀ = (m/n) ŴᵀŴ`` is a sample covariance of ``n`` isotropic vectors with
population covariance ``I``. As ``n, m → ∞`` with ``γ = m/n`` fixed, the eigenvalue distribution of
``S`` tends to the Marchenko–Pastur law of ratio ``γ`` (Marchenko & Pastur 1967, *Math. USSR-Sb.*
1:457; for rows on the sphere rather than Gaussian rows: Bai & Zhou 2008, *Statistica Sinica*
18:425, Theorem 1.1; Bai & Silverstein 2010, *Spectral Analysis of Large Dimensional Random
Matrices*, Theorem 3.6): density ``√((b−x)(x−a)) / (2π γ x)`` on ``[a, b]``, ``a = (1−√γ)²``,
``b = (1+√γ)²``, plus an atom ``1 − 1/γ`` at 0 when ``γ > 1`` (fewer rows than dimensions).
ŴᵀŴ = (n/m)·S, whose eigenvalues have mean ``n/m`` (its trace is ``n``), so its law is that one
scaled by ``n/m``; its edges are

    λ± = (n/m)(1 ± √(m/n))² = (√n ± √m)² / m.

The largest eigenvalue of a finite random matrix fluctuates around ``λ+`` on the Tracy–Widom
scale (relative order ``n^(-2/3)``), so one random eigenvalue lies just above the edge in a
minority of draws; a direction the rows share lies far above it.

Example:
    >>> lo, hi = marchenko_pastur_edges(n=400, m=100)   # (√400 ± √100)² / 100
    >>> lo, hi
    (1.0, 9.0)
    >>> round(float(marchenko_pastur_density(4.0, n=400, m=100)), 6)
    0.154101
"""

from __future__ import annotations

import math

import numpy as np


def marchenko_pastur_edges(n: int, m: int) -> tuple[float, float]:
    """``(λ−, λ+) = ((√n − √m)² / m, (√n + √m)² / m)``: the support of the eigenvalues of
    ŴᵀŴ for ``n`` random unit rows in ``R^m`` as both grow (its non-zero part when ``n < m``).

    Example:
        >>> marchenko_pastur_edges(100, 100)   # square: the support reaches 0
        (0.0, 4.0)
    """
    if n < 1 or m < 1:
        raise ValueError(f"the Marchenko-Pastur edges need n >= 1 and m >= 1, got n={n}, m={m}")
    return (math.sqrt(n) - math.sqrt(m)) ** 2 / m, (math.sqrt(n) + math.sqrt(m)) ** 2 / m


def marchenko_pastur_density(x: float | np.ndarray, n: int, m: int) -> np.ndarray:
    """The density of the eigenvalues of ŴᵀŴ (``n`` random unit rows in ``R^m``) at ``x``, per
    eigenvalue of the ``m``: ``√((λ+ − x)(x − λ−)) / (2π x)`` on ``[λ−, λ+]``, 0 outside (the
    law of ``S`` above, ``√((b−y)(y−a)) / (2πγy)``, at ``y = x·m/n``, times ``m/n``). It
    integrates to ``min(1, n/m)``; when ``n < m`` the other ``1 − n/m`` is an atom at 0 (the
    ``m − n`` zero eigenvalues), not part of this density.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0.0, 10.0, 200001)
        >>> f, dx = marchenko_pastur_density(x, n=400, m=100), x[1] - x[0]
        >>> round(float(np.sum(f) * dx), 4), round(float(np.sum(x * f) * dx), 4)   # mass, mean
        (1.0, 4.0)
    """
    lo, hi = marchenko_pastur_edges(n, m)
    z = np.asarray(x, dtype=np.float64)
    inside = np.clip((hi - z) * (z - lo), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.sqrt(inside) / (2.0 * math.pi * z)
    return np.where((z > lo) & (z < hi) & (z > 0), density, 0.0)
