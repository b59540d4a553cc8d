"""The figure of the under-trained tokens: a histogram of each indicator present
(``undertrained_indicator``; ``input_norm`` for an untied model) over the tokens, the reference
rows (known unused) drawn apart, and the candidates' threshold as a line.
:func:`plot_undertrained` returns the figure; saving is the caller's job (``llmgeom tokens``
writes ``NAME.undertrained.png``).

Example:
    >>> import numpy as np
    >>> table = {"undertrained_indicator": np.array([0.1, 0.9, 1.0, 0.05, np.nan]),
    ...          "undertrained_reference": np.array([False, False, False, True, False])}
    >>> fig = plot_undertrained(table, threshold=0.2)
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['undertrained_indicator (cosine distance to the unused rows, 1st PC removed)']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..plotting import figure_axes

LABELS = {
    "undertrained_indicator": "cosine distance to the unused rows, 1st PC removed",
    "input_norm": "input embedding row norm",
}


def plot_undertrained(
    table: Any, ax: Any = None, *, threshold: float | None = None, ranked_by: str | None = None
) -> Any:
    """Histograms of the under-trained indicators of a token table (one panel each, drawn into
    ``ax``: that many axes, or a new figure); ``table``: a
    :class:`~llmgeom.records.token_table.TokenTable` (its summary gives the threshold and the
    indicator it applies to) or a mapping of its columns with ``threshold`` and ``ranked_by``
    (default: the first indicator present)."""
    columns: Mapping[str, Any] = getattr(table, "table", table)
    block = (table.to_dict().get("undertrained") or {}) if hasattr(table, "to_dict") else {}
    threshold = block.get("threshold", threshold) if block else threshold
    ranked_by = block.get("ranked_by", ranked_by) if block else ranked_by
    keys = [k for k in LABELS if k in columns and np.isfinite(np.asarray(columns[k])).any()]
    if not keys:
        message = "the under-trained figure needs an indicator: none was computed"
        raise ConfigError(message, parameter="table")
    ranked_by = ranked_by or keys[0]
    fig, axes = figure_axes(ax, ncols=len(keys), width=6.4 * len(keys), height=4.6)
    reference = np.asarray(columns.get("undertrained_reference", np.zeros(0)), dtype=bool)
    for axis, key in zip(axes, keys, strict=True):
        values = np.asarray(columns[key], dtype=np.float64)
        ref = reference if reference.size == values.size else np.zeros(values.size, dtype=bool)
        finite = np.isfinite(values)
        bins = np.histogram_bin_edges(values[finite], bins=60)
        axis.hist(values[finite & ~ref], bins=bins, alpha=0.7, label="tokens")
        if (finite & ref).any():
            axis.hist(values[finite & ref], bins=bins, alpha=0.8, label="reference (unused) rows")
        if key == ranked_by and threshold is not None:
            axis.axvline(threshold, color="k", linestyle="--", label="candidates at or below")
        axis.set_yscale("log")
        axis.set_xlabel(f"{key} ({LABELS[key]})")
        axis.set_ylabel("tokens")
        axis.legend(fontsize="small")
    return fig
