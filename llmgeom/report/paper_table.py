"""The paper side by side: each published number (``llmgeom/paper/published.json``, read here
through :mod:`importlib.resources`) against the value reproduced from the results folder.

Rows (``record = "paper"`` in ``summary.csv``): the width-loss α, C and the 16 offsets L0 (from
the width-loss law the report draws), the Chinchilla k and α_m (a ``fit chinchilla`` result),
the overlap-law slope (the overlap law the report draws), and from toy results: the Fig 6d
overlaps of the strongly represented rows (strong runs with n = 1000, at each width), the strong
regime α_m per frequency family and the weak regime α_m at α = 2 of Fig 5b (runs with n = 1000).
A value that several toy runs give is their mean, with the 95 % t-interval over those runs (one
run: its own 95 % interval). Nothing found: "not reproduced".

Intervals are 95 %: the paper's ± (one standard error) times 1.96; a value read off a figure
± 15 %; a value stored without error (C, the offsets, the notebook's numbers) has none.
Agreement (:data:`AGREEMENT_RULE`): |ours − paper| ≤ √(h_paper² + h_ours²), h the half-widths of
the two 95 % intervals (the 95 % interval of the difference of two independent estimates); with
no interval on either side it is not judged.

Example:
    >>> agreement(0.91, (0.84, 0.98), 0.95, (0.93, 0.97))
    'yes'
    >>> agreement(0.91, (0.84, 0.98), 1.10, (1.05, 1.15))
    'no'
    >>> agreement(2.2074, None, 2.21, None), agreement(2.2074, None, None, None)
    ('not judged (no interval)', 'not reproduced')
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import numpy as np

from ..fits.migration import CHINCHILLA
from .figures.base import Context
from .figures.toy import toy_run_label, toy_runs
from .gather import Item
from .html import esc, table

AGREEMENT_RULE = (
    "agree: |ours − paper| ≤ √(h_paper² + h_ours²), h the half-widths of the two 95 % intervals "
    "(paper: its ± read as one standard error × 1.96, a value read off a figure ± 15 %); "
    "not judged where neither side has an interval"
)
Z95 = 1.959963984540054
NOT_REPRODUCED = "not reproduced"
GAMMA_TOLERANCE = 0.01  # a toy run's γ matches the paper's γ ≈ 1/9, 3/9 within this


def published_values() -> dict[str, Any]:
    """The paper's published values, by topic (the file :mod:`llmgeom.paper.published` reads).

    Example:
        >>> published_values()["width_loss"]["alpha"]
        0.9098
    """
    path = resources.files("llmgeom").joinpath("paper", "published.json")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _half(ci: Any) -> float:
    if ci is None or None in ci:
        return 0.0
    return (float(ci[1]) - float(ci[0])) / 2


def agreement(paper: float, paper_ci: Any, ours: float | None, our_ci: Any) -> str:
    """``yes``, ``no``, ``not judged (no interval)`` or ``not reproduced`` by
    :data:`AGREEMENT_RULE`."""
    if ours is None:
        return NOT_REPRODUCED
    h_paper, h_ours = _half(paper_ci), _half(our_ci)
    if h_paper == 0 and h_ours == 0:
        return "not judged (no interval)"
    return "yes" if abs(ours - paper) <= math.hypot(h_paper, h_ours) else "no"


def _row(
    quantity: str,
    paper: float,
    paper_ci: Any,
    paper_how: str,
    where: str,
    ours: Any = None,
    our_ci: Any = None,
    our_how: str = "",
    origin: str = "",
) -> dict[str, Any]:
    value = None if ours is None else float(ours)
    low, high = (None, None) if our_ci is None or value is None else our_ci
    return {
        "record": "paper",
        "quantity": quantity,
        "published": paper,
        "published_ci_low": None if paper_ci is None else paper_ci[0],
        "published_ci_high": None if paper_ci is None else paper_ci[1],
        "published_interval": paper_how or None,
        "paper_source": where,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "interval": (our_how or None) if value is not None else NOT_REPRODUCED,
        "agrees": agreement(paper, paper_ci, value, None if low is None else (low, high)),
        "file": origin or None,
    }


def _se_interval(value: float, se: float) -> tuple[float, float]:
    return (value - Z95 * se, value + Z95 * se)


def _fig_interval(value: float, relative: float) -> tuple[float, float]:
    return (value * (1 - relative), value * (1 + relative))


def _pair(values: Any) -> tuple[float, float] | None:
    if isinstance(values, list | tuple) and len(values) == 2 and None not in values:
        return float(values[0]), float(values[1])
    return None


def _width_loss_rows(ctx: Context, pub: dict[str, Any]) -> list[dict[str, Any]]:
    law, origin = ctx.width_loss.data or {}, ctx.width_loss.origin
    where, se = pub["where"], "95%: ± 1.96 × the paper's SE"
    ci, how = _pair(law.get("alpha_ci_authors")), "95% authors' SE"
    if ci is None:
        ci, how = _pair(law.get("alpha_ci_bootstrap")), "95% bootstrap"
    rows = [
        _row(
            "width-loss α",
            pub["alpha"],
            _se_interval(pub["alpha"], pub["alpha_standard_error"]),
            se,
            where,
            law.get("alpha"),
            ci,
            how,
            origin,
        ),
        _row(
            "width-loss C",
            pub["C"],
            None,
            "",
            where,
            law.get("C"),
            _pair(law.get("C_ci_bootstrap")),
            "95% bootstrap",
            origin,
        ),
    ]
    offsets = law.get("offsets_L0") or {}
    for family, by_corpus in pub["offsets_L0"].items():
        for corpus, value in by_corpus.items():
            ours = (offsets.get(family) or {}).get(corpus)
            rows.append(
                _row(f"L0[{family},{corpus}]", value, None, "", where, ours, None, "", origin)
            )
    return rows


def _chinchilla_rows(ctx: Context, pub: dict[str, Any]) -> list[dict[str, Any]]:
    fits = [i for i in ctx.found.fits if i.data.get("schema") == CHINCHILLA]
    best = max(fits, key=lambda i: (i.data.get("n_models") or 0, i.rel), default=None)
    fit, origin = (best.data, best.rel) if best else ({}, "")
    where, se = pub["where"], "95%: ± 1.96 × the paper's SE"
    err = fit.get("alpha_m_err")
    alpha_m_ci = None if err is None else _se_interval(fit["alpha_m"], err)
    return [
        _row(
            "Chinchilla k",
            pub["k_params_vs_dmodel"],
            _se_interval(pub["k_params_vs_dmodel"], pub["k_standard_error"]),
            se,
            where,
            fit.get("k"),
            _pair(fit.get("k_ci95_t")),
            "95% t",
            origin,
        ),
        _row(
            "Chinchilla α_m = k·α_N",
            pub["alpha_m"],
            _se_interval(pub["alpha_m"], pub["alpha_m_error"]),
            "95%: ± 1.96 × the paper's error",
            where,
            fit.get("alpha_m"),
            alpha_m_ci,
            f"95%: ± 1.96 × the {fit.get('propagation', '')} propagated error",
            origin,
        ),
    ]


def _overlap_row(ctx: Context, pub: dict[str, Any], relative: float) -> dict[str, Any]:
    law = ctx.overlap.data or {}
    return _row(
        "overlap-law slope s (mean cos² ∝ m^-s)",
        pub["slope"],
        _fig_interval(pub["slope"], relative),
        "95%: figure ± 15 %",
        pub["where"],
        law.get("slope"),
        _pair(law.get("slope_ci_t")),
        "95% t",
        ctx.overlap.origin,
    )


def _combine(values: list[tuple[float, Any]]) -> tuple[float | None, Any, str]:
    """(value, 95 % interval, how) of the values of several toy runs (each with its own
    interval or None): one run as it is, several by their mean and t-interval."""
    if not values:
        return None, None, ""
    if len(values) == 1:
        value, ci = values[0]
        return value, _pair(ci), "95% of the run's fit" if _pair(ci) else "one run, no interval"
    from scipy import stats

    x = np.array([v for v, _ in values], dtype=float)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    mean = float(x.mean())
    return mean, (mean - half, mean + half), f"95% t over {x.size} runs"


def _origin(matches: list[tuple[Item, dict[str, Any]]]) -> str:
    return "; ".join(f"{item.rel}: {toy_run_label(run)}" for item, run in matches)


def _toy_rows(ctx: Context, pub: dict[str, Any]) -> list[dict[str, Any]]:
    relative = pub["fig_relative_error"]
    runs = toy_runs(ctx.found)
    rows = []
    over = pub["toy_overlap_strong"]
    for m, value in zip(over["m"], over["mean_cos2_strong"], strict=True):
        matches, found = [], []
        for item, run in runs:
            if run["regime"] != "strong" or item.data["config"].get("n") != over["n"]:
                continue
            for width in run["per_m"]:
                if width["m"] == m and width.get("mean_cos2_strong") is not None:
                    matches.append((item, run))
                    found.append((float(width["mean_cos2_strong"]), None))
        ours, ci, how = _combine(found)
        rows.append(
            _row(
                f"toy overlap of strong rows, m = {m} (Fig 6d)",
                value,
                _fig_interval(value, relative),
                "95%: figure ± 15 %",
                over["where"],
                ours,
                ci,
                how,
                _origin(matches),
            )
        )
    strong = pub["toy_alpha_m_strong"]
    for family, entry in strong["families"].items():
        matches = [
            (item, run)
            for item, run in runs
            if run["regime"] == "strong"
            and run["family"] == family
            and run["fit"].get("exponent") is not None
        ]
        ours, ci, how = _combine(
            [(run["fit"]["exponent"], run["fit"].get("exponent_ci95")) for _, run in matches]
        )
        rows.append(
            _row(
                f"toy strong α_m ({family})",
                entry["alpha_m"],
                _se_interval(entry["alpha_m"], entry["plus_minus"]),
                "95%: ± 1.96 × the paper's ±",
                strong["where"],
                ours,
                ci,
                how,
                _origin(matches),
            )
        )
    weak = pub["toy_alpha_m_weak"]
    for entry in weak["runs"]:
        matches = [
            (item, run)
            for item, run in runs
            if run["regime"] == "weak"
            and item.data["config"].get("n") == weak["n"]
            and run["family"] == "power"
            and abs(float(run["alpha"]) - entry["alpha"]) < 1e-9
            and abs(float(run["gamma"]) - entry["gamma"]) < GAMMA_TOLERANCE
            and run["fit"].get("exponent") is not None
        ]
        ours, ci, how = _combine(
            [(run["fit"]["exponent"], run["fit"].get("exponent_ci95")) for _, run in matches]
        )
        label = f"toy weak α_m, α = {entry['alpha']:g}, γ = {entry['gamma']:.3g} (Fig 5b)"
        rows.append(
            _row(
                label,
                entry["alpha_m"],
                _fig_interval(entry["alpha_m"], relative),
                "95%: figure ± 15 %",
                weak["where"],
                ours,
                ci,
                how,
                _origin(matches),
            )
        )
    return rows


def paper_rows(ctx: Context) -> list[dict[str, Any]]:
    """One row per published number: the paper's value and interval, ours, and whether they
    agree (:func:`agreement`).

    Example:
        >>> from pathlib import Path
        >>> from llmgeom.report.gather import Gathered
        >>> rows = paper_rows(Context.build(Gathered(Path("."))))
        >>> rows[0]["quantity"], rows[0]["published"], rows[0]["agrees"]
        ('width-loss α', 0.9098, 'not reproduced')
    """
    pub = published_values()
    rows = _width_loss_rows(ctx, pub["width_loss"])
    rows += _chinchilla_rows(ctx, pub["chinchilla"])
    rows.append(_overlap_row(ctx, pub["overlap_law"], pub["fig_relative_error"]))
    return rows + _toy_rows(ctx, pub)


def paper_section(rows: list[dict[str, Any]]) -> str:
    """The HTML of the side-by-side table (the ``paper`` section of ``index.html``)."""

    def interval(low: Any, high: Any) -> str:
        return "" if low is None else f"[{low:.4g}, {high:.4g}]"

    body = [
        [
            r["quantity"],
            r["published"],
            interval(r["published_ci_low"], r["published_ci_high"]),
            NOT_REPRODUCED if r["value"] is None else r["value"],
            interval(r["ci_low"], r["ci_high"]),
            r["agrees"],
            r["paper_source"],
            r["file"],
        ]
        for r in rows
    ]
    reproduced = sum(r["value"] is not None for r in rows)
    agree = sum(r["agrees"] == "yes" for r in rows)
    disagree = sum(r["agrees"] == "no" for r in rows)
    return (
        f'<p id="paper-summary">{len(rows)} published numbers: {reproduced} reproduced, '
        f"{agree} agree, {disagree} disagree. Rule: {esc(AGREEMENT_RULE)}.</p>"
        + table(
            [
                "quantity",
                "paper",
                "paper 95%",
                "ours",
                "ours 95%",
                "agree",
                "where (paper)",
                "ours from",
            ],
            body,
        )
    )
