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
from .figures import FIGURES, Context, Drawn, Missing
from .gather import Gathered, gather
from .html import Page, details, esc, figure, render_page, table
from .paper_table import paper_rows, paper_section
from .sections import (
    files_section,
    fits_section,
    results_section,
    sweep_section,
    tokens_section,
)
from .summary import summary_rows, write_summary

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
    page = _page(found, ctx, drawn, missing, rows, out)
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


PROVENANCE = ["record", "model", "revision", "variant", "corpus", "model_sha256", "commit",
              "corpus_sha256", "counts_sha256", "all_versions", "created", "file"]  # fmt: skip


def _page(
    found: Gathered,
    ctx: Context,
    drawn: dict[str, Drawn],
    missing: dict[str, str],
    rows: list[dict[str, Any]],
    out: Path,
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
        ("fits", "Fitted numbers", fits_section(found, ctx)),
        ("results", "Results", results_section(rows)),
    ]
    if found.tokens:
        sections.append(("tokens", "Token tables", tokens_section(found, out)))
    if found.sweeps:
        sections.append(("sweep", "Sweep status", sweep_section(found)))
    sections += [
        ("files", "Skipped and corrupt files", files_section(found)),
        ("provenance", "Provenance", provenance),
    ]
    return Page(title="llmgeom report", intro=intro, sections=sections)
