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
from ..options import _is_int, option
from .executors import executor_names

DEFAULT_OUT = "results"  # relative to the config file's folder


def _check_text(owner: Any, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}", parameter=name)


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
        _check_text(self, "out", "executor", "address")
        if self.executor not in executor_names():
            raise ConfigError(
                f"unknown executor {self.executor!r} (choose from {', '.join(executor_names())})",
                parameter="executor",
            )
        if self.jobs is not None and (not _is_int(self.jobs) or self.jobs < 1):
            raise ConfigError(
                f"jobs must be a positive integer, got {self.jobs!r}", parameter="jobs"
            )
        if self.address is not None and self.executor != "ray":
            raise ConfigError(
                "address joins a Ray cluster: use it with executor='ray'",
                parameter=("address", "executor"),
            )
        if self.progress is not None and not isinstance(self.progress, bool):
            raise ConfigError(f"progress must be true or false, got {self.progress!r}",
                              parameter="progress")  # fmt: skip

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
        if self.source is None:
            raise ConfigError("source is missing", parameter="source")
        _check_text(self, *(f.name for f in fields(self)))
