"""The figures of losses and token counts: loss against width with the width-loss law, its
data collapse (Fig 8b) and the token rank-frequency curves.

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> try:
    ...     loss_vs_width(Context.build(Gathered(Path("."))))
    ... except Missing as why:
    ...     print(why)
    no loss records or losses.csv
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import plotting
from .base import MARKERS, Context, Drawn, Missing, interval


def loss_vs_width(ctx: Context, ax: Any = None) -> Drawn:
    """Loss against d_model per (family, corpus) with the shared width-loss law and its
    offsets."""
    points = ctx.losses
    if not points:
        raise Missing("no loss records or losses.csv")
    families = sorted({p["family"] for p in points})
    corpora = sorted({p["corpus"] for p in points})
    colours = plotting.colours(families)
    law, fitted = ctx.width_loss.data, ctx.width_loss.fitted
    fig, (ax,) = plotting.figure_axes(ax)
    plotting.log_axes(ax, "x")
    for g in families:
        for j, c in enumerate(corpora):
            sel = [p for p in points if p["family"] == g and p["corpus"] == c]
            if not sel:
                continue
            m = np.array([p["m"] for p in sel])
            ax.scatter(
                m,
                [p["loss"] for p in sel],
                color=colours[g],
                marker=MARKERS[j % 8],
                zorder=3,
                label=f"{g} / {c}",
            )
            if fitted is not None and c in fitted.offsets_.get(g, {}):
                grid = np.geomspace(m.min() / 1.15, m.max() * 1.15, 50)
                ax.plot(grid, fitted.predict(grid, g, c), "-", color=colours[g], lw=1)
    if law is not None:
        ci = law.get("alpha_ci_bootstrap") or [None, None]
        how = "bootstrap"
        if None in ci:
            ci, how = law.get("alpha_ci_authors") or [None, None], "authors' SE"
        ax.set_title(
            f"L = C/m^α + L0(family, corpus): α = {law['alpha']:.3f}, 95% {how} "
            f"{interval(ci)}, C = {law['C']:.4g}",
            fontsize=9,
        )
    else:
        ax.set_title(f"loss vs width ({ctx.width_loss.note})", fontsize=9)
    ax.set_xlabel("width m = d_model")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=7, ncol=2)
    caption = (
        f"{len(points)} losses ({len(families)} families × {len(corpora)} corpora); lines: "
        + (
            f"the shared law with one offset per (family, corpus), from {ctx.width_loss.origin}."
            if law
            else ctx.width_loss.note + "."
        )
    )
    return Drawn(fig, caption, {"points": points})


def rank_frequency(ctx: Context, ax: Any = None) -> Drawn:
    """Token rank-frequency curves from the counts files, with the paper's log-log exponent."""
    freqs = [i for i in ctx.found.freqs if i.extra.get("counts") is not None]
    if not freqs:
        raise Missing("no token counts (llmgeom freq)")
    fig, (ax,) = plotting.figure_axes(ax)
    curves = []
    for k, item in enumerate(freqs):
        counts = item.extra["counts"].counts
        ranked = np.sort(counts[counts > 0])[::-1]
        if ranked.size == 0:
            continue
        label = f"{item.data['tokenizer'].get('name')} on {item.data['corpus'].get('name')}"
        fit = item.data["rank_frequency"].get("loglog", {})
        if "alpha" in fit:
            label += f": α = {fit['alpha']:.3f}"
        ranks = np.arange(1, ranked.size + 1)
        ax.plot(ranks, ranked / ranked.sum(), "-", lw=1.2, color=f"C{k % 10}", label=label)
        curves.append(
            {"record": item.rel, "distinct": int(ranked.size), "total": float(ranked.sum())}
        )
    if not curves:
        raise Missing("every counts file is empty")
    plotting.log_axes(ax)
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency")
    ax.set_title("token rank-frequency (counts of llmgeom freq)", fontsize=9)
    ax.legend(fontsize=7)
    caption = (
        f"{len(curves)} (tokenizer, corpus) pairs; α: the paper's log-log least-squares exponent "
        "(1000 ranks uniform in log rank)."
    )
    return Drawn(fig, caption, {"curves": curves})


def loss_collapse(ctx: Context, ax: Any = None) -> Drawn:
    """The data collapse of Fig 8b: ``L − L0(family, corpus)`` against m, log-log, with the one
    line ``C m^−α`` through every point (:func:`llmgeom.fits.plots.plot_width_loss`, the figure
    ``llmgeom fit loss`` writes)."""
    from ...fits.plots import loss_above_offset, plot_width_loss

    law = ctx.width_loss.fitted
    if law is None:
        raise Missing(f"no width-loss law ({ctx.width_loss.note or 'its fit cannot be read'})")
    fig = plot_width_loss(law, ax)
    excess = loss_above_offset(law)
    points = [
        {"family": f, "corpus": c, "m": float(m), "excess": float(e)}
        for f, c, m, e in zip(law.family_, law.corpus_, law.m_, excess, strict=True)
    ]
    shown = sum(p["excess"] > 0 for p in points)
    caption = (
        f"{shown} of {len(points)} losses minus their offset L0(family, corpus), against width; "
        f"line: C/m^α with α = {law.alpha_:.3f}, C = {law.C_:.4g}, from {ctx.width_loss.origin}"
        " (points with L ≤ L0 cannot be shown on a log axis)."
    )
    return Drawn(fig, caption, {"points": points, "alpha": law.alpha_, "C": law.C_})
