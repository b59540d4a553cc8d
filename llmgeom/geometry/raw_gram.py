"""The Gram matrix of the unit rows, its eigenvalues, and the spectral norm of the raw rows,
``‖W‖_2²``, for the stable rank (:mod:`llmgeom.geometry.spectrum`), at the least cost for the
head.

``W = diag(s) Ŵ`` (``s`` the row norms, ``Ŵ`` the unit rows ``U``), so ``‖W‖_2²`` is the largest
eigenvalue of ``WᵀW = Uᵀ diag(s²) U``. Up to :data:`~llmgeom.geometry.gram.EIGSH_MIN_WIDTH`
columns that matrix is built beside ``UᵀU`` in the same pass
(:func:`~llmgeom.geometry.gram.scaled_gram_matrices`: twice the products, cheap at that width).
Wider, Lanczos iteration (:mod:`llmgeom.geometry.lanczos`) on the operator ``x ↦ Uᵀ(s² ⊙ Ux)``
needs a pass over ``U`` per step and no ``m × m`` product: a handful of steps when one direction
stands out (trained heads), a hundred or so when the top of the spectrum is flat (random rows),
where a second product of the Gram step's size costs less. Which is expected follows from the
gap at the top of ``UᵀU``'s spectrum, known by then (:func:`expected_lanczos_steps`); if Lanczos
is chosen and does not converge within :func:`lanczos_step_limit` steps, the matrix is built after
all. The numbers are the same either way (relative accuracy
:data:`~llmgeom.geometry.lanczos.LANCZOS_TOL`).

Example:
    >>> import torch
    >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> G, eigenvalues, raw_top = gram_and_raw_spectral_norm(U, torch.tensor([2.0, 1.0, 0.0]))
    >>> G.diagonal().tolist(), raw_top
    ([1.3600000143051147, 1.6399999856948853], 4.0)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import gram
from .blocked import chunks, full_precision
from .lanczos import LANCZOS_TOL, top_eigenvalue_by_lanczos
from .normalize import CHUNK_ROWS

#: Rows per block of the Lanczos products (float32 sums inside a block, float64 across blocks),
#: at most; fewer for wide heads, so that a block (32 MiB) is read from memory once per step.
MATVEC_ROWS = 8192
MATVEC_BLOCK_ELEMENTS = 2**23


def lanczos_step_limit(m: int) -> int:
    """Lanczos steps on ``U`` (each a pass over the ``n × m`` rows, bound by memory speed) that
    cost about as much as building ``WᵀW`` (``n·m²/2`` multiply-adds, bound by arithmetic):
    about ``m / 48`` on a CPU, at least 32.

    Example:
        >>> lanczos_step_limit(2048), lanczos_step_limit(8192)
        (42, 170)
    """
    return max(32, m // 48)


def expected_lanczos_steps(eigenvalues: np.ndarray, tol: float = LANCZOS_TOL) -> float:
    """Lanczos steps to the top eigenvalue of a symmetric matrix with these eigenvalues, to
    relative accuracy ``tol``, by the Chebyshev bound (Saad, *Numerical methods for large
    eigenvalue problems*, 2011, §6.6): ``λ_1 − θ_1 ≤ (λ_1 − λ_m) tan²φ / T_{k−1}(1 + 2γ)²``,
    ``γ = (λ_1 − λ_2)/(λ_2 − λ_m)``, with ``tan²φ ≈ m`` for a start vector with no preference.
    On ``UᵀU``'s spectrum it predicts the steps for ``WᵀW``, whose top gap follows it when the
    row norms do not differ much; for flat spectra the bound is pessimistic.

    Example:
        >>> round(expected_lanczos_steps(np.array([100.0, 25.0, 10.0, 1.0])), 1)
        5.8
        >>> expected_lanczos_steps(np.array([1.0, 1.0, 0.5]))
        inf
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1]
    if lam.size < 2 or not lam[0] > 0:
        return 1.0
    gap, spread = lam[0] - lam[1], lam[1] - lam[-1]
    if not gap > 0:
        return math.inf
    if not spread > 0:
        return 2.0
    needed = 0.5 * math.log((lam[0] - lam[-1]) / lam[0] * lam.size / tol) + math.log(2.0)
    return 1.0 + max(0.0, needed) / math.acosh(1.0 + 2.0 * gap / spread)


def gram_and_raw_spectral_norm(
    U: torch.Tensor,
    norms: torch.Tensor,
    chunk_rows: int | None = None,
    progress: bool | None = False,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(UᵀU, its eigenvalues ascending, ‖W‖_2²)`` for unit rows ``U`` whose raw rows had norms
    ``norms``: the raw Gram matrix in the same pass up to
    :data:`~llmgeom.geometry.gram.EIGSH_MIN_WIDTH` columns; above, Lanczos on ``U`` where it is
    expected to take at most :func:`lanczos_step_limit` steps, else the raw Gram matrix in a
    second pass (see the module)."""
    m = U.shape[1]
    if m <= gram.EIGSH_MIN_WIDTH:  # narrow: both matrices in one pass
        rows = _narrow_chunk_rows(chunk_rows)
        G, G_raw = gram.scaled_gram_matrices(U, norms, rows, progress=progress, block_columns=m)
        return G, torch.linalg.eigvalsh(G), gram.top_eigenvalue(G_raw)
    G = gram.gram_matrix(U, chunk_rows, progress=progress)
    eigenvalues = torch.linalg.eigvalsh(G)  # ascending, float64
    return G, eigenvalues, raw_spectral_norm(U, norms, eigenvalues, chunk_rows, progress)


def _narrow_chunk_rows(chunk_rows: int | None) -> int:
    """Rows per chunk of a narrow head's Gram products: the 1024-row chunks of the row passes
    (one product per chunk, a small share of the work there), unless given."""
    return CHUNK_ROWS if chunk_rows is None else chunk_rows


def raw_spectral_norm(
    U: torch.Tensor,
    norms: torch.Tensor,
    eigenvalues: torch.Tensor,
    chunk_rows: int | None = None,
    progress: bool | None = False,
) -> float:
    """``‖W‖_2²`` for unit rows ``U`` whose raw rows had norms ``norms``, given the eigenvalues
    of ``UᵀU`` (built already): up to :data:`~llmgeom.geometry.gram.EIGSH_MIN_WIDTH` columns
    ``WᵀW``, chunked as :func:`gram_and_raw_spectral_norm` builds it beside ``UᵀU`` (the same
    numbers to the last bit); wider, Lanczos iteration where :func:`expected_lanczos_steps` on
    the eigenvalues is within :func:`lanczos_step_limit`, else (or when Lanczos does not
    converge) the largest eigenvalue of ``WᵀW`` built in a pass of its own (see the module).

    Example:
        >>> import torch
        >>> U = torch.eye(3)
        >>> raw_spectral_norm(U, torch.tensor([1.0, 3.0, 2.0]), torch.ones(3))
        9.0
    """
    m = U.shape[1]
    if m <= gram.EIGSH_MIN_WIDTH:
        rows = _narrow_chunk_rows(chunk_rows)
        G_raw = gram.raw_gram_matrix(U, norms, rows, progress=progress, block_columns=m)
        return gram.top_eigenvalue(G_raw)
    top = None
    if expected_lanczos_steps(eigenvalues.cpu().numpy()) <= lanczos_step_limit(m):
        top = lanczos_raw_spectral_norm(U, norms)
    if top is None:  # a flat top of the spectrum, or no convergence: build WᵀW
        top = gram.top_eigenvalue(gram.raw_gram_matrix(U, norms, chunk_rows, progress=progress))
    return top


def lanczos_raw_spectral_norm(
    U: torch.Tensor, norms: torch.Tensor, max_steps: int | None = None
) -> float | None:
    """The largest eigenvalue of ``Uᵀ diag(norms²) U`` by Lanczos iteration on ``U`` (no
    ``m × m`` product; :func:`~llmgeom.geometry.lanczos.top_eigenvalue_by_lanczos`), relative
    accuracy :data:`LANCZOS_TOL`, from a fixed start vector (reproducible); None when
    ``max_steps`` passes (default :func:`lanczos_step_limit`) did not reach it.

    Example:
        >>> import torch
        >>> U = torch.eye(3)
        >>> round(lanczos_raw_spectral_norm(U, torch.tensor([1.0, 3.0, 2.0])), 6)  # float32 rows
        9.0
    """
    n, m = U.shape
    s64 = norms.to(device=U.device, dtype=torch.float64).flatten()
    largest = float(s64.abs().max())
    if not largest > 0:
        return 0.0
    scale = 2.0 ** math.frexp(largest)[1]  # a power of 2: exact, and no float32 overflow
    dtype = U.dtype if U.dtype == torch.float64 else torch.float32
    weights = ((s64 / scale) ** 2).to(dtype)

    rows = max(1, min(MATVEC_ROWS, MATVEC_BLOCK_ELEMENTS // m))

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(x).to(U.device, dtype)
        y = torch.zeros(m, dtype=torch.float64, device=U.device)
        with full_precision():
            for start, stop in chunks(n, rows):
                block = U[start:stop].to(dtype)
                y += block.T @ ((block @ v) * weights[start:stop])
        return y.cpu().numpy()

    limit = lanczos_step_limit(m) if max_steps is None else max_steps
    value = top_eigenvalue_by_lanczos(matvec, np.ones(m), LANCZOS_TOL, limit)
    return None if value is None else value * scale * scale
