"""Memory budgets: refuse early, with a clear message, work that cannot fit.

The budget is the machine's available memory (``MemAvailable``), or the ``LLMGEOM_MAX_MEMORY``
environment variable when set (bytes, or a number with a unit: ``512MB``, ``2GiB``).

Example:
    >>> parse_size("2GiB")
    2147483648
    >>> format_bytes(3_500_000)
    '3.5 MB'
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re

from .errors import ConfigError, InsufficientMemoryError

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(text: str | int) -> int:
    """Parse ``"512MB"``, ``"2GiB"`` or a plain byte count."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"cannot read {text!r} as a size (try 512MB or 2GiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_bytes(n: float) -> str:
    """Human-readable decimal size."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def available_memory() -> int:
    """Bytes of host memory llmgeom may use (``LLMGEOM_MAX_MEMORY`` overrides)."""
    override = os.environ.get("LLMGEOM_MAX_MEMORY")
    if override:
        return parse_size(override)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**40


def ensure_fits(nbytes: int, what: str) -> None:
    """Raise :class:`InsufficientMemoryError` if ``nbytes`` exceed the memory budget."""
    budget = available_memory()
    if nbytes > budget:
        raise InsufficientMemoryError(
            f"{what} needs {format_bytes(nbytes)} but only {format_bytes(budget)} of memory is "
            "available (set LLMGEOM_MAX_MEMORY to change the budget)"
        )


def release_free_memory() -> None:
    """Return freed heap memory to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Float64 temporaries of the chunked passes are freed but kept by the allocator; trimming
    before allocating the pairwise buffer keeps the peak resident size near the matrix size.
    """
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass
