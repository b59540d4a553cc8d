"""The Gram matrix of the unit rows and the spectral norm of the raw rows, ``‖W‖_2²``, for the
stable rank (:mod:`llmgeom.geometry.spectrum`), at the least cost for the head's width.

``W = diag(s) Ŵ`` (``s`` the row norms, ``Ŵ`` the unit rows ``U``), so ``‖W‖_2²`` is the largest
eigenvalue of ``WᵀW = Uᵀ diag(s²) U``. Up to :data:`~llmgeom.geometry.gram.EIGSH_MIN_WIDTH`
columns that matrix is built beside ``UᵀU`` in the same pass
(:func:`~llmgeom.geometry.gram.scaled_gram_matrices`: twice the products, cheap at that width);
wider, where a second ``n·m²`` product would double the Gram step, Lanczos iteration
(``scipy.sparse.linalg.eigsh``) on the operator ``x ↦ Uᵀ(s² ⊙ Ux)`` finds it in a few dozen
passes over ``U`` (float32 products, float64 sums over row blocks). If Lanczos does not converge,
the matrix is built after all.

Example:
    >>> import torch
    >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> G, raw_top = gram_and_raw_spectral_norm(U, torch.tensor([2.0, 1.0, 0.0]))
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

#: Rows per block of the Lanczos products (float32 sums inside a block, float64 across blocks).
MATVEC_ROWS = 8192


def lanczos_step_limit(m: int) -> int:
    """Passes over ``U`` after which Lanczos gives up for building ``WᵀW``: placeholder."""
    return max(40, m // 16)


def gram_and_raw_spectral_norm(
    U: torch.Tensor,
    norms: torch.Tensor,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = False,
) -> tuple[torch.Tensor, float]:
    """``(UᵀU, ‖W‖_2²)`` for unit rows ``U`` whose raw rows had norms ``norms``: the raw Gram
    matrix in the same pass up to :data:`~llmgeom.geometry.gram.EIGSH_MIN_WIDTH` columns,
    Lanczos on ``U`` above (see the module)."""
    if U.shape[1] <= gram.EIGSH_MIN_WIDTH:
        G, G_raw = gram.scaled_gram_matrices(U, norms, chunk_rows, progress=progress)
        return G, gram.top_eigenvalue(G_raw)
    G = gram.gram_matrix(U, chunk_rows, progress=progress)
    top = lanczos_raw_spectral_norm(U, norms)
    if top is None:  # no convergence: build WᵀW after all
        top = gram.top_eigenvalue(gram.raw_gram_matrix(U, norms, progress=progress))
    return G, top


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

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(x).to(U.device, dtype)
        y = torch.zeros(m, dtype=torch.float64, device=U.device)
        with full_precision():
            for start, stop in chunks(n, MATVEC_ROWS):
                block = U[start:stop].to(dtype)
                y += block.T @ ((block @ v) * weights[start:stop])
        return y.cpu().numpy()

    limit = lanczos_step_limit(m) if max_steps is None else max_steps
    value = top_eigenvalue_by_lanczos(matvec, np.ones(m), LANCZOS_TOL, limit)
    return None if value is None else value * scale * scale
