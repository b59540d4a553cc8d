"""The spectrum of a head: every measure's eigenvalues of ŴᵀŴ and what they say, from the
``m × m`` Gram matrix the measurement builds anyway (O(n·m²) for the matrix, O(m³) for its
eigenvalues; no ``n × n`` work).

Notation: ``Ŵ`` (n × m) holds the unit rows ``ŵ_i`` the statistics use, ``W`` the same rows
before normalisation (after centring when ``center=True``; zero and dropped rows excluded).
``λ_1 ≥ … ≥ λ_m ≥ 0`` are the eigenvalues of ``G = ŴᵀŴ``, the squared singular values
``σ_l² `` of ``Ŵ``; ``Σλ = trace G = n`` and ``Σλ² = ‖G‖_F² = Σ_{i,j} cos²_ij``, so

    n(n−1) · mean cos² = Σ_l λ_l² − n = Σ_l λ_l (λ_l − 1).

* ``eigenvalues``: ``λ`` in decreasing order (round-off, :func:`round_off_floor`, set to 0);
* the participation ratio ``(Σλ)² / Σλ²`` is the record's ``stats.participation_ratio``
  (:func:`llmgeom.geometry.gram.gram_statistics`), not repeated here;
* :func:`entropy_effective_rank`: Roy & Vetterli (2007);
* ``stable_rank_raw``: ``‖W‖_F² / ‖W‖_2²`` of the raw rows;
* :func:`n_above_marchenko_pastur_edge`: eigenvalues above the edge of random rows
  (:mod:`llmgeom.geometry.marchenko_pastur`);
* :func:`packing_efficiency`: the frame bound over mean cos²;
* :func:`interference_fractions`: how much of mean cos² the top ``k`` directions carry.

Example:
    >>> import torch
    >>> from llmgeom.geometry.normalize import normalize_rows
    >>> W = torch.eye(3).repeat(2, 1) * 2.0   # each axis twice: a tight frame
    >>> U, norms = normalize_rows(W)
    >>> stats, block = gram_statistics_with_spectrum(U, norms)
    >>> block["eigenvalues"], block["packing_efficiency"], block["stable_rank_raw"]
    ([2.0, 2.0, 2.0], 1.0, 3.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from . import gram
from .baselines import frame_bound
from .gram import row_sums, statistics_of_gram
from .marchenko_pastur import marchenko_pastur_edges
from .raw_gram import gram_and_raw_spectral_norm, raw_spectral_norm

#: The ``k`` of :func:`interference_fractions` a measurement records.
TOP_K_DIRECTIONS = (1, 2, 5, 10)
#: Float32 unit rows and products leave ``ŴᵀŴ`` with errors of about ``ε n/√m`` in norm (``m²``
#: entries of ``ε n/m``, random signs; ε = 2⁻²³); eigenvalues below ``ROUND_OFF × ε n/√m`` are
#: that noise and are recorded as 0 (as singular values ``√λ`` they would add ranks that are not
#: there). About 4e-5 of the mean eigenvalue ``n/m`` at ``m = 4096``.
ROUND_OFF = 4.0
_FLOAT32_EPS = 2.0**-23
#: Below this fraction of ``Σλ²``, ``Σλ² − n`` (the interference to share out) is round-off: the
#: rows are orthogonal to float32 precision and :func:`interference_fractions` gives None.
_NO_INTERFERENCE = 1e-6


def round_off_floor(n: int, m: int) -> float:
    """The eigenvalue below which the float32 Gram matrix of ``n`` unit rows in ``R^m`` cannot
    tell an eigenvalue from 0: ``ROUND_OFF · ε₃₂ · n / √m``.

    Example:
        >>> round(round_off_floor(150_000, 4096) / (150_000 / 4096), 7)   # of the mean eigenvalue
        3.05e-05
    """
    return ROUND_OFF * _FLOAT32_EPS * n / math.sqrt(m)


def _descending(eigenvalues: Any) -> np.ndarray:
    """``eigenvalues`` as float64, largest first, negative round-off clipped to 0."""
    values = np.asarray(eigenvalues, dtype=np.float64).ravel()
    return np.sort(np.clip(values, 0.0, None))[::-1]


def entropy_effective_rank(eigenvalues: Any) -> float:
    """Roy & Vetterli's effective rank (2007, "The effective rank: a measure of effective
    dimensionality", EUSIPCO): ``exp(−Σ p_l ln p_l)`` with ``p_l = σ_l / Σ σ`` the singular values
    ``σ_l = √λ_l`` of ``Ŵ`` normalised to sum to 1 (L1 normalisation of the singular values, as
    the paper; not of the eigenvalues ``λ_l = σ_l²``), ``0 · ln 0 = 0``. It is between 1 (one
    direction) and the rank, ``m`` for equal singular values.

    Example:
        >>> round(entropy_effective_rank([4.0, 4.0, 4.0, 0.0]), 12), entropy_effective_rank([9.0])
        (3.0, 1.0)
    """
    sigma = np.sqrt(_descending(eigenvalues))
    p = sigma[sigma > 0] / sigma.sum()
    return float(np.exp(-np.sum(p * np.log(p)))) if p.size else float("nan")


def n_above_marchenko_pastur_edge(eigenvalues: Any, n: int, m: int) -> int:
    """How many ``λ_l`` exceed ``λ+ = (√n + √m)² / m``, the upper edge of the eigenvalues of
    ``ŴᵀŴ`` for ``n`` random unit rows in ``R^m``
    (:func:`~llmgeom.geometry.marchenko_pastur.marchenko_pastur_edges`): the directions the rows
    share beyond chance. About 0 for random rows (Tracy–Widom fluctuations put the top one just
    above the edge in a minority of draws).

    Example:
        >>> n_above_marchenko_pastur_edge([30.0, 8.9, 1.0], n=400, m=100)   # λ+ = 9
        1
    """
    _, upper = marchenko_pastur_edges(n, m)
    return int(np.sum(_descending(eigenvalues) > upper))


def packing_efficiency(n: int, m: int, mean_cos2: float) -> float | None:
    """``frame bound / mean cos²``, the bound ``(n − m) / (m(n − 1))``
    (:func:`~llmgeom.geometry.baselines.frame_bound`) that no ``n`` unit vectors in ``R^m`` beat:
    1 for a tight frame (``ŴᵀŴ = (n/m) I``), smaller the more the rows crowd beyond necessity
    (``(n − m)/(n − 1)`` for random rows, whose mean cos² is 1/m). None when ``n ≤ m``: the bound
    is 0 (orthogonal rows fit), so the ratio is 0 for any overlap and 0/0 for none.

    Example:
        >>> packing_efficiency(4, 2, 1 / 3), packing_efficiency(3, 3, 0.0)
        (1.0, None)
    """
    bound = frame_bound(n, m)
    if bound <= 0 or not mean_cos2 > 0:
        return None
    return bound / mean_cos2


def interference_fractions(
    eigenvalues: Any, ks: tuple[int, ...] = TOP_K_DIRECTIONS
) -> dict[str, float | None]:
    """The fraction of mean cos² carried by the ``k`` largest eigen-directions, for each ``k`` of
    ``ks`` up to the number of eigenvalues (keys ``"1"``, ``"2"``...).

    The interference ``n(n−1) · mean cos² = Σ_{i≠j} cos²_ij = Σ_l λ_l² − n = Σ_l λ_l(λ_l − 1)``
    (``Σλ = n``) is shared out over the eigen-directions, ``λ_l(λ_l − 1)`` to direction ``l``,
    and the top ``k``'s share is

        f_k = Σ_{l≤k} λ_l(λ_l − 1) / Σ_l λ_l(λ_l − 1).

    About ``k/m`` for random rows, near 1 for ``k = 1`` when one direction shared by all rows
    makes the overlap. None when there is no interference to share (``Σλ² − n`` below 1e-6 of
    ``Σλ²``: orthogonal rows). The share is by eigenvalue alone: of the ``n = Σ_l λ_l`` that the
    self-pairs ``i = j`` add to ``Σλ²``, direction ``l`` gives back ``λ_l``; the shares add up to
    the interference exactly, and for ``k`` beyond the directions with ``λ_l < 1`` (only when
    rows are nearly orthogonal there) ``f_k`` may pass 1 by a little.

    Example:
        >>> fractions = interference_fractions([3.0, 1.0], ks=(1, 2, 5))   # 6 + 0 of 6
        >>> fractions
        {'1': 1.0, '2': 1.0}
    """
    lam = _descending(eigenvalues)
    share = lam * (lam - 1.0)
    total = float(share.sum())
    if not total > _NO_INTERFERENCE * float(np.sum(lam * lam)):
        return {str(k): None for k in ks if k <= lam.size}
    cumulative = np.cumsum(share)
    return {str(k): float(cumulative[k - 1]) / total for k in ks if k <= lam.size}


def spectrum_block(
    eigenvalues: Any, n: int, m: int, mean_cos2: float, raw_frobenius_sq: float, raw_top: float
) -> dict[str, Any]:
    """The record's ``spectrum`` block from the eigenvalues of ``ŴᵀŴ``, the shape, mean cos² and
    the raw rows' ``‖W‖_F²`` and ``‖W‖_2²`` (the largest eigenvalue of ``WᵀW``). Eigenvalues
    below the float32 round-off (:func:`round_off_floor`) are recorded as 0, and every quantity
    is computed from the eigenvalues as recorded.

    Example:
        >>> block = spectrum_block([2.0, 2.0], n=4, m=2, mean_cos2=1 / 3, raw_frobenius_sq=4.0,
        ...                        raw_top=2.0)
        >>> block["stable_rank_raw"], block["packing_efficiency"], block["interference_top_k"]
        (2.0, 1.0, {'1': 0.5, '2': 1.0})
    """
    lam = _descending(eigenvalues)
    lam[lam < round_off_floor(n, m)] = 0.0
    _, upper = marchenko_pastur_edges(n, m)
    return {
        "eigenvalues": lam.tolist(),
        "entropy_effective_rank": entropy_effective_rank(lam),
        "stable_rank_raw": raw_frobenius_sq / raw_top if raw_top > 0 else math.nan,
        "marchenko_pastur_upper_edge": upper,
        "n_above_marchenko_pastur_edge": n_above_marchenko_pastur_edge(lam, n, m),
        "packing_efficiency": packing_efficiency(n, m, mean_cos2),
        "interference_top_k": interference_fractions(lam),
    }


def spectrum_of_gram(G: torch.Tensor, U: torch.Tensor, norms: torch.Tensor) -> dict[str, Any]:
    """The ``spectrum`` block (:func:`spectrum_block`) from a Gram matrix ``G = ŴᵀŴ`` already
    built from the unit rows ``U`` (``llmgeom tokens`` builds it for every token's
    interference), whose raw rows had norms ``norms``: no second ``n·m²`` pass. The eigenvalues
    of ``G`` (float64 ``eigvalsh``, O(m³)), mean cos² by the Gram identity and ``‖W‖_2²`` as
    the measure pass gets it (:func:`~llmgeom.geometry.raw_gram.raw_spectral_norm`: ``WᵀW``
    built for narrow heads, else Lanczos iteration on ``U`` where the top of ``G``'s spectrum
    predicts few steps, else ``WᵀW`` built), so the block equals
    :func:`gram_statistics_with_spectrum`'s on the same rows (the stable rank to float32
    precision, ~1e-7, where the products are summed in another order).

    Example:
        >>> import torch
        >>> from llmgeom.geometry.gram import gram_matrix
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> block = spectrum_of_gram(gram_matrix(U), U, torch.tensor([2.0, 1.0]))
        >>> block["eigenvalues"], round(block["stable_rank_raw"], 6)
        ([1.0, 1.0], 1.25)
    """
    sq, _ = row_sums(U)
    eigenvalues = torch.linalg.eigvalsh(G.to(torch.float64))
    raw_top = raw_spectral_norm(U, norms, eigenvalues)
    return _block(eigenvalues, U.shape, gram.mean_cos2_of_gram(G, sq), norms, raw_top)


def _block(
    eigenvalues: torch.Tensor,
    shape: tuple[int, ...],
    mean_cos2: float,
    norms: torch.Tensor,
    raw_top: float,
) -> dict[str, Any]:
    """:func:`spectrum_block` for unit rows of ``shape`` whose raw rows had norms ``norms``
    (``‖W‖_F²`` is the sum of their squares)."""
    n, m = shape
    norms64 = norms.to(dtype=torch.float64).flatten()
    return spectrum_block(
        eigenvalues.cpu().numpy(),
        n,
        m,
        mean_cos2,
        raw_frobenius_sq=float((norms64 * norms64).sum()),
        raw_top=raw_top,
    )


def gram_statistics_with_spectrum(
    U: torch.Tensor,
    norms: torch.Tensor,
    chunk_rows: int | None = None,
    progress: bool | None = False,
    sums: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The Gram statistics (:func:`llmgeom.geometry.gram.gram_statistics`) and the ``spectrum``
    block (:func:`spectrum_block`) of unit rows ``U`` whose raw rows had norms ``norms``.

    One pass over ``U`` builds ``ŴᵀŴ`` (O(n·m²)), whose eigenvalues (float64 ``eigvalsh``,
    O(m³)) give the spectrum and the top eigen fraction; ``‖W‖_2²``, the largest eigenvalue of
    ``WᵀW = Uᵀ diag(norms²) U``, comes from the same pass, from Lanczos iteration or from a
    second pass (:func:`~llmgeom.geometry.raw_gram.gram_and_raw_spectral_norm`), and
    ``‖W‖_F² = Σ norms²``. ``sums`` may pass :func:`~llmgeom.geometry.gram.row_sums` of ``U``,
    when the normalisation made them (:func:`~llmgeom.geometry.prepare.unit_rows`).

    Example:
        >>> import torch
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> stats, block = gram_statistics_with_spectrum(U, torch.tensor([2.0, 1.0]))
        >>> stats["mean_cos2"], block["eigenvalues"], block["stable_rank_raw"]
        (0.0, [1.0, 1.0], 1.25)
    """
    if U.shape[0] < 2:
        raise ValueError("pair statistics need at least 2 rows")
    G, eigenvalues, raw_top = gram_and_raw_spectral_norm(U, norms, chunk_rows, progress=progress)
    sq, total = row_sums(U) if sums is None else sums
    stats = statistics_of_gram(G, sq, total, float(eigenvalues[-1]))
    return stats, _block(eigenvalues, U.shape, stats["mean_cos2"], norms, raw_top)
