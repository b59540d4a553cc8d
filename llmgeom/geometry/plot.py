"""A one-figure picture of a measurement: the distribution of cos next to random vectors'.

Left: histogram of cos over all pairs (log scale), with the density of cos between random unit
vectors in the same width, ``p(c) ∝ (1 − c²)^((m−3)/2)``, for comparison. Right: row norms.

:func:`plot_measurement` returns the figure; saving is the caller's job (``llmgeom measure
--plot`` writes it with :func:`llmgeom.plotting.save_png` at ``PNG_DPI``).

Example:
    >>> import torch
    >>> from llmgeom.geometry.measurement import measure
    >>> fig = plot_measurement(measure(torch.randn(300, 8), progress=False))
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class _Recorded(Protocol):
    """Anything with the measurement record as ``to_dict()`` (a ``MeasureResult``)."""

    def to_dict(self) -> dict[str, Any]: ...


#: Resolution of the PNG ``llmgeom measure --plot`` writes.
PNG_DPI = 110


def random_cos_density(c: np.ndarray, m: int) -> np.ndarray:
    """Density of the cosine between two independent uniform unit vectors in ``R^m``."""
    log_norm = math.lgamma(m / 2) - math.lgamma((m - 1) / 2) - 0.5 * math.log(math.pi)
    inside = np.clip(1.0 - np.asarray(c, dtype=float) ** 2, 0.0, None)
    with np.errstate(divide="ignore"):
        return math.exp(log_norm) * np.power(inside, (m - 3) / 2)


def plot_measurement(result: _Recorded, ax: Any = None) -> Any:
    """The figure of ``result``: the cos histogram against random vectors' density and the row
    norms, drawn into ``ax`` (two axes of one figure; a new 10 × 3.8 figure if omitted); returns
    the figure.

    Example:
        >>> import torch
        >>> from llmgeom.geometry.measurement import measure
        >>> fig = plot_measurement(measure(torch.randn(100, 4), progress=False))
        >>> fig.axes[0].get_xlabel()
        'cos between rows'
    """
    from ..plotting import figure_axes

    record = result.to_dict()
    stats, meta = record["stats"], record["model"]
    m = int(stats["m"])
    fig, (ax_cos, ax_norm) = figure_axes(ax, 2, 10, 3.8)
    sampled = stats.get("sampled", {})
    hist = stats.get("histogram") or sampled.get("histogram")
    peak = 0.0
    if hist:
        edges = np.asarray(hist["edges"])
        counts = np.asarray(hist["counts"], dtype=float)
        widths = np.diff(edges)
        density = counts / max(counts.sum(), 1.0) / widths
        label = "this head" if "histogram" in stats else "this head (sampled rows)"
        ax_cos.stairs(density, edges, fill=True, alpha=0.6, label=label)
        peak = float(density.max())
    largest = stats.get("max_abs_cos", sampled.get("max_abs_cos_lower_bound", {}).get("abs_cos"))
    reach = min(1.0, max(0.1, 1.15 * float(largest or 4 / math.sqrt(m))))
    centres = np.linspace(-reach, reach, 801)
    random_density = random_cos_density(centres, m)
    ax_cos.plot(centres, random_density, "k--", lw=1, label=f"random, m={m}")
    ax_cos.set_yscale("log")
    ax_cos.set_xlim(-reach, reach)
    ax_cos.set_ylim(1e-4, 3 * max(peak, float(random_density.max())))
    ax_cos.set_xlabel("cos between rows")
    ax_cos.set_ylabel("density")
    ax_cos.set_title(
        f"mean cos² = {stats['mean_cos2']:.3g}  (m·mean = {stats['m_times_mean_cos2']:.1f})",
        fontsize=10,
    )
    ax_cos.legend(fontsize=8)
    norms = record["row_norms"]
    if norms.get("count"):
        q = norms["quantiles"]
        labels = list(q)
        ax_norm.plot([float(k) for k in labels], [q[k] for k in labels], "o-")
        ax_norm.axhline(norms["mean"], color="gray", lw=0.8, ls=":", label="mean")
        ax_norm.set_xlabel("quantile")
        ax_norm.set_ylabel("row norm ‖w_i‖")
        ax_norm.set_title(f"row norms: min {norms['min']:.3g}, max {norms['max']:.3g}", fontsize=10)
        ax_norm.legend(fontsize=8)
    name = meta.get("repo_id") or Path(str(meta["source"])).name
    title = f"{name} [{record['variant']['name']}]  {meta['n_rows']}×{meta['head_width']}"
    fig.suptitle(title, fontsize=11)
    return fig
