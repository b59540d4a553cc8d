"""Running a sweep: skip what is done, run the rest, record every outcome as it arrives.

:func:`run_sweep` expands the config into units, skips those already done
(:func:`~llmgeom.sweep.units.unit_done`), hands the rest to an executor and, after every unit,
rewrites ``OUT/sweep-status.json`` atomically: one entry per unit with ``id``, ``kind``,
``state`` (``ok``, ``failed`` or ``pending``), ``error`` (one line), ``seconds``, ``files``,
``started`` (when the sweep run that ran it began), ``finished`` and ``attempts`` (runs that
reached an outcome, over all sweep runs). A failed unit does not stop the sweep. Interrupting
a sweep (Ctrl-C, a crash, a kill) loses only the units in flight: every file is written
atomically, worker processes die with the sweep, and the next run skips what is done.

Example:
    >>> from llmgeom.sweep.config import parse_config
    >>> cfg = parse_config('out = "res"\\n[[toy]]\\nname = "t"\\nn = 30\\nm = [3, 5]\\nsteps = 3\\n'
    ...                    'batch = 16\\nwarmup = 1\\neval_samples = 32', base_dir=".")
    >>> result = run_sweep(cfg, jobs=1, progress=False, echo=False)
    >>> result.counts, result.exit_code
    ({'ok': 1, 'failed': 0, 'skipped': 0}, 0)
    >>> run_sweep(cfg, jobs=1, progress=False, echo=False).counts   # done: nothing runs again
    {'ok': 0, 'failed': 0, 'skipped': 1}
    >>> load_status(cfg.out)["units"][0]["state"]
    'ok'
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._atomic import ensure_writable_dir, write_json_atomic
from .config import SweepConfig
from .executors import get_executor
from .plan import expand_units
from .sweep_options import SweepOptions
from .units import Unit, UnitOutcome, unit_done

STATUS_FILE = "sweep-status.json"
STATUS_SCHEMA = "llmgeom.sweep-status/1"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_status(out: str | os.PathLike[str]) -> dict[str, Any]:
    """The status file of the sweep in ``out`` (an empty one when absent or unreadable)."""
    try:
        data = json.loads((Path(out) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"schema": STATUS_SCHEMA, "units": []}
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        return {"schema": STATUS_SCHEMA, "units": []}
    return data


@dataclass
class SweepResult:
    """What a sweep run did: its units, the outcomes of those that ran, the skipped ids."""

    out: Path
    units: list[Unit]
    skipped: list[str]
    outcomes: list[UnitOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[UnitOutcome]:
        """The outcomes that failed."""
        return [o for o in self.outcomes if not o.ok]

    @property
    def counts(self) -> dict[str, int]:
        """Units that ran ok, failed, or were skipped as done."""
        ok = sum(o.ok for o in self.outcomes)
        return {"ok": ok, "failed": len(self.outcomes) - ok, "skipped": len(self.skipped)}

    @property
    def exit_code(self) -> int:
        """1 when a unit failed or did not run, else 0."""
        ran = len(self.outcomes) + len(self.skipped)
        return 1 if self.failed or ran < len(self.units) else 0


class _Status:
    """The status file, rewritten atomically after every change."""

    def __init__(self, out: Path, units: Sequence[Unit], config_path: Any) -> None:
        self.path = out / STATUS_FILE
        earlier = {u.get("id"): u for u in load_status(out)["units"] if isinstance(u, dict)}
        self.entries: dict[str, dict[str, Any]] = {}
        for unit in units:
            old = earlier.get(unit.id, {})
            self.entries[unit.id] = {
                "id": unit.id,
                "kind": unit.kind,
                "state": "pending",
                "error": None,
                "seconds": old.get("seconds"),
                "files": list(unit.outputs),
                "started": None,
                "finished": old.get("finished"),
                "attempts": int(old.get("attempts") or 0),
            }
        self.header = {"schema": STATUS_SCHEMA, "config": str(config_path) if config_path else None}

    def write(self) -> None:
        counts: dict[str, int] = {}
        for entry in self.entries.values():
            counts[entry["state"]] = counts.get(entry["state"], 0) + 1
        payload = {**self.header, "updated": _now(), "counts": counts,
                   "units": list(self.entries.values())}  # fmt: skip
        write_json_atomic(self.path, payload)


def _line(outcome: UnitOutcome, done: int, total: int) -> str:
    width = len(str(total))
    if outcome.ok:
        return f"[{done:>{width}}/{total}] ok      {outcome.id}  {outcome.seconds:.1f}s"
    return (
        f"[{done:>{width}}/{total}] FAILED  {outcome.id}  {outcome.seconds:.1f}s: {outcome.error}"
    )


def summary_table(result: SweepResult) -> str:
    """Per kind: units ok (this run), skipped (done before), failed; then each failure.

    Example:
        >>> r = SweepResult(Path("."), [Unit("toy/a", "toy", {}, ()), Unit("toy/b", "toy", {}, ())],
        ...                 ["toy/a"], [UnitOutcome("toy/b", False, "boom", 0.5, ())])
        >>> print(summary_table(r))
        kind   units  ok  skipped  failed
        toy        2   0        1       1
        total      2   0        1       1
        failed: toy/b: boom
    """
    kinds = list(dict.fromkeys(u.kind for u in result.units))
    kind_of = {u.id: u.kind for u in result.units}
    rows: list[tuple[str, ...]] = [("kind", "units", "ok", "skipped", "failed")]
    totals = [0, 0, 0, 0]
    for kind in kinds:
        n = sum(u.kind == kind for u in result.units)
        ok = sum(o.ok and kind_of[o.id] == kind for o in result.outcomes)
        bad = sum((not o.ok) and kind_of[o.id] == kind for o in result.outcomes)
        skipped = sum(kind_of[s] == kind for s in result.skipped)
        rows.append((kind, str(n), str(ok), str(skipped), str(bad)))
        totals = [a + b for a, b in zip(totals, (n, ok, skipped, bad), strict=True)]
    rows.append(("total", *map(str, totals)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in rows
    ]
    lines += [f"failed: {o.id}: {o.error}" for o in result.failed]
    return "\n".join(lines)


def run_options(config: SweepConfig, **given: Any) -> SweepOptions:
    """The :class:`~llmgeom.sweep.sweep_options.SweepOptions` a run uses: the config's top-level
    keys with the ``given`` ones (not None) laid over them, checked together.

    Example:
        >>> from llmgeom.sweep.config import parse_config
        >>> cfg = parse_config('executor = "local"\\njobs = 2\\ntoy = ["quick"]')
        >>> run_options(cfg, jobs=None).jobs, run_options(cfg, jobs=3).jobs
        (2, 3)
        >>> run_options(cfg, address="auto")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: address joins a Ray cluster: use it with executor='ray'
    """
    return replace(config.options, **{k: v for k, v in given.items() if v is not None})


def run_sweep(
    config: SweepConfig,
    *,
    executor: str | None = None,
    jobs: int | None = None,
    address: str | None = None,
    units: list[Unit] | None = None,
    progress: bool | None = None,
    echo: bool = True,
    on_done: Callable[[UnitOutcome], None] | None = None,
) -> SweepResult:
    """Run the units of ``config`` not yet done; see the module docstring.

    ``executor``, ``jobs``, ``address`` and ``progress`` are the
    :class:`~llmgeom.sweep.sweep_options.SweepOptions` (None: the config's key, else the
    default); ``units`` overrides the expansion (a subset); ``echo`` prints one status line per
    unit (above the sweep's progress bar) and the summary table at the end.
    """
    out = Path(config.out)
    options = run_options(config, executor=executor, jobs=jobs, address=address, progress=progress)
    units = expand_units(config) if units is None else list(units)
    # an unknown executor (or ray where it is not installed) fails before anything runs
    runner = get_executor(options.executor, **options.executor_options())
    ensure_writable_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    status = _Status(out, units, config.path)
    skipped = []
    todo = []
    for unit in units:
        if unit_done(unit, str(out)):
            skipped.append(unit.id)
            status.entries[unit.id]["state"] = "ok"
        else:
            todo.append(unit)
    result = SweepResult(out, units, skipped)
    started = _now()
    for unit in todo:
        status.entries[unit.id]["started"] = started
    status.write()
    if echo and skipped:
        print(f"{len(skipped)} of {len(units)} unit(s) already done in {out}; {len(todo)} to run")
    from ..progress import progress_bar

    total = len(units)
    with progress_bar(total, "sweep", unit="unit", progress=options.progress) as bar:
        bar.update(len(skipped))

        def done(outcome: UnitOutcome) -> None:
            result.outcomes.append(outcome)
            entry = status.entries[outcome.id]
            entry.update(
                state="ok" if outcome.ok else "failed",
                error=outcome.error,
                seconds=round(outcome.seconds, 3),
                files=list(outcome.files) if outcome.ok else entry["files"],
                finished=_now(),
                attempts=entry["attempts"] + 1,
            )
            status.write()
            bar.update(1)
            if echo:
                bar.write(
                    _line(outcome, len(skipped) + len(result.outcomes), total), file=sys.stdout
                )
            if on_done is not None:
                on_done(outcome)

        t0 = time.perf_counter()
        runner.run(todo, str(out), done)
        elapsed = time.perf_counter() - t0
    if echo:
        print(summary_table(result))
        print(f"{runner.name} executor, {elapsed:.1f}s; status in {status.path}")
    return result
