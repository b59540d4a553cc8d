"""Figures of a toy-model results document (matplotlib, Agg backend, no display needed).

* loss vs m, log-log, one series per run with its fitted power law drawn over the fit range (and,
  for the weak regime, the unlearned-features prediction as open markers);
* φ vs m with the weak-regime references ``m/n`` and ``2m/n``.

Each function draws into ``ax`` (a new 5.6 × 4.2 figure if omitted) and returns the figure;
:func:`save_plot` writes one as the toy experiment does (atomically, 130 dpi, tight box).

Example:
    >>> import tempfile, pathlib
    >>> from llmgeom.toy.config import ToyConfig, ToyRun
    >>> from llmgeom.toy.report import summarize
    >>> from llmgeom.toy.training import train
    >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
    ...                 runs=(ToyRun(gamma=-1.0),))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo_loss.png"
    >>> save_plot(plot_loss(summarize(train(cfg, progress=False))), out).exists()
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from .report import run_label

#: Resolution of the toy figures.
PNG_DPI = 130


def _axes(ax: Any) -> tuple[Any, Any]:
    """(figure, axes): ``ax`` and its figure, or a new 5.6 × 4.2 Agg figure (no pyplot)."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 4.2))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_plot(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` at ``path`` atomically (format from the suffix, 130 dpi, tight box).

    Example:
        >>> import tempfile, pathlib
        >>> fig, ax = _axes(None)
        >>> save_plot(fig, pathlib.Path(tempfile.mkdtemp()) / "f.png").suffix
        '.png'
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=PNG_DPI, bbox_inches="tight")
    return path


def _groups(doc: dict[str, Any]) -> tuple[dict[tuple, int], dict[tuple, dict[str, Any]]]:
    """Color index and seed summary of each (γ, α, family, E, decay): the seeds of one run share
    a color and one legend entry."""
    from .seeds import group_key, seed_summary

    summary = doc.get("seed_summary") or seed_summary(doc["runs"])
    entries = {group_key(g): g for g in summary}
    return {key: k for k, key in enumerate(entries)}, entries


def _legend(ax: Any) -> None:
    """The legend inside the axes, or beside them when it has many entries."""
    many = len(ax.get_legend_handles_labels()[1]) > 12
    if many:
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    else:
        ax.legend(fontsize=7)


def plot_loss(doc: dict[str, Any], ax: Any = None) -> Any:
    """The log-log loss-vs-width figure with fitted lines, drawn into ``ax``; the figure. The
    seeds of a run share its color; its legend entry gives α_m as mean ± spread over seeds."""
    from .seeds import group_key

    fig, ax = _axes(ax)
    colors, groups = _groups(doc)
    labelled: set[tuple] = set()
    for run in doc["runs"]:
        key = group_key(run)
        color = f"C{colors[key] % 10}"
        first = key not in labelled
        labelled.add(key)
        m = np.array([r["m"] for r in run["per_m"]], dtype=float)
        loss = np.array([r["loss"] for r in run["per_m"]])
        fit = run["fit"]
        group = groups[key]
        label = run_label(run) if len(group["seeds"]) == 1 else run_label({**run, "seed": 0})
        if "exponent" in fit:
            if len(group["seeds"]) == 1:
                label += f": α_m = {fit['exponent']:.2f} ± {fit['exponent_se']:.2f}"
            elif group["alpha_m_spread"] is not None:
                label += (
                    f": α_m = {group['alpha_m_mean']:.2f} ± {group['alpha_m_spread']:.2f}"
                    f" ({len(group['seeds'])} seeds)"
                )
            used = np.array(fit.get("m_used") or m, dtype=float)  # the fit range only
            grid = np.geomspace(used.min(), used.max(), 50)
            ax.plot(grid, fit["prefactor"] * grid ** (-fit["exponent"]), "--", color=color, lw=1)
        ax.plot(m, loss, "o", color=color, label=label if first else None)
        unl = np.array([r["unlearned_prediction"] for r in run["per_m"]])
        if run["regime"] == "weak" and np.all(unl > 0):
            note = "  unlearned-features prediction" if first else None
            ax.plot(m, unl, "s", mfc="none", color=color, ms=7, label=note)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel("final loss (summed over features)")
    cfg = doc["config"]
    ax.set_title(f"toy model '{doc['name']}': n={cfg['n']}, {cfg['steps']} steps", fontsize=10)
    _legend(ax)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plot_phi(doc: dict[str, Any], ax: Any = None) -> Any:
    """The fraction of represented features φ vs width, with ``m/n`` and ``2m/n``, drawn into
    ``ax``; the figure."""
    fig, ax = _axes(ax)
    n = doc["config"]["n"]
    all_m = sorted({r["m"] for run in doc["runs"] for r in run["per_m"]})
    grid = np.array(all_m, dtype=float)
    ax.plot(grid, grid / n, ":", color="gray", label="m/n")
    ax.plot(grid, 2 * grid / n, "-.", color="gray", label="2m/n")
    from .seeds import group_key

    colors, groups = _groups(doc)
    labelled: set[tuple] = set()
    for run in doc["runs"]:
        key = group_key(run)
        m = [r["m"] for r in run["per_m"]]
        phi = [r["phi"] for r in run["per_m"]]
        several = len(groups[key]["seeds"]) > 1
        label = run_label({**run, "seed": 0}) + f" ({len(groups[key]['seeds'])} seeds)"
        label = label if several else run_label(run)
        color = f"C{colors[key] % 10}"
        ax.plot(m, phi, "o-", color=color, label=None if key in labelled else label)
        labelled.add(key)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(top=1.5)
    ax.set_xlabel("width m")
    ax.set_ylabel("represented fraction φ (‖W_i‖ > 1/2)")
    ax.set_title(f"toy model '{doc['name']}': n={n}", fontsize=10)
    _legend(ax)
    ax.grid(True, which="both", alpha=0.3)
    return fig
