"""The figure of a head's spectrum: the density of the eigenvalues of ŴᵀŴ against the
Marchenko–Pastur law of random unit rows of the same shape
(:mod:`llmgeom.geometry.marchenko_pastur`).

Both axes are logarithmic, so a shared direction hundreds of times above the bulk shows beside
it; the histogram is per eigenvalue of the ``m`` (``counts / (m · bin width)``), the scale on
which the law integrates to ``min(1, n/m)``. Zero eigenvalues (``n < m``) have no place on a
log axis and are left out. :func:`plot_spectrum` returns the figure; saving is the caller's job
(``llmgeom measure --plot`` writes ``<result>.spectrum.png``).

Example:
    >>> import torch, llmgeom
    >>> r = llmgeom.measure(torch.randn(2000, 40), pairs="gram", progress=False)
    >>> fig = plot_spectrum(r.spectrum)
    >>> fig.axes[0].get_xlabel()
    'eigenvalue λ of ŴᵀŴ'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .marchenko_pastur import marchenko_pastur_density, marchenko_pastur_edges

HISTOGRAM_BINS = 60


class _SpectrumLike(Protocol):
    """What the figure reads (a :class:`~llmgeom.geometry.result_parts.Spectrum`)."""

    @property
    def n_rows(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def eigenvalues(self) -> Sequence[float]: ...
    @property
    def n_above_marchenko_pastur_edge(self) -> int: ...


def _log_edges(low: float, high: float, bins: int) -> np.ndarray:
    """``bins + 1`` log-spaced edges over ``[low, high]``, widened when they coincide."""
    low, high = min(low, high), max(low, high)
    if high <= low * 1.05:
        low, high = low / 1.5, high * 1.5
    return np.geomspace(low, high, bins + 1)


def plot_spectrum(spectrum: _SpectrumLike, ax: Any = None, bins: int = HISTOGRAM_BINS) -> Any:
    """The eigenvalue density of ``spectrum`` against the Marchenko–Pastur law of ``n_rows``
    random unit rows in ``R^m``, its upper edge marked, drawn into ``ax`` (a new 6.4 × 4.6
    figure if omitted); returns the figure.

    Example:
        >>> import torch, llmgeom
        >>> W = torch.randn(3000, 30, generator=torch.Generator().manual_seed(0))
        >>> fig = plot_spectrum(llmgeom.measure(W + 0.5, pairs="gram").spectrum)
        >>> fig.axes[0].get_title()
        '1 eigenvalue above the Marchenko–Pastur edge (n = 3000, m = 30)'
    """
    from ..plotting import figure_axes

    fig, (axes,) = figure_axes(ax, 1)
    n, m = int(spectrum.n_rows), int(spectrum.m)
    lam = np.asarray(spectrum.eigenvalues, dtype=np.float64)
    positive = lam[lam > 0]
    lower, upper = marchenko_pastur_edges(n, m)
    law_low = lower if lower > 0 else upper * 1e-3
    low = min(float(positive.min()), law_low) if positive.size else law_low
    high = max(float(positive.max()), upper) if positive.size else upper
    edges = _log_edges(low / 1.05, high * 1.05, bins)
    counts, _ = np.histogram(positive, bins=edges)
    density = counts / (m * np.diff(edges))
    axes.stairs(np.where(density > 0, density, np.nan), edges, fill=True, alpha=0.6,
                label=f"this head ({positive.size} eigenvalues > 0)")  # fmt: skip
    x = np.geomspace(max(law_low, edges[0]), upper, 800)
    law = marchenko_pastur_density(x, n, m)
    axes.plot(x, law, "k--", lw=1, label="Marchenko–Pastur, random rows")
    axes.axvline(upper, color="C3", lw=0.8, ls=":", label=f"edge λ+ = {upper:.4g}")
    axes.set_xscale("log")  # matplotlib's own decades: the range may span many
    axes.set_yscale("log")
    shown = np.concatenate([density[density > 0], law[law > 0]])
    if shown.size:
        axes.set_ylim(0.3 * float(shown.min()), 3 * float(shown.max()))
    axes.set_xlabel("eigenvalue λ of ŴᵀŴ")
    axes.set_ylabel("density per eigenvalue")
    above = int(spectrum.n_above_marchenko_pastur_edge)
    axes.set_title(
        f"{above} eigenvalue{'' if above == 1 else 's'} above the Marchenko–Pastur edge "
        f"(n = {n}, m = {m})",
        fontsize=10,
    )
    axes.legend(fontsize=8)
    return fig
