"""Figures of a toy-model results document (matplotlib, Agg backend, no display needed).

* loss vs m, log-log, one series per run with its fitted power law drawn over the fit range (and,
  for the weak regime, the unlearned-features prediction as open markers);
* φ vs m with the weak-regime references ``m/n`` and ``2m/n``.

Example:
    >>> import tempfile, pathlib
    >>> from llmgeom.toy.config import ToyConfig, ToyRun
    >>> from llmgeom.toy.report import summarize
    >>> from llmgeom.toy.training import train
    >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
    ...                 runs=(ToyRun(gamma=-1.0),))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo_loss.png"
    >>> plot_loss(summarize(train(cfg, progress=False)), out).exists()
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._atomic import atomic_path
from .report import run_label


def _figure() -> tuple[Figure, Any]:
    """A 5.6 x 4.2 in figure on its own Agg canvas: no pyplot, no process-wide backend change."""
    fig = Figure(figsize=(5.6, 4.2))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=130, bbox_inches="tight")
    return path


def plot_loss(doc: dict[str, Any], path: str | Path) -> Path:
    """Save the log-log loss-vs-width figure with fitted lines; returns the path."""
    fig, ax = _figure()
    for k, run in enumerate(doc["runs"]):
        color = f"C{k % 10}"
        m = np.array([r["m"] for r in run["per_m"]], dtype=float)
        loss = np.array([r["loss"] for r in run["per_m"]])
        fit = run["fit"]
        label = run_label(run)
        if "exponent" in fit:
            label += f": α_m = {fit['exponent']:.2f} ± {fit['exponent_se']:.2f}"
            used = np.array(fit.get("m_used") or m, dtype=float)  # the fit range only
            grid = np.geomspace(used.min(), used.max(), 50)
            ax.plot(grid, fit["prefactor"] * grid ** (-fit["exponent"]), "--", color=color, lw=1)
        ax.plot(m, loss, "o", color=color, label=label)
        unl = np.array([r["unlearned_prediction"] for r in run["per_m"]])
        if run["regime"] == "weak" and np.all(unl > 0):
            ax.plot(
                m, unl, "s", mfc="none", color=color, ms=7, label="  unlearned-features prediction"
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel("final loss (summed over features)")
    cfg = doc["config"]
    ax.set_title(f"toy model '{doc['name']}': n={cfg['n']}, {cfg['steps']} steps", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, Path(path))


def plot_phi(doc: dict[str, Any], path: str | Path) -> Path:
    """Save the fraction of represented features φ vs width, with ``m/n`` and ``2m/n``."""
    fig, ax = _figure()
    n = doc["config"]["n"]
    all_m = sorted({r["m"] for run in doc["runs"] for r in run["per_m"]})
    grid = np.array(all_m, dtype=float)
    ax.plot(grid, grid / n, ":", color="gray", label="m/n")
    ax.plot(grid, 2 * grid / n, "-.", color="gray", label="2m/n")
    for k, run in enumerate(doc["runs"]):
        m = [r["m"] for r in run["per_m"]]
        phi = [r["phi"] for r in run["per_m"]]
        ax.plot(m, phi, "o-", color=f"C{k % 10}", label=run_label(run))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(top=1.5)
    ax.set_xlabel("width m")
    ax.set_ylabel("represented fraction φ (‖W_i‖ > 1/2)")
    ax.set_title(f"toy model '{doc['name']}': n={n}", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, Path(path))
