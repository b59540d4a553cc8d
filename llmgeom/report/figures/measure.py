"""The figures of measurements: mean cos² and row norms against width, overlap against the
training step, frequency-weighted against plain interference.

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> ctx = Context.build(Gathered(Path(".")))
    >>> try:
    ...     overlap_vs_width(ctx)
    ... except Missing as why:
    ...     print(why)
    no measurement records
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from ... import plotting
from ..gather import Item, measure_model, settings_key, step_of
from ..laws import PAPER_SETTING, describe_setting
from .base import Context, Drawn, Missing, family_of, interval, short


def overlap_vs_width(ctx: Context, ax: Any = None) -> Drawn:
    """Mean cos² against the head width per family, the overlap law and the random 1/m;
    a head narrower than the model (OPT-350m) is marked at both widths."""
    items = ctx.width_items
    if not items or ctx.setting is None:  # the setting is None only without items
        raise Missing("no measurement records")
    records = [i.data for i in items]
    families = sorted({family_of(r) for r in records})
    colours = plotting.colours(families)
    fig, (ax,) = plotting.figure_axes(ax)
    plotting.log_axes(ax)
    points, two_widths = [], []
    law, fitted = ctx.overlap.data, ctx.overlap.fitted
    on_d_model = law is not None and law.get("width") == "d_model"
    for g in families:
        rec = [r for r in records if family_of(r) == g]
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
                    f"{short(measure_model(r))}: head {int(mi)}, d_model {d}",
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
            f"(95% t {interval(law.get('slope_ci_t'))})"
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
    return Drawn(fig, caption, {"points": points, "two_widths": two_widths})


def row_norms_vs_width(ctx: Context, ax: Any = None) -> Drawn:
    """Row-norm mean ± std, min and max against the head width, per family."""
    items = [
        i for i in ctx.width_items if isinstance(i.data.get("row_norms", {}).get("mean"), float)
    ]
    if not items:
        raise Missing("no measurement records with row-norm statistics")
    records = [i.data for i in items]
    families = sorted({family_of(r) for r in records})
    colours = plotting.colours(families)
    fig, (ax,) = plotting.figure_axes(ax)
    plotting.log_axes(ax, "x")
    points = []
    for g in families:
        rec = [r for r in records if family_of(r) == g]
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
    return Drawn(fig, caption, {"points": points})


def overlap_vs_step(ctx: Context, ax: Any = None) -> Drawn:
    """Mean cos² against the training step (measurements of ``stepN`` revisions)."""
    series: dict[tuple, list[tuple[int, Item]]] = defaultdict(list)
    for item in ctx.found.measurements:
        step = step_of(item.data)
        if step is not None:
            base = measure_model(item.data).rsplit("@", 1)[0]
            series[(base, settings_key(item.data))].append((step, item))
    if not series:
        raise Missing("no measurements of training checkpoints (stepN revisions)")
    fig, (ax,) = plotting.figure_axes(ax)
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
    return Drawn(fig, caption, {"series": data})


def weighted_vs_plain(ctx: Context, ax: Any = None) -> Drawn:
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
    fig, axes = plotting.figure_axes(ax, 2 if with_abs else 1, width=10.5 if with_abs else 6.4)
    x = np.arange(len(rows))
    labels = [f"{short(r['model'])}\n({r['counts']})" for r in rows]
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
            xa, [f"{short(r['model'])}\n({r['counts']})" for r in with_abs], fontsize=7
        )
        axes[1].set_ylabel("mean |cos|")
        axes[1].legend(fontsize=7)
    caption = (
        f"{len(rows)} weighted measurement(s): mean cos² (and mean |cos| where measured) over "
        "all pairs of rows, plain and weighted by p_i p_j with p the token frequencies of the "
        "named corpus."
    )
    return Drawn(fig, caption, {"rows": rows})
