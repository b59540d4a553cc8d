"""Typed, frozen results read from and written to llmgeom's JSON records.

The typed classes live with what makes them (:class:`llmgeom.geometry.result.MeasureResult`,
:class:`llmgeom.text.freq_record.FreqResult`, the fits' and the toy's results);
:class:`TypedResult` is the common base (``to_dict``/``from_dict``/``load``, a one-line repr and
an HTML table for notebooks); :func:`to_pandas` turns a folder of results into a table, one row
per result with its headline columns.

Example:
    >>> from llmgeom.records import Estimate
    >>> Estimate(0.25, se=0.01, ci95=(0.23, 0.27), method="sample")
    Estimate(0.25 ± 0.01, 95% CI [0.23, 0.27], sample)
"""

from __future__ import annotations

from .base import Estimate, TypedResult
from .table import result_class, to_pandas

__all__ = ["Estimate", "TypedResult", "result_class", "to_pandas"]
