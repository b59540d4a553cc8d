"""``llmgeom report``: gather a results folder into ``summary.csv``, the paper's figures drawn
from our own measurements, and one self-contained ``index.html``.

:func:`build_report` is the whole command; :mod:`.gather` finds and reads the results,
:mod:`.laws` picks the points and the fitted laws, :mod:`.figures` draws one figure per function,
:mod:`.paper_table` sets the paper's published numbers beside ours, :mod:`.summary` writes the
table and :mod:`.html` the page. :mod:`.token_page` writes the page of a token table
(``llmgeom tokens``), which the report links.

Example:
    >>> import torch
    >>> from llmgeom.geometry.measurement import measure
    >>> from llmgeom.records.measurement import write_record
    >>> _ = write_record(measure(torch.randn(30, 6), pairs="gram").to_dict(), "results")
    >>> report = build_report("results", "out")
    >>> report.summary_csv.name, "overlap_vs_width" in report.figures
    ('summary.csv', True)
    >>> "loss_vs_width" in report.missing
    True
"""

from __future__ import annotations

from .build import ReportResult, build_report
from .figures import FIGURES, Missing
from .gather import Gathered, gather

__all__ = ["FIGURES", "Gathered", "Missing", "ReportResult", "build_report", "gather"]
