"""The figures of the toy model's learned geometry: the represented fraction φ against γ
(Fig 3), loss against the loss of the unlearned features (Fig 5a), the row-norm histograms of
the strong regime (Fig 6a–c) and the overlap of the strongly represented rows against width
(Fig 6d, with the paper's values).

Row norms are drawn from a width's ``row_norms`` (every row norm of the trained W) when the
result has them, else from its ``norm_hist_counts`` over the result's ``norm_hist_edges``.

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> try:
    ...     toy_row_norms(Context.build(Gathered(Path("."))))
    ... except Missing as why:
    ...     print(why)
    no strong-regime toy runs with row norms (row_norms or norm_hist_counts)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ... import plotting
from ..gather import Item
from .base import Context, Drawn, Missing
from .toy import toy_run_label, toy_runs

DEFAULT_NORM_BINS = 40


def toy_phi_vs_gamma(ctx: Context, ax: Any = None) -> Drawn:
    """φ against γ, one line per width, for the (family, α, E) group run at the most γ values;
    dotted: m/n (Fig 3)."""
    groups: dict[tuple, list[tuple[Item, dict[str, Any]]]] = defaultdict(list)
    for item, run in toy_runs(ctx.found):
        if any(row.get("phi") is not None for row in run["per_m"]):
            key = (run["family"], float(run["alpha"]), float(run.get("density", 1.0)))
            groups[key].append((item, run))
    spread = {k: v for k, v in groups.items() if len({r["gamma"] for _, r in v}) >= 2}
    if not spread:
        raise Missing("no toy runs with φ at two or more γ (same family, α and E)")
    key = max(spread, key=lambda k: (len({r["gamma"] for _, r in spread[k]}), str(k)))
    by_m: dict[int, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    sizes = set()
    for item, run in spread[key]:
        sizes.add(item.data["config"].get("n"))
        for row in run["per_m"]:
            if row.get("phi") is not None:
                by_m[int(row["m"])][float(run["gamma"])].append(float(row["phi"]))
    fig, (ax,) = plotting.figure_axes(ax)
    lines = []
    for k, m in enumerate(sorted(by_m)):
        gammas = sorted(by_m[m])
        phi = [float(np.mean(by_m[m][g])) for g in gammas]
        ax.plot(gammas, phi, "o-", color=f"C{k % 10}", ms=4, label=f"m = {m}")
        (n,) = sizes if len(sizes) == 1 else (None,)
        if isinstance(n, int) and n > 0:
            ax.axhline(m / n, color=f"C{k % 10}", ls=":", lw=0.8)
        lines.append({"m": m, "gamma": gammas, "phi": phi})
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("γ (< 0 strong, > 0 weak superposition)")
    ax.set_ylabel("φ = fraction of features with ‖W_i‖ > 1/2")
    ax.set_title(f"toy model ({key[0]} α = {key[1]:g}, E = {key[2]:g}): φ against γ", fontsize=9)
    ax.legend(fontsize=7)
    caption = (
        f"{len(spread[key])} run(s) at {len({r['gamma'] for _, r in spread[key]})} values of γ; "
        "φ ≈ m/n (dotted) in weak superposition, ≈ 1 in strong (mean over seeds)."
    )
    return Drawn(fig, caption, {"group": list(key), "lines": lines})


def toy_loss_vs_unlearned(ctx: Context, ax: Any = None) -> Drawn:
    """Final loss against the loss of the features the model did not learn (the frequency mass
    of the rows with ‖W_i‖ ≤ 1/2), every run and width, with y = x (Fig 5a)."""
    points = [
        {
            "regime": run["regime"],
            "label": toy_run_label(run),
            "m": row["m"],
            "unlearned": float(row["unlearned_prediction"]),
            "loss": float(row["loss"]),
        }
        for _, run in toy_runs(ctx.found)
        for row in run["per_m"]
        if isinstance(row.get("unlearned_prediction"), int | float)
        and row["unlearned_prediction"] > 0
        and row["loss"] > 0
    ]
    if not points:
        raise Missing("no toy widths with a positive loss of unlearned features")
    fig, (ax,) = plotting.figure_axes(ax)
    plotting.log_axes(ax)
    for regime, colour in (("weak", "C0"), ("strong", "C3"), ("none", "C7")):
        sel = [p for p in points if p["regime"] == regime]
        if sel:
            ax.scatter(
                [p["unlearned"] for p in sel],
                [p["loss"] for p in sel],
                color=colour,
                s=18,
                label=regime,
                zorder=3,
            )
    values = [p["unlearned"] for p in points] + [p["loss"] for p in points]
    grid = np.geomspace(min(values) / 1.2, max(values) * 1.2, 20)
    ax.plot(grid, grid, "k--", lw=1, label="loss = unlearned loss")
    ax.set_xlabel("loss of the unlearned features (‖W_i‖ ≤ 1/2)")
    ax.set_ylabel("final loss")
    ax.set_title("toy model: loss against the loss of unlearned features", fontsize=9)
    ax.legend(fontsize=7)
    caption = (
        f"{len(points)} (run, width) points; in weak superposition the loss is the mass of the "
        "dropped features (on the line), in strong superposition interference adds to it."
    )
    return Drawn(fig, caption, {"points": points})


def norm_histogram(row: dict[str, Any], edges: Any) -> tuple[np.ndarray, np.ndarray, str] | None:
    """``(counts, edges, source)`` of one width's row norms: from ``row_norms`` (binned on
    ``edges`` when given, else 40 bins from 0 to the largest norm), else the stored
    ``norm_hist_counts`` over ``edges`` (one count per bin); None without either.

    Example:
        >>> counts, edges, source = norm_histogram({"row_norms": [0.2, 0.9, 1.1]}, [0, 0.5, 1, 1.5])
        >>> counts.tolist(), source
        ([1, 1, 1], 'row_norms')
    """
    if row.get("row_norms"):
        norms = np.asarray(row["row_norms"], dtype=float)
        if edges:
            bins = np.asarray(edges, dtype=float)
        else:
            bins = np.linspace(0.0, max(float(norms.max()), 1e-12), DEFAULT_NORM_BINS + 1)
        binned, bins = np.histogram(norms, bins=bins)
        return binned, bins, "row_norms"
    stored = row.get("norm_hist_counts")
    if stored and edges and len(stored) == len(edges) - 1:
        return np.asarray(stored), np.asarray(edges, dtype=float), "histogram"
    return None


def toy_row_norms(ctx: Context, ax: Any = None) -> Drawn:
    """Histograms of the row norms ‖W_i‖ of a strong-regime run, one per width (Fig 6a–c);
    the run with ``row_norms`` first, else the first with stored histograms."""
    candidates = [
        (item, run)
        for item, run in toy_runs(ctx.found)
        if run["regime"] == "strong"
        and any(norm_histogram(row, item.data.get("norm_hist_edges")) for row in run["per_m"])
    ]
    if not candidates:
        raise Missing("no strong-regime toy runs with row norms (row_norms or norm_hist_counts)")
    item, run = max(candidates, key=lambda c: any(r.get("row_norms") for r in c[1]["per_m"]))
    fig, (ax,) = plotting.figure_axes(ax)
    widths = []
    for k, row in enumerate(run["per_m"]):
        drawn = norm_histogram(row, item.data.get("norm_hist_edges"))
        if drawn is None:
            continue
        counts, edges, source = drawn
        total = max(float(counts.sum()), 1.0)
        ax.stairs(counts / total, edges, color=f"C{k % 10}", label=f"m = {row['m']}")
        widths.append(
            {"m": row["m"], "counts": counts.tolist(), "edges": edges.tolist(), "source": source}
        )
    for x in (0.5, 1.0):
        ax.axvline(x, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("row norm ‖W_i‖ (dotted: 1/2, 1)")
    ax.set_ylabel("fraction of rows")
    ax.set_title(f"toy model, strong regime: row norms ({toy_run_label(run)})", fontsize=9)
    ax.legend(fontsize=7)
    sources = sorted({w["source"] for w in widths})
    caption = (
        f"{item.rel}: row-norm histograms of {len(widths)} width(s), from "
        + " and ".join(
            "every row norm" if s == "row_norms" else "the stored histogram" for s in sources
        )
        + "; rows above 1 are strongly represented, rows in (1/2, 1] share one direction."
    )
    return Drawn(fig, caption, {"record": item.rel, "widths": widths})


def toy_overlap_vs_width(ctx: Context, ax: Any = None) -> Drawn:
    """Mean cos² of the strongly represented rows (‖W_i‖ > 1) against width for every
    strong-regime run, against 1/m and the paper's Fig 6d values (Fig 6d)."""
    from ..paper_table import published_values

    runs = [
        (item, run)
        for item, run in toy_runs(ctx.found)
        if run["regime"] == "strong"
        and any(row.get("mean_cos2_strong") is not None for row in run["per_m"])
    ]
    if not runs:
        raise Missing("no strong-regime toy runs with the overlap of strong rows")
    fig, (ax,) = plotting.figure_axes(ax)
    plotting.log_axes(ax)
    series, all_m = [], []
    for k, (item, run) in enumerate(runs):
        rows = [row for row in run["per_m"] if row.get("mean_cos2_strong") is not None]
        m = [row["m"] for row in rows]
        y = [row["mean_cos2_strong"] for row in rows]
        ax.plot(
            m,
            y,
            "o-",
            color=f"C{k % 10}",
            ms=4,
            label=f"{item.data.get('name', '')}: {toy_run_label(run)}",
        )
        series.append(
            {
                "record": item.rel,
                "gamma": run["gamma"],
                "alpha": run["alpha"],
                "m": m,
                "mean_cos2_strong": y,
            }
        )
        all_m += m
    paper = published_values()["toy_overlap_strong"]
    ax.scatter(
        paper["m"],
        paper["mean_cos2_strong"],
        marker="x",
        color="k",
        zorder=3,
        label="paper, Fig 6d (read off the figure)",
    )
    grid = np.geomspace(min(all_m + paper["m"]) / 1.2, max(all_m + paper["m"]) * 1.2, 50)
    ax.plot(grid, 1.0 / grid, "k--", lw=1, label="1/m")
    ax.set_xlabel("width m")
    ax.set_ylabel("mean cos² of rows with ‖W_i‖ > 1")
    ax.set_title("toy model, strong regime: overlap of strongly represented rows", fontsize=9)
    ax.legend(fontsize=6)
    caption = (
        f"{len(runs)} strong-regime run(s); crosses: the paper's Fig 6d (n = {paper['n']}); "
        "dashed: 1/m, the overlap of random unit vectors."
    )
    return Drawn(fig, caption, {"series": series})
