"""The figures of the toy model's width exponent α_m: per frequency family with the LLMs beside
it (Fig 1b/1d/4a), against the data exponent α in the weak and strong regimes (Fig 5b/6e) and
against the activation density E (Fig 7).

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> try:
    ...     toy_density(Context.build(Gathered(Path("."))))
    ... except Missing as why:
    ...     print(why)
    no toy runs at two or more activation densities E (same family, α and γ)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ... import plotting
from .base import MARKERS, Context, Drawn, Missing
from .toy import toy_run_label, toy_runs

FAMILIES = ("exp", "power", "linear")  # llmgeom toy's names: exp(−i/400), i^−α, n − i + 1
REGIME_STYLE = {"strong": ("C3", "o"), "weak": ("C0", "s")}


def fitted(run: dict[str, Any]) -> tuple[float, float, float] | None:
    """``(α_m, 95 % low, 95 % high)`` of a toy run's fit (its stored interval, else ± 1.96 SE),
    or None when the run has no fitted exponent.

    Example:
        >>> fitted({"fit": {"exponent": 1.0, "exponent_ci95": [0.9, 1.1]}})
        (1.0, 0.9, 1.1)
        >>> fitted({"fit": {"error": "too few widths"}}) is None
        True
    """
    fit = run.get("fit") or {}
    if fit.get("exponent") is None:
        return None
    value = float(fit["exponent"])
    ci = fit.get("exponent_ci95")
    if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci:
        return value, float(ci[0]), float(ci[1])
    half = 1.959963984540054 * float(fit.get("exponent_se") or 0.0)
    return value, value - half, value + half


def _errorbar(ax: Any, x: Any, fits: list[tuple[float, float, float]], **style: Any) -> None:
    y = np.array([f[0] for f in fits])
    err = np.array([[f[0] - f[1] for f in fits], [f[2] - f[0] for f in fits]])
    ax.errorbar(x, y, yerr=np.clip(err, 0, None), capsize=3, ls="none", **style)


def _llm_law(ctx: Context) -> tuple[float, float, float] | None:
    law = ctx.width_loss.data
    if law is None:
        return None
    for key in ("alpha_ci_bootstrap", "alpha_ci_authors"):
        ci = law.get(key)
        if isinstance(ci, list) and len(ci) == 2 and None not in ci:
            return float(law["alpha"]), float(ci[0]), float(ci[1])
    return float(law["alpha"]), float(law["alpha"]), float(law["alpha"])


def toy_alpha_m_families(ctx: Context, ax: Any = None) -> Drawn:
    """Left: α_m of the strong-regime runs per frequency family (exponential, power, linear)
    with the LLMs' width-loss α beside them (Fig 1b/4a). Right: each strong run's loss divided
    by its fitted prefactor against m, the LLMs' (L − L0)/C on the same axes (Fig 1d)."""
    strong = [
        (item, run)
        for item, run in toy_runs(ctx.found)
        if run["regime"] == "strong" and fitted(run) is not None and run["family"] in FAMILIES
    ]
    if not strong:
        raise Missing("no strong-regime toy runs with a fitted α_m")
    fig, (left, right) = plotting.figure_axes(ax, 2, width=11.0)
    families = [f for f in FAMILIES if any(run["family"] == f for _, run in strong)]
    points = []
    for k, family in enumerate(families):
        runs = [run for _, run in strong if run["family"] == family]
        fits = [f for f in (fitted(run) for run in runs) if f is not None]
        jitter = np.linspace(-0.15, 0.15, len(fits)) if len(fits) > 1 else np.zeros(1)
        _errorbar(left, k + jitter, fits, color=f"C{k}", marker="o")
        points += [
            {"family": family, "alpha": run["alpha"], "gamma": run["gamma"], "alpha_m": f[0]}
            for run, f in zip(runs, fits, strict=True)
        ]
    ticks = list(families)
    llm = _llm_law(ctx)
    if llm is not None:
        _errorbar(left, [len(families)], [llm], color="k", marker="D")
        ticks.append("LLMs (width-loss α)")
    left.axhline(1.0, color="grey", ls="--", lw=1, label="α_m = 1")
    left.set_xticks(range(len(ticks)), ticks, fontsize=8)
    left.set_xlim(-0.6, len(ticks) - 0.4)
    left.set_ylabel("width exponent α_m (95% interval)")
    left.set_title("strong superposition: α_m per frequency family", fontsize=9)
    left.legend(fontsize=7)
    plotting.log_axes(right)
    for item, run in strong:
        fit = run["fit"]
        if fit.get("prefactor") is None:
            continue
        m = np.array([row["m"] for row in run["per_m"]], dtype=float)
        loss = np.array([row["loss"] for row in run["per_m"]], dtype=float)
        k = families.index(run["family"])
        right.plot(
            m,
            loss / fit["prefactor"],
            "o-",
            color=f"C{k}",
            ms=3,
            lw=0.8,
            label=f"{item.data.get('name', 'toy')}: {toy_run_label(run)}",
        )
    law = ctx.width_loss.fitted
    if law is not None:
        from ...fits.plots import loss_above_offset

        excess = loss_above_offset(law) / law.C_
        keep = excess > 0
        right.scatter(
            law.m_[keep],
            excess[keep],
            color="k",
            marker="D",
            s=14,
            zorder=3,
            label="LLMs: (L − L0)/C",
        )
    lo, hi = right.get_xlim()
    grid = np.geomspace(lo, hi, 50)
    right.plot(grid, 1.0 / grid, "k--", lw=1, label="1/m")
    right.set_xlabel("width m")
    right.set_ylabel("loss / fitted prefactor")
    right.set_title("loss collapse: toy model and LLMs", fontsize=9)
    right.legend(fontsize=6)
    absent = [f for f in FAMILIES if f not in families]
    caption = (
        f"{len(strong)} strong-regime toy run(s); left: α_m with its 95% interval per frequency "
        "family"
        + (f" (no {', '.join(absent)} runs in the results)" if absent else "")
        + (
            f", and the LLMs' α = {llm[0]:.3f} from {ctx.width_loss.origin}"
            if llm
            else "; no width-loss law for the LLM point"
        )
        + "; right: loss divided by the fitted prefactor, dashed 1/m."
    )
    return Drawn(fig, caption, {"points": points, "llm_alpha": None if llm is None else llm[0]})


def toy_alpha_m_vs_alpha(ctx: Context, ax: Any = None) -> Drawn:
    """α_m against the data exponent α (power-law frequencies) in the weak and strong regimes,
    against the weak prediction α − 1 and the strong value 1 (Fig 5b/6e)."""
    runs = [
        run
        for _, run in toy_runs(ctx.found)
        if run["family"] == "power" and run["regime"] in REGIME_STYLE and fitted(run) is not None
    ]
    if not runs:
        raise Missing("no weak- or strong-regime toy runs (power frequencies) with a fitted α_m")
    fig, (ax,) = plotting.figure_axes(ax)
    points = []
    for regime, (colour, marker) in REGIME_STYLE.items():
        sel = [run for run in runs if run["regime"] == regime]
        if not sel:
            continue
        fits = [f for f in (fitted(run) for run in sel) if f is not None]
        _errorbar(
            ax,
            [run["alpha"] for run in sel],
            fits,
            color=colour,
            marker=marker,
            label=f"{regime} (γ {'<' if regime == 'strong' else '>'} 0)",
        )
        points += [
            {"regime": regime, "alpha": run["alpha"], "gamma": run["gamma"], "alpha_m": f[0]}
            for run, f in zip(sel, fits, strict=True)
        ]
    alphas = [p["alpha"] for p in points]
    grid = np.linspace(min([*alphas, 0.0]) - 0.1, max([*alphas, 2.0]) + 0.1, 50)
    ax.plot(grid, grid - 1, "--", color="C0", lw=1, label="α − 1 (weak)")
    ax.axhline(1.0, color="C3", ls=":", lw=1, label="1 (strong)")
    ax.set_xlabel("data exponent α (p_i ∝ i^-α)")
    ax.set_ylabel("width exponent α_m (95% interval)")
    ax.set_title("toy model: α_m against α", fontsize=9)
    ax.legend(fontsize=7)
    caption = (
        f"{len(points)} run(s) with power-law frequencies; weak superposition follows α − 1 "
        "(the mass of the dropped features), strong superposition ≈ 1 (interference ∝ 1/m)."
    )
    return Drawn(fig, caption, {"points": points})


def toy_density(ctx: Context, ax: Any = None) -> Drawn:
    """Loss against width per activation density E (the group with the most densities) and α_m
    against E for every (family, α, γ) run at two or more densities (Fig 7)."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for _, run in toy_runs(ctx.found):
        groups[(run["family"], float(run["alpha"]), float(run["gamma"]))].append(run)
    varied = {
        key: runs
        for key, runs in groups.items()
        if len({float(r.get("density", 1.0)) for r in runs}) >= 2
    }
    if not varied:
        raise Missing("no toy runs at two or more activation densities E (same family, α and γ)")
    fig, (left, right) = plotting.figure_axes(ax, 2, width=11.0)
    plotting.log_axes(left)
    best = max(varied, key=lambda k: (len({r.get("density", 1.0) for r in varied[k]}), str(k)))
    for k, run in enumerate(sorted(varied[best], key=lambda r: float(r.get("density", 1.0)))):
        m = [row["m"] for row in run["per_m"]]
        left.plot(
            m,
            [row["loss"] for row in run["per_m"]],
            "o-",
            color=f"C{k % 10}",
            ms=3,
            label=f"E = {float(run.get('density', 1.0)):g}",
        )
    left.set_xlabel("width m")
    left.set_ylabel("final loss")
    left.set_title(f"{best[0]} α = {best[1]:g}, γ = {best[2]:g}", fontsize=9)
    left.legend(fontsize=7)
    points = []
    for j, (key, runs) in enumerate(sorted(varied.items(), key=lambda kv: str(kv[0]))):
        sel = sorted((r for r in runs if fitted(r)), key=lambda r: float(r.get("density", 1.0)))
        if not sel:
            continue
        fits = [f for f in (fitted(r) for r in sel) if f is not None]
        _errorbar(
            right,
            [float(r.get("density", 1.0)) for r in sel],
            fits,
            color=f"C{j % 10}",
            marker=MARKERS[j % 8],
            label=f"{key[0]} α = {key[1]:g}, γ = {key[2]:g}",
        )
        points += [
            {
                "family": key[0],
                "alpha": key[1],
                "gamma": key[2],
                "density": float(r.get("density", 1.0)),
                "alpha_m": f[0],
            }
            for r, f in zip(sel, fits, strict=True)
        ]
    right.set_xscale("log")
    right.set_xlabel("activation density E = Σ p_i")
    right.set_ylabel("width exponent α_m (95% interval)")
    right.set_title("α_m against E", fontsize=9)
    right.legend(fontsize=7)
    caption = (
        f"{len(varied)} (family, α, γ) group(s) run at two or more densities; left: loss against "
        "width per E; right: α_m against E (the paper: E changes the prefactor, not α_m)."
    )
    return Drawn(fig, caption, {"points": points, "loss_group": list(best)})
