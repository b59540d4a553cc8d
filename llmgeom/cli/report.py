"""``llmgeom report RESULTS_DIR [--out DIR]``: one page and one table from a folder of results.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
    >>> args = p.parse_args(["report", "results/paper", "--out", "site"])
    >>> args.results_dir, args.out
    ('results/paper', 'site')
"""

from __future__ import annotations

import argparse

EPILOG = """\
Reads every result under RESULTS_DIR, recursively: measurement records (llmgeom measure), loss
records and losses.csv (llmgeom loss), token counts (llmgeom freq), fit results (llmgeom fit),
toy-model results (llmgeom toy) and sweep-status.json (llmgeom sweep). Other files are listed as
skipped, unreadable ones as corrupt; neither stops the report.

Writes into --out (default RESULTS_DIR/report): summary.csv (every value at full precision, one
row per model x variant x corpus, with checksums, commits and package versions),
figures/*.png and index.html, one self-contained page (figures embedded, no external resources):
mean cos^2 vs width per family with the fitted overlap law and the random 1/m (a head narrower
than the model, as OPT-350m's, marked at both widths); row norms vs width; loss vs width with
the shared width-loss law and its offsets; token rank-frequency curves; toy loss vs width (weak
and strong regimes) and the gamma x alpha phase diagram of alpha_m; overlap vs training step
(stepN revisions); frequency-weighted vs plain interference. A fit result present under the
folder is drawn as it is; otherwise the report fits the laws itself. A figure whose data is
absent is listed as missing, never drawn empty.

examples:
  llmgeom report results/paper
  llmgeom report results/ --out site/
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="summary.csv, the paper's figures and one HTML page from a folder of results",
        description="Gather a folder of llmgeom results into a table, figures and a web page.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "results_dir", metavar="RESULTS_DIR", help="folder of results (searched recursively)"
    )
    p.add_argument(
        "--out", metavar="DIR", default=None, help="output folder (default: RESULTS_DIR/report)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the report and say what it wrote."""
    from ..report import FIGURES, build_report
    from ..report.gather import TEMPORARY

    result = build_report(args.results_dir, args.out)
    found = ", ".join(f"{n} {kind}" for kind, n in result.counts.items() if n)
    print(f"found {found}")
    titles = {fid: title for fid, title, _ in FIGURES}
    for fid, path in result.figures.items():
        print(f"  drew    {titles[fid]}: {path}")
    for fid, why in result.why_missing.items():
        print(f"  missing {titles[fid]} ({fid}): {why}")
    for rel, why in result.corrupt:
        print(f"  corrupt {rel}: {why}")
    for rel, why in result.skipped:
        if why.startswith(TEMPORARY):
            print(f"  skipped {rel}: {why}")
    print(f"wrote {result.summary_csv}")
    print(f"wrote {result.index_html}")
    return 0
