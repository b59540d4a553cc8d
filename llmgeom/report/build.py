"""``build_report``: gather a results folder, draw the figures, write ``summary.csv``, the PNGs
and ``index.html`` (each atomically).

Layout of the output folder (default ``RESULTS_DIR/report``, which the gathering skips):
``index.html``, ``summary.csv`` and ``figures/<figure id>.png``; a figure whose data is absent
is listed as missing on the page (and a PNG of it from an earlier report is removed).

Example:
    >>> import torch
    >>> from llmgeom.geometry.measurement import measure
    >>> from llmgeom.records.measurement import write_record
    >>> _ = write_record(measure(torch.randn(40, 8), pairs="gram").to_dict(), "res")
    >>> result = build_report("res")
    >>> sorted(result.figures), result.index_html.name
    (['overlap_vs_width', 'row_norms_vs_width'], 'index.html')
    >>> "loss_vs_width" in result.missing
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, ensure_writable_dir
from ..errors import ConfigError, LlmgeomError, SourceNotFoundError
from .figures import FIGURES, Context, Drawn, Missing, toy_run_label, toy_runs
from .gather import Gathered, gather
from .html import Page, details, esc, figure, render_page, table
from .paper_table import paper_rows, paper_section
from .summary import fit_rows, summary_rows, write_summary

FIGURE_DIR = "figures"


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote: the page, the table, the figures by id (PNG paths) and,
    by id in page order, what is absent for each figure not drawn (``why_missing``); also what
    was skipped or corrupt and how many results of each kind were found."""

    index_html: Path
    summary_csv: Path
    figures: dict[str, Path]
    why_missing: dict[str, str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """The ids of the figures whose data is absent, in page order."""
        return list(self.why_missing)


def _check_folder(results_dir: str | os.PathLike[str]) -> Path:
    root = Path(results_dir)
    if not root.exists():
        raise SourceNotFoundError(f"no such results folder: {root}")
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder of results")
    return root


def build_report(
    results_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> ReportResult:
    """Gather every result under ``results_dir`` and write the report into ``out_dir``
    (default ``results_dir/report``). One-line errors: a missing folder
    (:class:`SourceNotFoundError`), an unwritable ``out_dir`` or nothing to report
    (:class:`ConfigError`), checked before anything is written."""
    root = _check_folder(results_dir)
    out = Path(out_dir) if out_dir is not None else root / "report"
    ensure_writable_dir(out)
    found = gather(root, exclude=[out])
    if found.empty:
        extra = []
        if found.corrupt:
            extra.append(f"{len(found.corrupt)} corrupt")
        if found.skipped:
            extra.append(f"{len(found.skipped)} other files skipped")
        more = f" ({', '.join(extra)})" if extra else ""
        raise ConfigError(f"nothing to report: no llmgeom results under {root}{more}")
    ctx = Context.build(found)
    drawn: dict[str, Drawn] = {}
    missing: dict[str, str] = {}
    for figure_id, _, draw in FIGURES:
        try:
            drawn[figure_id] = draw(ctx)
        except Missing as why:
            missing[figure_id] = str(why)
        except LlmgeomError as err:  # data that cannot be drawn (e.g. no positive value)
            missing[figure_id] = f"could not be drawn: {err}"
    figures: dict[str, Path] = {}
    for figure_id, result in drawn.items():
        path = out / FIGURE_DIR / f"{figure_id}.png"
        with atomic_path(path) as tmp:
            tmp.write_bytes(result.png)
        figures[figure_id] = path
    for figure_id in missing:
        (out / FIGURE_DIR / f"{figure_id}.png").unlink(missing_ok=True)
    rows = summary_rows(found, [ctx.overlap, ctx.width_loss], paper_rows(ctx))
    summary_csv = write_summary(out / "summary.csv", rows)
    page = _page(found, ctx, drawn, missing, rows)
    index = out / "index.html"
    with atomic_path(index) as tmp:
        tmp.write_text(render_page(page), encoding="utf-8")
    return ReportResult(
        index_html=index,
        summary_csv=summary_csv,
        figures=figures,
        why_missing=missing,
        skipped=list(found.skipped),
        corrupt=list(found.corrupt),
        counts=found.counts(),
    )


# ------------------------------------------------------------------------------ the page


def _figures_section(drawn: dict[str, Drawn], missing: dict[str, str]) -> str:
    parts = []
    if missing:
        items = "".join(
            f"<li><b>{esc(title)}</b> (<code>{esc(fid)}</code>): {esc(missing[fid])}</li>"
            for fid, title, _ in FIGURES
            if fid in missing
        )
        parts.append(
            f'<p class="missing">Missing figures (their data is absent):</p><ul>{items}</ul>'
        )
    for fid, title, _ in FIGURES:
        if fid in drawn:
            parts.append(f"<h3>{esc(title)}</h3>" + figure(fid, drawn[fid].png, drawn[fid].caption))
    return "".join(parts)


def _fits_section(found: Gathered, ctx: Context) -> str:
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


def _results_section(rows: list[dict[str, Any]]) -> str:
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


def _sweep_section(found: Gathered) -> str:
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


def _files_section(found: Gathered) -> str:
    parts = []
    if found.corrupt:
        parts.append("<h3>corrupt (not used)</h3>" + table(["file", "problem"], found.corrupt))
    if found.skipped:
        parts.append("<h3>skipped</h3>" + table(["file", "why"], found.skipped))
    return "".join(parts) or "<p>Every file under the folder was used.</p>"


PROVENANCE = ["record", "model", "revision", "variant", "corpus", "model_sha256", "commit",
              "corpus_sha256", "counts_sha256", "all_versions", "created", "file"]  # fmt: skip


def _page(
    found: Gathered,
    ctx: Context,
    drawn: dict[str, Drawn],
    missing: dict[str, str],
    rows: list[dict[str, Any]],
) -> Page:
    from .. import __version__

    counts = ", ".join(f"{n} {k}" for k, n in found.counts().items() if n)
    intro = [
        f"Results folder: {found.root.resolve()}",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} by llmgeom {__version__}; "
        f"found {counts}.",
        f"Figures: {len(drawn)} drawn, {len(missing)} missing.",
    ]
    points = [r for r in rows if not r["record"].startswith(("fit:", "paper"))]
    provenance = details(
        f"provenance of every point ({len(points)} rows): checksums, commits, versions",
        table(PROVENANCE, [[r.get(c) for c in PROVENANCE] for r in points]),
    )
    sections = [
        (
            "paper",
            "The paper side by side",
            paper_section([r for r in rows if r["record"] == "paper"]),
        ),
        ("figures", "Figures", _figures_section(drawn, missing)),
        ("fits", "Fitted numbers", _fits_section(found, ctx)),
        ("results", "Results", _results_section(rows)),
    ]
    if found.sweeps:
        sections.append(("sweep", "Sweep status", _sweep_section(found)))
    sections += [
        ("files", "Skipped and corrupt files", _files_section(found)),
        ("provenance", "Provenance", provenance),
    ]
    return Page(title="llmgeom report", intro=intro, sections=sections)
