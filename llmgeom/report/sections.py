"""The sections of the report's page below its figures, as HTML: the fitted numbers, the
results table, the token tables with links to their pages, the sweep status and the files
skipped or found corrupt (:func:`~llmgeom.report.build.build_report` puts them on the page).

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> files_section(Gathered(Path(".")))
    '<p>Every file under the folder was used.</p>'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .figures import Context, toy_run_label, toy_runs
from .gather import Gathered
from .html import esc, number, table
from .summary import fit_rows


def fits_section(found: Gathered, ctx: Context) -> str:
    parts = []
    laws = [(ctx.overlap, "overlap law (drawn)"), (ctx.width_loss, "width-loss law (drawn)")]
    shown: set[str] = set()
    for law, what in laws:
        if law.data is None:
            parts.append(f"<p>{esc(what.replace(' (drawn)', ''))}: {esc(law.note)}</p>")
            continue
        shown.add(law.origin)
        parts.append(f"<h3>{esc(what)}: {esc(law.origin)}</h3>" + _fit_table(law.data, law.origin))
    for item in found.fits:
        if item.rel not in shown:
            parts.append(
                f"<h3>{esc(item.data.get('schema'))}: {esc(item.rel)}</h3>"
                + _fit_table(item.data, item.rel)
            )
    toy = toy_runs(found)
    if toy:
        rows = []
        for item, run in toy:
            fit = run["fit"]
            ci = fit.get("exponent_ci95") or [None, None]
            rows.append(
                [
                    item.rel,
                    toy_run_label(run),
                    run["regime"],
                    fit.get("exponent"),
                    fit.get("exponent_se"),
                    ci[0],
                    ci[1],
                    fit.get("r2"),
                    " ".join(str(m) for m in fit.get("m_used") or []),
                    fit.get("error", ""),
                ]
            )
        parts.append(
            "<h3>toy model exponents α_m (log-log fit of final loss vs width)</h3>"
            + table(
                [
                    "file",
                    "run",
                    "regime",
                    "α_m",
                    "SE",
                    "95% low",
                    "95% high",
                    "R²",
                    "widths used",
                    "not fitted",
                ],
                rows,
            )
        )
    if found.freqs:
        rows = []
        for item in found.freqs:
            fits = item.data["rank_frequency"]
            loglog, mle = fits.get("loglog") or {}, fits.get("mle") or {}
            ci = mle.get("ci95") or [None, None]
            rows.append(
                [
                    item.data["tokenizer"].get("name"),
                    item.data["corpus"].get("name"),
                    item.data["stats"]["tokens_counted"],
                    loglog.get("alpha"),
                    mle.get("s"),
                    ci[0],
                    ci[1],
                ]
            )
        parts.append(
            "<h3>token rank-frequency exponents</h3>"
            + table(
                [
                    "tokenizer",
                    "corpus",
                    "tokens",
                    "α (log-log, paper)",
                    "s (MLE)",
                    "95% low",
                    "95% high",
                ],
                rows,
            )
        )
    return "".join(parts) or "<p>No fits.</p>"


def _fit_table(data: dict[str, Any], origin: str) -> str:
    rows = [
        [r["quantity"], r["value"], r["se"], r["ci_low"], r["ci_high"], r["interval"]]
        for r in fit_rows(data, origin)
    ]
    return table(["quantity", "value", "SE", "low", "high", "interval"], rows)


def _pick(rows: list[dict[str, Any]], record: str, columns: list[str]) -> list[list[Any]]:
    return [[r.get(c) for c in columns] for r in rows if r["record"] == record]


def results_section(rows: list[dict[str, Any]]) -> str:
    parts = ['<p>Every value at full precision: <a href="summary.csv">summary.csv</a>.</p>']
    specs = (
        (
            "measure",
            "measurements",
            [
                "model",
                "revision",
                "family",
                "variant",
                "weights",
                "corpus",
                "m",
                "d_model",
                "n_rows_used",
                "mean_cos2",
                "m_times_mean_cos2",
                "mean_abs_cos",
                "abs_cos_method",
                "participation_ratio",
                "entropy_effective_rank",
                "stable_rank_raw",
                "n_above_marchenko_pastur_edge",
                "packing_efficiency",
                "interference_top_1",
                "row_norm_mean",
                "row_norm_min",
                "weighted_mean_cos2",
                "effective_tokens",
            ],
        ),
        (
            "loss",
            "losses",
            [
                "model",
                "revision",
                "family",
                "corpus",
                "m",
                "d_model",
                "loss",
                "loss_authors_weighting",
                "bits_per_byte",
                "predicted_tokens",
                "dtype",
            ],
        ),
        (
            "loss_table",
            "losses.csv rows without a loss record",
            ["model", "family", "corpus", "d_model", "loss", "file"],
        ),
        (
            "freq",
            "token counts",
            [
                "model",
                "corpus",
                "tokens_counted",
                "distinct_tokens",
                "zipf_alpha_loglog",
                "zipf_s_mle",
            ],
        ),
        (
            "toy",
            "toy model",
            [
                "model",
                "variant",
                "regime",
                "m",
                "loss",
                "loss_se",
                "phi",
                "mean_cos2_strong",
                "alpha_m",
            ],
        ),
    )
    for record, title, columns in specs:
        picked = _pick(rows, record, columns)
        if picked:
            parts.append(f"<h3>{esc(title)} ({len(picked)})</h3>" + table(columns, picked))
    return "".join(parts)


def relative_link(target: Path, page_dir: Path) -> str:
    """The URL of ``target`` relative to a page in ``page_dir`` (percent-encoded, ``/``).

    Example:
        >>> relative_link(Path("res/tokens/a b.tokens.html"), Path("res/report"))
        '../tokens/a%20b.tokens.html'
    """
    rel = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    return quote(Path(rel).as_posix())


TOKEN_COLUMNS = ("model", "tokens", "m", "mean interference", "entropy effective rank",
                 "eigenvalues above the MP edge", "files")  # fmt: skip


def tokens_section(found: Gathered, page_dir: Path) -> str:
    """One row per token table found (``llmgeom tokens``): the model, its shape, mean
    interference and spectrum, and links to its page and summary, relative to ``page_dir``."""
    rows = []
    for item in found.tokens:
        record = item.data
        page = item.extra.get("page")
        spectrum = record.get("spectrum") or {}
        name = (record.get("model") or {}).get("name") or item.path.name.split(".tokens.")[0]
        links = []
        if page is not None:
            links.append(f'<a href="{esc(relative_link(page, page_dir))}">page</a>')
        if record:
            links.append(f'<a href="{esc(relative_link(item.path, page_dir))}">summary</a>')
        cells = [
            name,
            record.get("n_rows"),
            record.get("m"),
            (record.get("interference") or {}).get("mean"),
            spectrum.get("entropy_effective_rank"),
            spectrum.get("n_above_marchenko_pastur_edge"),
        ]
        html_cells = "".join(
            f'<td class="num">{esc(number(v))}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{esc(v)}</td>"
            for v in cells
        )
        rows.append(f"<tr>{html_cells}<td>{' · '.join(links)}</td></tr>")
    head = "".join(f"<th>{esc(h)}</th>" for h in TOKEN_COLUMNS)
    return (
        "<p>Every token of each head (<code>llmgeom tokens</code>): its page has the table "
        "to search and sort, the figures and the spectrum.</p>"
        f'<div class="wrap"><table id="token-tables"><tr>{head}</tr>{"".join(rows)}</table></div>'
    )


def sweep_section(found: Gathered) -> str:
    parts = []
    for item in found.sweeps:
        units = item.data["units"]
        states: dict[str, int] = {}
        for unit in units:
            states[str(unit.get("state"))] = states.get(str(unit.get("state")), 0) + 1
        counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        rows = [
            [u.get("id"), u.get("kind"), u.get("state"), u.get("seconds"), u.get("error")]
            for u in units
        ]
        parts.append(
            f"<h3>{esc(item.rel)}</h3><p>{len(units)} units: {esc(counts)}; updated "
            f"{esc(item.data.get('updated'))}</p>"
            + table(["unit", "kind", "state", "seconds", "error"], rows)
        )
    return "".join(parts)


def files_section(found: Gathered) -> str:
    parts = []
    if found.corrupt:
        parts.append("<h3>corrupt (not used)</h3>" + table(["file", "problem"], found.corrupt))
    if found.skipped:
        parts.append("<h3>skipped</h3>" + table(["file", "why"], found.skipped))
    return "".join(parts) or "<p>Every file under the folder was used.</p>"
