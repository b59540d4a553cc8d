"""The rank-frequency plot of a token count (the ``.freq.png`` of ``llmgeom freq``): the
tokens' frequencies against their rank, log-log, with the two fitted power laws.

Example:
    >>> import numpy as np
    >>> from llmgeom.text.freq_record import build_freq_record
    >>> counts = np.array([60, 30, 20, 15, 12, 10, 8, 7, 6, 6, 5, 5])
    >>> record = build_freq_record(tokenizer={"name": "t"}, corpus={"name": "c"}, options={},
    ...     counts=counts, documents=1, last_document_cut=False, budget=None, top=[], timings={})
    >>> fig = plot_rank_frequency(counts, record)
    >>> fig.axes[0].get_xscale(), len(fig.axes[0].lines)
    ('log', 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .zipf import rank_counts

PNG_DPI = 120  # of the rank-frequency figure


def plot_rank_frequency(counts: np.ndarray, record: Mapping[str, Any], ax: Any = None) -> Any:
    """The log-log rank-frequency plot of ``counts`` with both fitted lines of its ``record``
    (a ``llmgeom.freq/1`` record), drawn into ``ax`` (a new 6 × 4.5 figure if omitted); returns
    the figure (saving is the caller's job)."""
    from ..plotting import new_figure

    ranked = rank_counts(counts)
    total = ranked.sum()
    ranks = np.arange(1, ranked.size + 1)
    if ax is None:
        fig, (ax,) = new_figure(1, 6, 4.5)
    else:
        fig = ax.figure
    ax.loglog(ranks, ranked / total, ".", ms=2, color="0.3", label="tokens")
    fit_info = record["rank_frequency"]
    loglog = fit_info.get("loglog", {})
    if "alpha" in loglog:
        line = np.exp(loglog["intercept"]) * ranks ** -loglog["alpha"] / total
        ax.loglog(ranks, line, "-", color="C0", label=f"log-log fit: α = {loglog['alpha']:.3f}")
    mle = fit_info.get("mle", {})
    if "s" in mle:
        log_r = np.log(np.arange(1, mle["n_ranks"] + 1))
        norm = np.exp(-mle["s"] * log_r).sum()
        lo, hi = mle["ci95"]
        ax.loglog(
            ranks,
            ranks ** -mle["s"] / norm,
            "--",
            color="C1",
            label=f"power-law MLE: s = {mle['s']:.3f} [{lo:.3f}, {hi:.3f}]",
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency")
    title = f"{record['tokenizer']['name']} on {record['corpus']['name']}"
    ax.set_title(f"{title} ({record['stats']['tokens_counted']:,} tokens)", fontsize=10)
    ax.legend(fontsize=8)
    return fig
