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
from .normalize import CHUNK_ROWS

#: Rows per block of the Lanczos products (float32 sums inside a block, float64 across blocks).
MATVEC_ROWS = 8192
LANCZOS_TOL = 1e-10


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
        _, G_raw = gram.scaled_gram_matrices(U, norms, chunk_rows, progress=progress)
        top = gram.top_eigenvalue(G_raw)
    return G, top


def lanczos_raw_spectral_norm(U: torch.Tensor, norms: torch.Tensor) -> float | None:
    """The largest eigenvalue of ``Uᵀ diag(norms²) U`` by Lanczos iteration on ``U`` (no
    ``m × m`` product), relative tolerance :data:`LANCZOS_TOL`, from a fixed start vector
    (reproducible); None when it does not converge.

    Example:
        >>> import torch
        >>> U = torch.eye(3)
        >>> round(lanczos_raw_spectral_norm(U, torch.tensor([1.0, 3.0, 2.0])), 6)  # float32 rows
        9.0
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    n, m = U.shape
    s64 = norms.to(device=U.device, dtype=torch.float64).flatten()
    largest = float(s64.abs().max())
    if not largest > 0:
        return 0.0
    scale = 2.0 ** math.frexp(largest)[1]  # a power of 2: exact, and no float32 overflow
    weights = ((s64 / scale) ** 2).to(U.dtype)

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.asarray(x, dtype=np.float64).ravel()).to(U.device, U.dtype)
        y = torch.zeros(m, dtype=torch.float64, device=U.device)
        with full_precision():
            for start, stop in chunks(n, MATVEC_ROWS):
                block = U[start:stop]
                y += (block.T @ ((block @ v) * weights[start:stop])).to(torch.float64)
        return y.cpu().numpy()

    operator = LinearOperator((m, m), matvec=matvec, dtype=np.float64)
    try:
        value = eigsh(
            operator, k=1, which="LA", v0=np.ones(m), tol=LANCZOS_TOL, return_eigenvectors=False
        )[0]
    except ArpackNoConvergence:
        return None
    return float(value) * scale * scale
