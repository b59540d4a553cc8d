"""The report's figures, one function each, drawn only from the gathered results (matplotlib Agg,
no pyplot state).

Each function takes the :class:`Context` and returns a :class:`Drawn` (PNG bytes, a caption and
the values it plotted, which the tests compare with the records) or raises :class:`Missing`
with the reason when its data is absent: a figure is never drawn empty.

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> ctx = Context.build(Gathered(Path(".")))
    >>> try:
    ...     overlap_vs_width(ctx)
    ... except Missing as why:
    ...     print(why)
    no measurement records
    >>> [figure_id for figure_id, _, _ in FIGURES][:2]
    ['overlap_vs_width', 'row_norms_vs_width']
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import plotting
from .gather import Gathered, Item, measure_model, settings_key, step_of
from .laws import (
    PAPER_SETTING,
    Law,
    describe_setting,
    loss_points,
    overlap_law,
    width_loss_law,
    width_measurements,
)

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class Missing(Exception):
    """The data of a figure is absent; the message says what is missing."""


@dataclass
class Drawn:
    """A drawn figure: ``png`` bytes, a ``caption`` and the plotted values (``data``)."""

    png: bytes
    caption: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What the figures draw from: the gathered results, the width-figure measurements (one
    analysis setting), the loss points and both laws."""

    found: Gathered
    width_items: list[Item]
    setting: tuple | None
    overlap: Law
    losses: list[dict[str, Any]]
    width_loss: Law

    @classmethod
    def build(cls, found: Gathered) -> Context:
        """Select the points and read (or fit) the laws."""
        items, setting = width_measurements(found)
        points = loss_points(found)
        return cls(
            found, items, setting, overlap_law(found, items), points, width_loss_law(found, points)
        )


# ------------------------------------------------------------------------------ plumbing


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _interval(values: Any) -> str:
    if isinstance(values, list | tuple) and len(values) == 2 and None not in values:
        return f"[{values[0]:.4g}, {values[1]:.4g}]"
    return "n/a"


# ------------------------------------------------------------------------------ figures


def _group(record: dict[str, Any]) -> str:
    """A measurement's family group, as the overlap law fits it (unknown: its own)."""
    from ..fits.io import family_group

    return family_group(record["model"].get("family"), measure_model(record))


def overlap_vs_width(ctx: Context) -> Drawn:
    """Mean cos² against the head width per family, the overlap law and the random 1/m;
    a head narrower than the model (OPT-350m) is marked at both widths."""
    items = ctx.width_items
    if not items or ctx.setting is None:  # the setting is None only without items
        raise Missing("no measurement records")
    records = [i.data for i in items]
    families = sorted({_group(r) for r in records})
    colours = plotting.colours(families)
    fig, (ax,) = plotting.new_figure()
    plotting.log_axes(ax)
    points, two_widths = [], []
    law, fitted = ctx.overlap.data, ctx.overlap.fitted
    on_d_model = law is not None and law.get("width") == "d_model"
    for g in families:
        rec = [r for r in records if (_group(r)) == g]
        m = np.array([r["model"]["head_width"] for r in rec], dtype=float)
        y = np.array([r["stats"]["mean_cos2"] for r in rec])
        ax.scatter(m, y, color=colours[g], label=g, zorder=3)
        xs = list(m)
        for r, mi, yi in zip(rec, m, y, strict=True):
            d = r["model"].get("d_model")
            points.append(
                {"model": measure_model(r), "family": g, "m": mi, "mean_cos2": yi, "d_model": d}
            )
            if isinstance(d, int) and d != mi:
                two_widths.append(measure_model(r))
                ax.scatter([d], [yi], facecolors="none", edgecolors=colours[g], zorder=3)
                ax.plot([mi, d], [yi, yi], ":", color=colours[g], lw=1)
                ax.annotate(
                    f"{_short(measure_model(r))}: head {int(mi)}, d_model {d}",
                    (math.sqrt(mi * d), yi),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=7,
                )
                xs.append(d)
        if fitted is not None and g in fitted.intercepts_:
            if on_d_model:
                xs = [float(r["model"].get("d_model") or mi) for r, mi in zip(rec, m, strict=True)]
            grid = np.geomspace(min(xs) / 1.15, max(xs) * 1.15, 50)
            ax.plot(grid, fitted.predict(grid, g), "-", color=colours[g], lw=1.2)
    all_m = [p["m"] for p in points] + [p["d_model"] for p in points if p["d_model"]]
    grid = np.geomspace(min(all_m) / 1.2, max(all_m) * 1.2, 100)
    ax.plot(grid, 1.0 / grid, "k--", lw=1, label="random vectors: 1/m")
    if law is not None:
        title = (
            f"mean cos² ∝ m^-s: s = {law['slope']:.3f} ± {law['slope_se']:.3f} "
            f"(95% t {_interval(law.get('slope_ci_t'))})"
        )
    else:
        title = f"mean cos² vs width ({ctx.overlap.note})"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("width m (filled: head columns; open: d_model where it differs)")
    ax.set_ylabel("mean squared overlap  mean cos²")
    ax.legend(fontsize=8)
    caption = (
        f"{len(points)} models ({describe_setting(ctx.setting)}), coloured by family; lines: "
        + (f"the overlap law from {ctx.overlap.origin}" if law else ctx.overlap.note)
        + "; dashed: random unit vectors, 1/m."
    )
    if two_widths:
        caption += (
            f" {', '.join(two_widths)}: head narrower than the model, marked at its head width "
            "(filled) and its d_model (open)."
        )
    return Drawn(plotting.png_bytes(fig), caption, {"points": points, "two_widths": two_widths})


def row_norms_vs_width(ctx: Context) -> Drawn:
    """Row-norm mean ± std, min and max against the head width, per family."""
    items = [
        i for i in ctx.width_items if isinstance(i.data.get("row_norms", {}).get("mean"), float)
    ]
    if not items:
        raise Missing("no measurement records with row-norm statistics")
    records = [i.data for i in items]
    families = sorted({_group(r) for r in records})
    colours = plotting.colours(families)
    fig, (ax,) = plotting.new_figure()
    plotting.log_axes(ax, "x")
    points = []
    for g in families:
        rec = [r for r in records if (_group(r)) == g]
        m = np.array([r["model"]["head_width"] for r in rec], dtype=float)
        norms = [r["row_norms"] for r in rec]
        mean = np.array([n["mean"] for n in norms])
        std = np.array([n.get("std", 0.0) for n in norms])
        lo, hi = [n.get("min") for n in norms], [n.get("max") for n in norms]
        low_err = np.minimum(std, mean * 0.999)  # a log axis cannot show mean - std <= 0
        ax.errorbar(
            m,
            mean,
            yerr=[low_err, std],
            fmt="o",
            color=colours[g],
            capsize=3,
            label=f"{g}: mean ± std",
        )
        ax.scatter(m, lo, marker="v", color=colours[g], s=18)
        ax.scatter(m, hi, marker="^", color=colours[g], s=18)
        for r, mi, n in zip(rec, m, norms, strict=True):
            points.append({"model": measure_model(r), "family": g, "m": mi, **n})
    ax.scatter([], [], marker="v", color="grey", s=18, label="min")
    ax.scatter([], [], marker="^", color="grey", s=18, label="max")
    ax.set_title("row norms ‖w_i‖ of the head against width", fontsize=9)
    ax.set_xlabel("width m (head columns)")
    ax.set_ylabel("row norm")
    ax.legend(fontsize=7)
    zero = [p["model"] for p in points if p.get("min") is not None and p["min"] <= 0]
    caption = f"{len(points)} models: mean ± std of the row norms, min (▼) and max (▲). " + (
        "Every row has a positive norm." if not zero else f"Zero rows in: {', '.join(zero)}."
    )
    return Drawn(plotting.png_bytes(fig), caption, {"points": points})


def loss_vs_width(ctx: Context) -> Drawn:
    """Loss against d_model per (family, corpus) with the shared width-loss law and its
    offsets."""
    points = ctx.losses
    if not points:
        raise Missing("no loss records or losses.csv")
    families = sorted({p["family"] for p in points})
    corpora = sorted({p["corpus"] for p in points})
    colours = plotting.colours(families)
    law, fitted = ctx.width_loss.data, ctx.width_loss.fitted
    fig, (ax,) = plotting.new_figure()
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
            f"{_interval(ci)}, C = {law['C']:.4g}",
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
    return Drawn(plotting.png_bytes(fig), caption, {"points": points})


def rank_frequency(ctx: Context) -> Drawn:
    """Token rank-frequency curves from the counts files, with the paper's log-log exponent."""
    freqs = [i for i in ctx.found.freqs if i.extra.get("counts") is not None]
    if not freqs:
        raise Missing("no token counts (llmgeom freq)")
    fig, (ax,) = plotting.new_figure()
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
    return Drawn(plotting.png_bytes(fig), caption, {"curves": curves})


def _toy_runs(found: Gathered) -> list[tuple[Item, dict[str, Any]]]:
    return [(item, run) for item in found.toys for run in item.data["runs"]]


def toy_run_label(run: dict[str, Any]) -> str:
    """A toy run's label as ``llmgeom toy`` prints it (:func:`llmgeom.toy.report.run_label`).

    Example:
        >>> toy_run_label({"gamma": 0.5, "alpha": 2.0, "family": "power"})
        'γ=0.5 α=2 power'
    """
    from ..toy.report import run_label

    return run_label({"density": 1.0, "seed": 0, **run})


def toy_loss_vs_width(ctx: Context) -> Drawn:
    """Toy loss against width for the weak (γ > 0) and strong (γ < 0) regimes, with α_m."""
    runs = _toy_runs(ctx.found)
    regimes = [g for g in ("weak", "strong") if any(r["regime"] == g for _, r in runs)]
    if not regimes:
        raise Missing("no toy results with a weak or strong regime run")
    fig, axes = plotting.new_figure(len(regimes), width=5.2 * len(regimes))
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
    return Drawn(plotting.png_bytes(fig), caption, data)


def toy_phase_diagram(ctx: Context) -> Drawn:
    """The γ × α phase diagram of the fitted model exponent α_m (power-law frequencies)."""
    cells: dict[tuple[float, float], list[float]] = defaultdict(list)
    for _, run in _toy_runs(ctx.found):
        if run["family"] == "power" and "exponent" in run["fit"]:
            cells[(float(run["gamma"]), float(run["alpha"]))].append(float(run["fit"]["exponent"]))
    if len(cells) < 2:
        raise Missing("fewer than two toy runs (γ, α) with a fitted α_m")
    gammas = sorted({g for g, _ in cells})
    alphas = sorted({a for _, a in cells})
    grid = np.full((len(alphas), len(gammas)), np.nan)
    for (g, a), values in cells.items():
        grid[alphas.index(a), gammas.index(g)] = float(np.mean(values))

    def edges(values: list[float]) -> np.ndarray:
        v = np.array(values, dtype=float)
        if v.size == 1:
            return np.array([v[0] - 0.5, v[0] + 0.5])
        mid = (v[1:] + v[:-1]) / 2
        return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])

    fig, (ax,) = plotting.new_figure(width=6.4, height=5.0)
    ax.grid(False)
    mesh = ax.pcolormesh(edges(gammas), edges(alphas), np.ma.masked_invalid(grid), cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="model exponent α_m")
    if grid.size <= 80:
        for (g, a), values in cells.items():
            ax.text(
                g, a, f"{np.mean(values):.2f}", ha="center", va="center", fontsize=7, color="white"
            )
    ax.axvline(0.0, color="w", lw=0.8, ls=":")
    ax.set_xlabel("γ (weight decay dial: < 0 strong, > 0 weak superposition)")
    ax.set_ylabel("α (feature frequencies p_i ∝ i^-α)")
    ax.set_title("toy model: α_m over (γ, α)", fontsize=9)
    caption = (
        f"{len(cells)} (γ, α) cells, α_m the log-log slope of final loss against width (mean over "
        "seeds and files where a cell repeats); blank cells: not run."
    )
    data = {
        "cells": [
            {"gamma": g, "alpha": a, "alpha_m": float(np.mean(v)), "n": len(v)}
            for (g, a), v in sorted(cells.items())
        ]
    }
    return Drawn(plotting.png_bytes(fig), caption, data)


def overlap_vs_step(ctx: Context) -> Drawn:
    """Mean cos² against the training step (measurements of ``stepN`` revisions)."""
    series: dict[tuple, list[tuple[int, Item]]] = defaultdict(list)
    for item in ctx.found.measurements:
        step = step_of(item.data)
        if step is not None:
            base = measure_model(item.data).rsplit("@", 1)[0]
            series[(base, settings_key(item.data))].append((step, item))
    if not series:
        raise Missing("no measurements of training checkpoints (stepN revisions)")
    fig, (ax,) = plotting.new_figure()
    all_steps = [s for pts in series.values() for s, _ in pts]
    if min(all_steps) > 0:
        plotting.log_axes(ax)
    else:
        plotting.log_axes(ax, "y")
        ax.set_xscale("symlog")
    data = []
    for k, ((base, key), pts) in enumerate(sorted(series.items(), key=lambda kv: str(kv[0]))):
        pts.sort(key=lambda p: p[0])
        steps = [s for s, _ in pts]
        y = [i.data["stats"]["mean_cos2"] for _, i in pts]
        m = pts[0][1].data["model"]["head_width"]
        label = base if key == PAPER_SETTING else f"{base} ({describe_setting(key)})"
        ax.plot(steps, y, "o-", color=f"C{k % 10}", label=f"{label}, m = {m}")
        ax.axhline(1.0 / m, color=f"C{k % 10}", ls="--", lw=0.8)
        data.append({"model": base, "steps": steps, "mean_cos2": y, "m": m})
    ax.set_xlabel("training step")
    ax.set_ylabel("mean cos²")
    ax.set_title("overlap during training", fontsize=9)
    ax.legend(fontsize=7)
    caption = (
        f"{len(all_steps)} checkpoints of {len(series)} model(s); dashed: 1/m of each model's "
        "head width."
    )
    return Drawn(plotting.png_bytes(fig), caption, {"series": data})


def weighted_vs_plain(ctx: Context) -> Drawn:
    """Frequency-weighted against plain interference, per weighted measurement."""
    items = [i for i in ctx.found.measurements if isinstance(i.data.get("weighted"), dict)]
    if not items:
        raise Missing("no frequency-weighted measurements (measure --weights)")
    rows = []
    for item in items:
        rec, block = item.data, item.data["weighted"]
        freq = ctx.found.freq_for_counts(block.get("counts_sha256"))
        corpus = (
            str(freq.data["corpus"].get("name"))
            if freq
            else str(block.get("counts_path") or "counts").rsplit("/", 1)[-1]
        )
        rows.append(
            {
                "model": measure_model(rec),
                "counts": corpus,
                "m": rec["model"]["head_width"],
                "mean_cos2": rec["stats"]["mean_cos2"],
                "weighted_mean_cos2": block["weighted_mean_cos2"],
                "mean_abs_cos": rec["stats"].get("mean_abs_cos"),
                "weighted_mean_abs_cos": block.get("weighted_mean_abs_cos"),
            }
        )
    with_abs = [r for r in rows if r["mean_abs_cos"] is not None and r["weighted_mean_abs_cos"]]
    fig, axes = plotting.new_figure(2 if with_abs else 1, width=10.5 if with_abs else 6.4)
    x = np.arange(len(rows))
    labels = [f"{_short(r['model'])}\n({r['counts']})" for r in rows]
    ax = axes[0]
    ax.bar(x - 0.2, [r["mean_cos2"] for r in rows], 0.4, label="plain mean cos²")
    ax.bar(x + 0.2, [r["weighted_mean_cos2"] for r in rows], 0.4, label="frequency-weighted")
    ax.scatter(
        x, [1.0 / r["m"] for r in rows], marker="_", s=400, color="k", zorder=3, label="random 1/m"
    )
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("mean cos²")
    ax.set_title("interference: plain vs weighted by token frequency", fontsize=9)
    ax.legend(fontsize=7)
    if with_abs:
        xa = np.arange(len(with_abs))
        axes[1].bar(xa - 0.2, [r["mean_abs_cos"] for r in with_abs], 0.4, label="plain")
        axes[1].bar(
            xa + 0.2,
            [r["weighted_mean_abs_cos"] for r in with_abs],
            0.4,
            label="frequency-weighted",
        )
        axes[1].set_xticks(
            xa, [f"{_short(r['model'])}\n({r['counts']})" for r in with_abs], fontsize=7
        )
        axes[1].set_ylabel("mean |cos|")
        axes[1].legend(fontsize=7)
    caption = (
        f"{len(rows)} weighted measurement(s): mean cos² (and mean |cos| where measured) over "
        "all pairs of rows, plain and weighted by p_i p_j with p the token frequencies of the "
        "named corpus."
    )
    return Drawn(plotting.png_bytes(fig), caption, {"rows": rows})


#: (figure id, title, function), in page order.
FIGURES: tuple[tuple[str, str, Callable[[Context], Drawn]], ...] = (
    ("overlap_vs_width", "Mean squared overlap vs width", overlap_vs_width),
    ("row_norms_vs_width", "Row norms vs width", row_norms_vs_width),
    ("loss_vs_width", "Loss vs width", loss_vs_width),
    ("rank_frequency", "Token rank-frequency", rank_frequency),
    ("toy_loss_vs_width", "Toy model: loss vs width, weak and strong regimes", toy_loss_vs_width),
    ("toy_phase_diagram", "Toy model: phase diagram of α_m", toy_phase_diagram),
    ("overlap_vs_step", "Overlap vs training step", overlap_vs_step),
    ("weighted_vs_plain", "Frequency-weighted vs plain interference", weighted_vs_plain),
)
