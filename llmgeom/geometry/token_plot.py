"""The figure of a token table with counts: each token's interference and row norm against its
frequency (log axes; tokens never seen have no place on them), with Spearman's ρ in the titles.
:func:`plot_token_frequency` returns the figure; saving is the caller's job (``llmgeom tokens``
writes ``NAME.tokens.png``).

Example:
    >>> import numpy as np
    >>> table = {"count": np.array([9, 3, 1, 0]), "interference": np.array([.3, .2, .1, .4]),
    ...          "row_norm": np.array([1.0, 2.0, 3.0, 4.0])}
    >>> fig = plot_token_frequency(table)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['interference (mean cos² with the others)', 'row norm ‖w‖']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..plotting import figure_axes, log_axes
from .token_summary import spearman_with_log_frequency

PANELS = (
    ("interference", "interference (mean cos² with the others)"),
    ("row_norm", "row norm ‖w‖"),
)


def plot_token_frequency(table: Any, ax: Any = None) -> Any:
    """Interference and row norm of every token against its count (two panels, drawn into
    ``ax``: two axes, or a new 12 × 4.6 figure when omitted); returns the figure. ``table``: a
    :class:`~llmgeom.records.token_table.TokenTable` or a mapping of its columns, with ``count``.
    """
    columns: Mapping[str, Any] = getattr(table, "table", table)
    if "count" not in columns:
        message = "the frequency figure needs token counts: make the table with counts="
        raise ConfigError(message, parameter="table")
    fig, axes = figure_axes(ax, ncols=2, width=12.0, height=4.6)
    counts = np.asarray(columns["count"], dtype=np.float64)
    seen = counts > 0
    for axis, (key, label) in zip(axes, PANELS, strict=True):
        values = np.asarray(columns[key], dtype=np.float64)
        keep = seen & np.isfinite(values)
        axis.scatter(counts[keep], values[keep], s=4, alpha=0.4, linewidths=0)
        axis.set_xscale("log")  # matplotlib's decades: counts span many of them
        if key == "row_norm" or (keep.any() and values[keep].min() > 0):
            log_axes(axis, "y")
        rho = spearman_with_log_frequency(values, counts)["spearman"]
        shown = "n/a" if rho is None else f"{rho:+.3f}"
        axis.set_title(f"Spearman ρ with log frequency: {shown} ({int(keep.sum()):,} tokens)")
        axis.set_xlabel("count in the corpus")
        axis.set_ylabel(label)
    return fig
