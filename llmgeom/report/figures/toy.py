"""The figures of toy-model results: loss against width in the weak and strong regimes, and
the γ × α maps of the fitted exponent α_m (Fig 4b) and of the represented fraction φ (Fig 3).

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> try:
    ...     toy_phase_diagram(Context.build(Gathered(Path("."))))
    ... except Missing as why:
    ...     print(why)
    fewer than two toy runs (γ, α) with a fitted α_m
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ... import plotting
from ..gather import Gathered, Item
from .base import Context, Drawn, Missing


def toy_runs(found: Gathered) -> list[tuple[Item, dict[str, Any]]]:
    """Every run of every toy result, with the result it belongs to.

    Example:
        >>> from pathlib import Path
        >>> toy_runs(Gathered(Path(".")))
        []
    """
    return [(item, run) for item in found.toys for run in item.data["runs"]]


def toy_run_label(run: dict[str, Any]) -> str:
    """A toy run's label as ``llmgeom toy`` prints it (:func:`llmgeom.toy.report.run_label`).

    Example:
        >>> toy_run_label({"gamma": 0.5, "alpha": 2.0, "family": "power"})
        'γ=0.5 α=2 power'
    """
    from ...toy.report import run_label

    return run_label({"density": 1.0, "seed": 0, **run})


def toy_loss_vs_width(ctx: Context, ax: Any = None) -> Drawn:
    """Toy loss against width for the weak (γ > 0) and strong (γ < 0) regimes, with α_m."""
    runs = toy_runs(ctx.found)
    regimes = [g for g in ("weak", "strong") if any(r["regime"] == g for _, r in runs)]
    if not regimes:
        raise Missing("no toy results with a weak or strong regime run")
    fig, axes = plotting.figure_axes(ax, len(regimes), width=5.2 * len(regimes))
    data: dict[str, Any] = {}
    for ax, regime in zip(axes, regimes, strict=True):
        plotting.log_axes(ax)
        sel = [(item, r) for item, r in runs if r["regime"] == regime]
        data[regime] = []
        for k, (item, run) in enumerate(sel):
            colour = f"C{k % 10}"
            m = np.array([row["m"] for row in run["per_m"]], dtype=float)
            loss = np.array([row["loss"] for row in run["per_m"]], dtype=float)
            fit = run["fit"]
            label = f"{item.data.get('name', '')}: {toy_run_label(run)}"
            if "exponent" in fit:
                label += f", α_m = {fit['exponent']:.2f} ± {fit['exponent_se']:.2f}"
                used = np.array(fit.get("m_used") or m, dtype=float)
                grid = np.geomspace(used.min(), used.max(), 40)
                ax.plot(
                    grid, fit["prefactor"] * grid ** (-fit["exponent"]), "--", color=colour, lw=1
                )
            ax.plot(m, loss, "o", color=colour, ms=4, label=label if len(sel) <= 12 else None)
            data[regime].append(
                {
                    "record": item.rel,
                    "gamma": run["gamma"],
                    "alpha": run["alpha"],
                    "m": m.tolist(),
                    "loss": loss.tolist(),
                }
            )
        ax.set_title(f"{regime} superposition (γ {'>' if regime == 'weak' else '<'} 0)", fontsize=9)
        ax.set_xlabel("width m")
        ax.set_ylabel("final loss")
        if len(sel) <= 12:
            ax.legend(fontsize=6)
    absent = [g for g in ("weak", "strong") if g not in regimes]
    caption = (
        "Toy model: final loss against width, dashed: the fitted power law m^-α_m over its fit "
        "range." + (f" No {absent[0]}-regime runs in the results." if absent else "")
    )
    return Drawn(fig, caption, data)


def _edges(values: list[float]) -> np.ndarray:
    """Cell edges around sorted cell centres (half-way between neighbours)."""
    v = np.array(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def phase_map(
    ax: Any, cells: dict[tuple[float, float], list[float]], label: str, title: str, **mesh: Any
) -> Any:
    """Draw a γ × α map of the mean of each cell's values into ``ax``, with a colour bar labelled
    ``label`` (each cell written on it when there are at most 80); returns the figure.

    Example:
        >>> from llmgeom import plotting
        >>> fig, (ax,) = plotting.new_figure()
        >>> phase_map(ax, {(-1.0, 1.0): [1.0], (0.5, 2.0): [0.8, 1.0]}, "α_m", "t") is fig
        True
    """
    fig = ax.figure
    gammas = sorted({g for g, _ in cells})
    alphas = sorted({a for _, a in cells})
    grid = np.full((len(alphas), len(gammas)), np.nan)
    for (g, a), values in cells.items():
        grid[alphas.index(a), gammas.index(g)] = float(np.mean(values))
    ax.grid(False)
    drawn = ax.pcolormesh(
        _edges(gammas), _edges(alphas), np.ma.masked_invalid(grid), cmap="viridis", **mesh
    )
    fig.colorbar(drawn, ax=ax, label=label)
    if grid.size <= 80:
        for (g, a), values in cells.items():
            ax.text(
                g, a, f"{np.mean(values):.2f}", ha="center", va="center", fontsize=7, color="white"
            )
    ax.axvline(0.0, color="w", lw=0.8, ls=":")
    ax.set_xlabel("γ (weight decay dial: < 0 strong, > 0 weak superposition)")
    ax.set_ylabel("α (feature frequencies p_i ∝ i^-α)")
    ax.set_title(title, fontsize=9)
    return fig


def _cells_data(cells: dict[tuple[float, float], list[float]], name: str) -> list[dict[str, Any]]:
    return [
        {"gamma": g, "alpha": a, name: float(np.mean(v)), "n": len(v)}
        for (g, a), v in sorted(cells.items())
    ]


def toy_phase_diagram(ctx: Context, ax: Any = None) -> Drawn:
    """The γ × α phase diagram of the fitted model exponent α_m (power-law frequencies;
    Fig 4b)."""
    cells: dict[tuple[float, float], list[float]] = defaultdict(list)
    for _, run in toy_runs(ctx.found):
        if run["family"] == "power" and "exponent" in run["fit"]:
            cells[(float(run["gamma"]), float(run["alpha"]))].append(float(run["fit"]["exponent"]))
    if len(cells) < 2:
        raise Missing("fewer than two toy runs (γ, α) with a fitted α_m")
    fig, (ax,) = plotting.figure_axes(ax, width=6.4, height=5.0)
    phase_map(ax, cells, "model exponent α_m", "toy model: α_m over (γ, α)")
    caption = (
        f"{len(cells)} (γ, α) cells, α_m the log-log slope of final loss against width (mean over "
        "seeds and files where a cell repeats); blank cells: not run."
    )
    return Drawn(fig, caption, {"cells": _cells_data(cells, "alpha_m")})


def toy_phi_phase(ctx: Context, ax: Any = None) -> Drawn:
    """The γ × α map of the fraction of represented features φ (power-law frequencies, at the
    narrowest width every run has; where runs of different widths are found, those of the
    widths with the most (γ, α) cells; Fig 3)."""
    runs = [
        run
        for _, run in toy_runs(ctx.found)
        if run["family"] == "power" and any(row.get("phi") is not None for row in run["per_m"])
    ]
    by_widths: dict[tuple, list] = defaultdict(list)  # files of other widths: the fullest grid
    for run in runs:
        by_widths[tuple(sorted(row["m"] for row in run["per_m"]))].append(run)
    if by_widths:
        runs = max(by_widths.values(), key=lambda g: len({(r["gamma"], r["alpha"]) for r in g}))
    common = set.intersection(*[{row["m"] for row in r["per_m"]} for r in runs]) if runs else set()
    if not common:
        raise Missing("no toy runs with φ at a width they all share")
    m = min(common)
    cells: dict[tuple[float, float], list[float]] = defaultdict(list)
    for run in runs:
        for row in run["per_m"]:
            if row["m"] == m and row.get("phi") is not None:
                cells[(float(run["gamma"]), float(run["alpha"]))].append(float(row["phi"]))
    if len(cells) < 2:
        raise Missing("fewer than two toy runs (γ, α) with φ")
    fig, (ax,) = plotting.figure_axes(ax, width=6.4, height=5.0)
    title = f"toy model: fraction of represented features φ over (γ, α), m = {m}"
    phase_map(ax, cells, "φ = fraction of rows with ‖W_i‖ > 1/2", title, vmin=0.0, vmax=1.0)
    caption = (
        f"{len(cells)} (γ, α) cells at width m = {m} (the narrowest width of every run), φ the "
        "fraction of features with ‖W_i‖ > 1/2 (≈ m/n weak, ≈ 1 strong; mean over seeds and "
        "files where a cell repeats); blank cells: not run."
    )
    return Drawn(fig, caption, {"m": m, "cells": _cells_data(cells, "phi")})
