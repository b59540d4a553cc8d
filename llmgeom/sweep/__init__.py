"""``llmgeom sweep``: many models, analyses and corpora as resumable units of work.

A sweep config (:mod:`llmgeom.sweep.config`) expands into :class:`~llmgeom.sweep.units.Unit`
objects (one model x analysis x corpus each); an executor (:mod:`llmgeom.sweep.executors`:
``local`` worker processes, or ``ray``) runs those not yet done; each unit writes exactly the
files the single command would write, atomically, so a re-run resumes where a crash stopped.

Example:
    >>> from llmgeom.sweep import Unit, Resources
    >>> Unit("toy/x", "toy", {}, ("x.json",)).resources == Resources()
    True
"""

from __future__ import annotations

from .units import Resources, Unit, UnitOutcome, run_unit, unit_done

__all__ = ["Resources", "Unit", "UnitOutcome", "run_unit", "unit_done"]
