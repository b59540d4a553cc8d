"""The sweep's own options, declared once: where and how units run (:class:`SweepOptions`:
the config's top-level keys, the flags of ``llmgeom sweep`` and the keywords of
:func:`~llmgeom.sweep.engine.run_sweep`) and the labels of one model (:class:`ModelEntry`: the
keys of a ``[[models]]`` table). The analyses' options are their own types
(:class:`~llmgeom.options.MeasureOptions`, :class:`~llmgeom.text.options.LossOptions`, ...).

Example:
    >>> SweepOptions(jobs=2).executor
    'local'
    >>> SweepOptions(address="auto")
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: address joins a Ray cluster: use it with executor='ray'
    >>> ModelEntry(source="gpt2", name="")
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: name must be a non-empty string, got ''
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..options import check_choice, check_int, check_text, option, require
from .executors import executor_names

DEFAULT_OUT = "results"  # relative to the config file's folder


@dataclass(frozen=True)
class SweepOptions:
    """Where a sweep writes and how its units run (top-level keys of the config; a flag of
    ``llmgeom sweep`` or a keyword of ``run_sweep`` given wins over the config's key)."""

    out: str = option(
        DEFAULT_OUT,
        "output folder (in the config: relative to its folder; --out: relative to here; "
        "default: {default})",
        flag="--out",
        metavar="DIR",
    )
    executor: str = option(
        "local",
        f"where units run: {', '.join(executor_names())} (default: {{default}})",
        flag="--executor",
    )
    jobs: int | None = option(
        None, "units at once (default: 1 for local)", flag="--jobs", metavar="N", kind=int
    )
    address: str | None = option(
        None, "Ray cluster to join (executor ray)", flag="--address", metavar="ADDR"
    )
    progress: bool | None = option(None, "no progress bar", flag="--no-progress", const=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        check_text("out", self.out)
        check_choice("executor", self.executor, executor_names(), quote=False)
        check_int("jobs", self.jobs, minimum=1, optional=True)
        check_text("address", self.address, optional=True)
        if self.address is not None and self.executor != "ray":
            raise ConfigError(
                "address joins a Ray cluster: use it with executor='ray'",
                parameter=("address", "executor"),  # the command line names both flags
            )

    def executor_options(self) -> dict[str, Any]:
        """The keywords of :func:`~llmgeom.sweep.executors.get_executor` (``address`` only
        where given)."""
        return {"jobs": self.jobs} | ({"address": self.address} if self.address else {})


@dataclass(frozen=True)
class ModelEntry:
    """One ``[[models]]`` table: the model and the labels its records carry."""

    source: str | None = option(None, "a local path (relative to the config) or a Hub id")
    name: str | None = option(
        None, "the records' name and file name (default: derived from the source)"
    )
    revision: str | None = option(None, "Hub branch, tag or commit (default: revisions, or main)")
    family: str | None = option(
        None, "the group of the overlap fit (default: the registry's, else unknown)"
    )

    def __post_init__(self) -> None:
        require(self.source is not None, "source", "source is missing")
        for f in fields(self):
            check_text(f.name, getattr(self, f.name), optional=True)
