"""Executors run a sweep's units and report each outcome as it arrives.

An executor has a ``name`` and ``run(units, out_dir, on_done)``: it runs every unit with
:func:`llmgeom.sweep.units.run_unit` (in this process, worker processes or Ray tasks) and calls
``on_done(outcome)`` in the calling process once per unit, in completion order. Executors are
looked up by name: ``local`` is built in (``jobs=N`` worker processes; in-process for N=1);
``ray`` is registered on first use by importing :mod:`llmgeom.sweep.ray_executor`.

Example:
    >>> from llmgeom.sweep.units import Unit
    >>> executor = get_executor("local", jobs=1)
    >>> seen = []
    >>> executor.run([Unit("a/b", "nope", {}, ())], ".", seen.append)
    >>> seen[0].ok, seen[0].error
    (False, "unknown unit kind 'nope' (known: ...)")
    >>> get_executor("dask")
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: unknown executor 'dask' (choose from local, ray)
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from ..errors import ConfigError, one_line
from .units import Unit, UnitOutcome, run_unit

OnDone = Callable[[UnitOutcome], None]


class Executor(Protocol):
    """Runs units; calls ``on_done`` in the caller's process once per unit as each finishes."""

    name: str

    def run(self, units: Sequence[Unit], out_dir: str, on_done: OnDone) -> None: ...


_FACTORIES: dict[str, Callable[..., Executor]] = {}
_LAZY: dict[str, str] = {"ray": "llmgeom.sweep.ray_executor"}  # registered when imported


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``get_executor(name, **kwargs)`` return ``factory(**kwargs)``."""
    _FACTORIES[name] = factory


def executor_names() -> list[str]:
    """Every executor name, the lazily imported ones included."""
    return sorted({*_FACTORIES, *_LAZY})


def get_executor(name: str, **kwargs: Any) -> Executor:
    """The executor called ``name`` built with ``kwargs``; one-line ConfigError when unknown
    (or when ``ray`` is asked for where it is not installed)."""
    if name not in _FACTORIES and name in _LAZY:
        importlib.import_module(_LAZY[name])  # imports no optional package: the factory does
    if name not in _FACTORIES:
        raise ConfigError(f"unknown executor {name!r} (choose from {', '.join(executor_names())})")
    return _FACTORIES[name](**kwargs)


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _context() -> multiprocessing.context.BaseContext:
    """Spawned workers: nothing inherited from the sweep's process but the unit itself, and
    their parent is the sweep's process, so that they die with it (see ``_worker_init``)."""
    return multiprocessing.get_context("spawn")


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_init() -> None:
    """A worker leaves Ctrl-C to the parent (which stops the pool), and dies with the process
    that started it: a sweep killed with SIGKILL leaves no worker computing on."""
    import ctypes
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class LocalExecutor:
    """Units in this process (``jobs=1``) or in ``jobs`` spawned worker processes."""

    name = "local"

    def __init__(self, jobs: int | None = None, **_ignored: Any) -> None:
        if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
            raise ConfigError(f"jobs must be a positive integer, got {jobs!r}", parameter="jobs")
        self.jobs = jobs or 1

    def run(self, units: Sequence[Unit], out_dir: str, on_done: OnDone) -> None:
        """Run ``units``; at most ``jobs`` at once; ``on_done`` as each one finishes."""
        units = list(units)
        if self.jobs == 1 or len(units) <= 1:
            for unit in units:
                on_done(run_unit(unit, out_dir))
            return
        context = _context()
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(units)), mp_context=context, initializer=_worker_init
        )
        pending: dict[Future[UnitOutcome], Unit] = {}
        try:
            for unit in units:
                pending[pool.submit(run_unit, unit, out_dir)] = unit
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    unit = pending.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as err:  # a worker that died
                        outcome = UnitOutcome(unit.id, False, _died(err), 0.0, ())
                    on_done(outcome)
        except BaseException:
            for future in pending:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()  # a unit half-way writes nothing: its files are atomic
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _died(err: BaseException) -> str:
    text = one_line(str(err)) or type(err).__name__
    return f"the worker process died ({text})"


register_executor("local", LocalExecutor)
