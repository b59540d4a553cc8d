"""The working set of ``llmgeom tokens``' steps, checked against ``memory_budget`` before they
allocate (issue 19: the budget is honoured as by ``measure``).

Counted, in bytes, for ``n`` rows used of width ``m``:

* the normalised float32 copy of the rows, ``n·m·4`` (none when the rows are normalised in
  place: a float32 matrix llmgeom loaded itself, all rows used, on the CPU);
* the Gram matrices ``UᵀU`` in float64, ``m²·8`` each (two with counts: ``Uᵀ diag(p) U`` too),
  kept until the table is built, and the Gram step's temporaries, one float32 product and its
  float64 copy (``m²·12``) plus a chunk of rows in float64 (``CHUNK_ROWS·m·8``);
* the nearest-neighbour pass: a block of products ``rows·n·4`` (``rows`` from 1 to ``n``: the
  block shrinks to what the budget leaves) and the per-row results (``n·24``: the best |cos| in
  float32 and float64, the partner in int64).

The peak is the copy and the Grams plus the larger of the Gram step's temporaries and the
nearest pass's block and results. :func:`nearest_budget` refuses a budget below the peak with
one-row blocks (:class:`~llmgeom.errors.InsufficientMemoryError` naming ``memory_budget``)
and gives the pass the rest for its blocks.

Example:
    >>> ws = token_working_set(1000, 16, weighted=False, copy=True)
    >>> ws.copy, ws.grams, ws.minimum
    (64000, 2048, 197120)
    >>> nearest_budget(10**6, ws)  # what the nearest-neighbour pass's blocks may use
    909952
    >>> nearest_budget(100_000, ws)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmgeom.errors.InsufficientMemoryError: memory_budget=100.0 kB is too small ... 197.1 kB
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InsufficientMemoryError
from ..geometry.normalize import CHUNK_ROWS
from ..memory import format_bytes

PER_ROW_RESULTS = 24  # bytes per row of the nearest pass's results (float32 + float64 + int64)


@dataclass(frozen=True)
class TokenWorkingSet:
    """The bytes of each part of the token table's working set (see the module docstring)."""

    n: int
    m: int
    copy: int
    grams: int
    gram_temporaries: int
    per_row: int
    min_block: int

    @property
    def minimum(self) -> int:
        """The peak with the nearest pass's smallest block (one row)."""
        nearest = self.min_block + self.per_row
        return self.copy + self.grams + max(self.gram_temporaries, nearest)


def token_working_set(n: int, m: int, *, weighted: bool, copy: bool) -> TokenWorkingSet:
    """The working set of the token table of ``n`` rows used of width ``m`` (``weighted``: with
    counts, a second Gram matrix; ``copy``: the normalised rows are a copy, not the loaded
    matrix normalised in place)."""
    return TokenWorkingSet(
        n=n,
        m=m,
        copy=n * m * 4 if copy else 0,
        grams=(2 if weighted else 1) * m * m * 8,
        gram_temporaries=m * m * 12 + min(n, CHUNK_ROWS) * m * 8,
        per_row=n * PER_ROW_RESULTS,
        min_block=n * 4,
    )


def nearest_budget(memory_budget: int, working: TokenWorkingSet) -> int:
    """The bytes the nearest-neighbour pass's blocks may use under ``memory_budget``; an
    :class:`InsufficientMemoryError` naming ``memory_budget`` when even one-row blocks do not
    fit (raised before anything is allocated)."""
    if memory_budget < working.minimum:
        raise InsufficientMemoryError(
            f"memory_budget={format_bytes(memory_budget)} is too small for the token table of "
            f"{working.n} rows of width {working.m}: its steps need at least "
            f"{format_bytes(working.minimum)}",
            parameter="memory_budget",
        )
    return memory_budget - working.copy - working.grams - working.per_row
