"""Units of work of a sweep: what one unit is, how it runs, and when it counts as done.

A :class:`Unit` is a plain, JSON-able description (kind, parameters with absolute paths, the
files it writes relative to the sweep's output folder). :func:`run_unit` is a pure function of
the unit and the output folder, safe to call in another process (a worker, a Ray task): it
dispatches on ``unit.kind`` to a runner registered with :func:`register_runner`, writes the
files the single command would write (atomically) and never raises for a failure of the unit:
the outcome says ``ok=False`` with a one-line error. :func:`unit_done` is the resume test:
every output exists and parses.

Example:
    >>> import pathlib, tempfile
    >>> out = tempfile.mkdtemp()
    >>> unit = Unit("notes/hello", "notes", {"who": "world"}, ("hello.json",))
    >>> unit_done(unit, out)
    False
    >>> outcome = run_unit(unit, out)  # no runner for "notes": a failed unit, not an exception
    >>> outcome.ok, outcome.error
    (False, "unknown unit kind 'notes' (known: freq, loss, measure, toy)")
    >>> _ = (pathlib.Path(out) / "hello.json").write_text('{"who": "world"}')
    >>> unit_done(unit, out)
    True
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LlmgeomError, one_line

UNIT_KINDS = ("measure", "loss", "freq", "toy")

Runner = Callable[[dict[str, Any], str], Sequence[str]]
"""A unit runner: ``(params, out_dir) -> files written (relative to out_dir)``; raises on error."""


@dataclass(frozen=True)
class Resources:
    """What one unit asks of a worker (Ray turns it into a resource request)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_bytes: int = 0  # estimated peak (head size for measure, model size for loss)


@dataclass(frozen=True)
class Unit:
    """One model x analysis x corpus (or one toy run) of a sweep.

    ``id`` is stable, unique and readable (``measure/gpt2@step1000``, ``loss/gpt2/wikitext``,
    ``freq/gpt2/c4``, ``toy/toy-phase/gamma=-1,alpha=1``); ``params`` is JSON-able and holds
    everything :func:`run_unit` needs (absolute paths); ``outputs`` are the files, relative to
    the sweep's output folder, whose presence and validity mean "done".
    """

    id: str
    kind: str  # "measure" | "loss" | "freq" | "toy"
    params: dict[str, Any]
    outputs: tuple[str, ...]
    resources: Resources = Resources()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the dry-run plan and the status file use it)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "outputs": list(self.outputs),
            "resources": {
                "num_cpus": self.resources.num_cpus,
                "num_gpus": self.resources.num_gpus,
                "memory_bytes": self.resources.memory_bytes,
            },
        }


@dataclass(frozen=True)
class UnitOutcome:
    """What running one unit gave: ``ok``, a one-line ``error``, time and files written."""

    id: str
    ok: bool
    error: str | None  # one line
    seconds: float
    files: tuple[str, ...]  # written, relative to out


_RUNNERS: dict[str, Runner] = {}


def register_runner(kind: str, runner: Runner) -> None:
    """Make ``run_unit`` run units of ``kind`` with ``runner(params, out_dir)``."""
    _RUNNERS[kind] = runner


def _runner(kind: str) -> Runner:
    if kind not in _RUNNERS and kind in UNIT_KINDS:
        from .runners import BUILTIN_RUNNERS  # on first use: the runners import the analyses

        _RUNNERS.setdefault(kind, BUILTIN_RUNNERS[kind])

    if kind not in _RUNNERS:
        known = ", ".join(sorted({*_RUNNERS, *UNIT_KINDS}))
        raise KeyError(f"unknown unit kind {kind!r} (known: {known})")
    return _RUNNERS[kind]


def _one_line(err: BaseException) -> str:
    text = one_line(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err))
    if isinstance(err, LlmgeomError | KeyError) and text:
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def run_unit(unit: Unit, out_dir: str) -> UnitOutcome:
    """Run ``unit`` writing into ``out_dir``; a failure is ``ok=False`` with a one-line error.

    Only ``KeyboardInterrupt`` and ``SystemExit`` pass through (an interrupted unit has
    written nothing half-way: every file is written atomically).
    """
    started = time.perf_counter()
    try:
        files = tuple(str(f) for f in _runner(unit.kind)(dict(unit.params), str(out_dir)))
    except Exception as err:  # a unit failure is data, not a crash
        return UnitOutcome(unit.id, False, _one_line(err), time.perf_counter() - started, ())
    return UnitOutcome(unit.id, True, None, time.perf_counter() - started, files)


def _parses(path: Path) -> bool:
    """Whether ``path`` exists and reads as what its suffix says (JSON, CSV, NPZ, PNG...)."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".npz":
            import numpy as np

            with np.load(path) as data:
                data.files  # noqa: B018 - reads the zip directory
        elif path.suffix == ".png":
            with path.open("rb") as fh:
                return fh.read(8) == b"\x89PNG\r\n\x1a\n"
        return True
    except (OSError, ValueError):
        return False


def unit_done(unit: Unit, out_dir: str) -> bool:
    """True when every output of ``unit`` exists under ``out_dir`` and parses.

    A unit without outputs is never done. A kind may add its own check (e.g. that the loss
    table holds the unit's row) through the runner module's ``DONE_CHECKS``.
    """
    if not unit.outputs:
        return False
    out = Path(out_dir)
    if not all(_parses(out / name) for name in unit.outputs):
        return False
    if unit.kind in UNIT_KINDS:
        from .runners import DONE_CHECKS

        check = DONE_CHECKS.get(unit.kind)
        if check is not None:
            return bool(check(unit.params, str(out)))
    return True
