"""The ``ray`` executor of ``llmgeom sweep``: every unit a Ray task, outcomes streamed back.

``llmgeom sweep CONFIG --executor ray`` runs each unit of work with
:func:`llmgeom.sweep.units.run_unit` as a Ray task asking for the unit's
:class:`~llmgeom.sweep.units.Resources` (CPUs, a GPU when the unit uses one, the estimated
memory). Outcomes come back as the tasks finish (``ray.wait``), and the sweep writes
``sweep-status.json`` and its table exactly as with the ``local`` executor; the units themselves
write their files, atomically, into the sweep's output folder, so that folder must be shared by
every node of a cluster (it always is on one machine).

* ``--address ADDR`` joins a running cluster (``ray start --head`` elsewhere; ``auto`` finds the
  local one). Its nodes need llmgeom installed and the output folder mounted at the same path.
  ``--jobs N`` then caps the tasks in flight at ``N``.
* Without ``--address`` a local Ray instance starts with ``--jobs`` CPUs (default: the CPUs this
  process may use), no dashboard, and is shut down when the sweep ends. A unit asking for more
  CPUs, GPUs or memory than that instance has gets what it has (the local executor would run it
  the same way) rather than waiting forever for a node that never comes.
* If Ray was already initialised in this process (a notebook, a test) that connection is used and
  left open (requests capped as for a local instance unless ``address`` is given).

A task that dies (the worker crashed, was killed for memory, the node was lost) is a failed unit
with a one-line error, like a unit that raised: the sweep goes on, and a re-run retries it. Ray
does not retry tasks itself (``max_retries=0``): a unit that runs out of memory would only do so
again. Ctrl-C cancels the tasks still pending or running: each running unit gets a KeyboardInterrupt
(it has written nothing half-way: its files are atomic, their temporaries removed on the way
out), a worker still busy after a few seconds is killed, and the local instance is shut down
before the interrupt propagates.

Ray is an optional extra (``pip install 'llmgeom[ray]'``); this module imports it only when an
executor is built, so it can be imported (and documented) without Ray.

Example:
    >>> from llmgeom.sweep.units import Resources
    >>> task_options(Resources(num_cpus=2, num_gpus=0, memory_bytes=3 << 30))
    {'num_cpus': 2.0, 'num_gpus': 0.0, 'memory': 3221225472, 'max_retries': 0}
    >>> task_options(Resources(num_cpus=8, num_gpus=1), limits={"CPU": 2.0, "GPU": 0.0})
    {'num_cpus': 2.0, 'num_gpus': 0.0, 'memory': None, 'max_retries': 0}
    >>> one_line_error(RuntimeError("Traceback (most recent call last):\\n  ...\\nboom"))
    'the Ray task failed: RuntimeError: boom'
"""

from __future__ import annotations

import logging
import os
import socket
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import ConfigError, NetworkError, one_line
from .executors import OnDone, default_jobs, register_executor
from .units import Resources, Unit, UnitOutcome, run_unit

RAY_MISSING = "the ray executor needs `pip install llmgeom[ray]`"

#: Seconds a cancelled unit has to stop by itself (and remove its temporary files) before its
#: worker is killed.
CANCEL_GRACE_S = 5.0

#: Environment defaults for a Ray instance this module starts: no usage-stats report home.
_LOCAL_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def import_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def task_options(resources: Resources, limits: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Ray task options for a unit asking ``resources``; each request capped at ``limits``
    (``CPU``, ``GPU``, ``memory`` as in ``ray.cluster_resources()``) when given."""
    limits = limits or {}
    cpus = float(resources.num_cpus)
    gpus = float(resources.num_gpus)
    memory = int(resources.memory_bytes) or None
    if "CPU" in limits:
        cpus = min(cpus, float(limits["CPU"]))
    if "GPU" in limits:
        gpus = min(gpus, float(limits["GPU"]))
    if memory is not None and "memory" in limits:
        memory = min(memory, int(limits["memory"])) or None
    return {"num_cpus": cpus, "num_gpus": gpus, "memory": memory, "max_retries": 0}


def one_line_error(err: BaseException) -> str:
    """One line saying why a Ray task gave no outcome (worker crash, OOM, lost node...)."""
    rex: types.ModuleType | None
    try:
        import ray.exceptions as rex
    except ImportError:  # pragma: no cover - only reached with Ray installed
        rex = None
    if rex is not None:
        if isinstance(err, rex.OutOfMemoryError):
            return "the Ray worker was killed: the node ran out of memory (OOM)"
        if isinstance(err, rex.TaskCancelledError):
            return "the Ray task was cancelled"
        if isinstance(err, rex.WorkerCrashedError):
            return "the Ray worker running the unit died (crash or killed)"
        if isinstance(err, rex.NodeDiedError | rex.LocalRayletDiedError):
            return "the Ray node running the unit died"
        if isinstance(err, rex.RayTaskError) and err.cause is not None:
            err = err.cause
    lines = str(err).strip().splitlines()
    last = one_line(lines[-1]) if lines else ""
    name = type(err).__name__
    return f"the Ray task failed: {name}: {last}" if last else f"the Ray task failed: {name}"


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A one-line :class:`NetworkError` when nothing answers at a ``HOST:PORT`` cluster address
    (Ray itself would retry for minutes); ``auto`` and ``ray://`` addresses are left to Ray.

    Example:
        >>> check_reachable("auto")
        >>> check_reachable("127.0.0.1:1")
        Traceback (most recent call last):
        ...
        llmgeom.errors.NetworkError: cannot join the Ray cluster at 127.0.0.1:1: ...
    """
    host, sep, port = address.strip().rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout_s).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise NetworkError(
            f"cannot join the Ray cluster at {address}: nothing answers there ({reason})"
        ) from None


def cancel(ray: Any, refs: list[Any], grace_s: float = CANCEL_GRACE_S) -> None:
    """Cancel the tasks of ``refs``: a KeyboardInterrupt in each running one (its unit cleans
    its temporary files up on the way out), then, after ``grace_s`` or a second Ctrl-C, kill
    the workers of those still running."""
    if not refs:
        return
    try:  # leave finished tasks alone: cancelling one as it completes is a race inside Ray
        _, refs = ray.wait(refs, num_returns=len(refs), timeout=0)
    except BaseException:
        pass
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # finished meanwhile, or Ray going down
            pass
    left = refs
    try:
        _, left = ray.wait(refs, num_returns=len(refs), timeout=grace_s)
    except BaseException:  # a second Ctrl-C: no more grace
        pass
    for ref in left:
        try:
            ray.cancel(ref, force=True)
        except Exception:
            pass


def ray_task(unit: Unit, out_dir: str, threads: int) -> UnitOutcome:
    """What a Ray worker runs: :func:`run_unit` with torch using ``threads`` intra-op threads
    (the CPUs Ray gave the task; a reused worker would otherwise keep its first task's count,
    and float results depend on the count). A toy config's own ``threads`` still wins."""
    import torch

    torch.set_num_threads(threads)
    return run_unit(unit, out_dir)


class RayExecutor:
    """Units as Ray tasks on a local instance (started and stopped here) or a running cluster.

    ``address`` joins a cluster (``None``: start a local instance with ``jobs`` CPUs); ``jobs``
    caps the tasks in flight when joining. Building the executor only checks that Ray is
    installed; Ray starts when :meth:`run` has units to run.
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, jobs: int | None = None, **_ignored: Any
    ) -> None:
        if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
            raise ConfigError(f"jobs must be a positive integer, got {jobs!r}", parameter="jobs")
        if address is not None and not str(address).strip():
            raise ConfigError(
                "address must not be empty (use 'auto' for the local cluster)", parameter="address"
            )
        self.address = address
        self.jobs = jobs
        self._ray = import_ray()

    # -- connecting ---------------------------------------------------------------------------

    def _connect(self) -> bool:
        """Connect to Ray; True when this call started the connection (and must close it)."""
        ray = self._ray
        if ray.is_initialized():
            return False
        if self.address is not None:
            check_reachable(self.address)
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, TimeoutError, RuntimeError, ValueError) as err:
                text = one_line(str(err)) or type(err).__name__
                raise NetworkError(
                    f"cannot join the Ray cluster at {self.address}: {text}"
                ) from None
            return True
        for key, value in _LOCAL_ENV.items():
            os.environ.setdefault(key, value)
        ray.init(
            num_cpus=self.jobs or default_jobs(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,  # not the notes on token auth of a private instance
        )
        return True

    def _limits(self, local: bool) -> dict[str, float]:
        """The most one node offers of CPU, GPU and memory: requests are capped at it on a
        local instance (or a connection made before, say in a notebook); a cluster joined with
        ``address`` may grow (an autoscaler), so its requests stay as asked."""
        if not local:
            return {}
        limits: dict[str, float] = {"CPU": 0.0, "GPU": 0.0, "memory": 0.0}
        for node in self._ray.nodes():
            if node.get("Alive"):
                for key in limits:
                    limits[key] = max(limits[key], float(node.get("Resources", {}).get(key, 0.0)))
        return limits

    # -- running ------------------------------------------------------------------------------

    def run(self, units: Sequence[Unit], out_dir: str, on_done: OnDone) -> None:
        """Run ``units`` as Ray tasks; ``on_done(outcome)`` here, as each one finishes."""
        units = list(units)
        if not units:
            return
        ray = self._ray
        started = self._connect()
        pending: dict[Any, tuple[Unit, float]] = {}
        try:
            local = self.address is None
            limits = self._limits(local)
            task = ray.remote(ray_task)
            window = self.jobs if (self.jobs and not local) else len(units)
            todo: Iterator[Unit] = iter(units)

            def submit() -> None:
                for unit in todo:
                    options = task_options(unit.resources, limits)
                    threads = max(1, int(options["num_cpus"]))
                    ref = task.options(**options).remote(unit, str(out_dir), threads)
                    pending[ref] = (unit, time.perf_counter())
                    if len(pending) >= window:
                        return

            submit()
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    unit, since = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as err:  # a dead task is a failed unit
                        outcome = UnitOutcome(
                            unit.id, False, one_line_error(err), time.perf_counter() - since, ()
                        )
                    on_done(outcome)
                submit()
        except BaseException:
            cancel(ray, list(pending))
            raise
        finally:
            if started:
                ray.shutdown()


register_executor("ray", RayExecutor)
