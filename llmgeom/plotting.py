"""Matplotlib plumbing shared by every figure: Agg figures without pyplot, log axes, PNG output.

Figures are built on an Agg canvas (no global pyplot state, no display needed, safe in worker
processes); PNGs are written atomically.

Example:
    >>> fig, (ax,) = new_figure()
    >>> _ = ax.plot([1, 10, 100], [1, 0.1, 0.01]); log_axes(ax)
    >>> png_bytes(fig)[:4]
    b'\\x89PNG'
    >>> colours(["opt", "gpt2"])
    {'opt': 'C0', 'gpt2': 'C1'}
    >>> figure_axes(ax)[0] is fig  # a plot function given ``ax=`` draws into its figure
    True
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ._atomic import atomic_path
from .errors import ConfigError


def new_figure(ncols: int = 1, width: float = 6.4, height: float = 4.6) -> tuple[Any, list[Any]]:
    """A figure with ``ncols`` side-by-side axes, each with a light grid (matplotlib imported
    here, lazily, so that commands that draw nothing start fast)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    return fig, axes


def figure_axes(
    ax: Any = None, ncols: int = 1, width: float = 6.4, height: float = 4.6
) -> tuple[Any, list[Any]]:
    """``(figure, axes)`` for a plot function's ``ax=`` argument: a new figure of ``ncols``
    side-by-side axes (:func:`new_figure`) when ``ax`` is None, else ``ax`` (one axes, or a
    sequence of ``ncols`` axes) and its figure; :class:`ConfigError` naming ``ax`` otherwise.

    Example:
        >>> fig, (left, right) = figure_axes(None, 2)
        >>> figure_axes([left, right], 2)[0] is fig
        True
        >>> figure_axes(left, 2)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: ax must be 2 axes for this figure, got 1
    """
    if ax is None:
        return new_figure(ncols, width, height)
    if hasattr(ax, "flat"):  # a numpy array of axes (pyplot.subplots)
        ax = list(ax.flat)
    axes = list(ax) if isinstance(ax, list | tuple) else [ax]
    if len(axes) != ncols:
        message = f"ax must be {ncols} axes for this figure, got {len(axes)}"
        raise ConfigError(message, parameter="ax")
    return axes[0].figure, axes


def log_axes(ax: Any, axis: str = "xy") -> None:
    """Log scale on ``axis`` (``"x"``, ``"y"`` or ``"xy"``) with plain labels at 1, 2, 5 × 10^k."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for name in axis:
        target = ax.xaxis if name == "x" else ax.yaxis
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (after ``tight_layout``)."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write the figure as a PNG at ``path`` atomically and return the path."""
    data = png_bytes(fig, dpi)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def colours(names: list[str]) -> dict[str, str]:
    """One matplotlib cycle colour per name, in order."""
    return {name: f"C{i % 10}" for i, name in enumerate(names)}
