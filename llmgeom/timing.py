"""Durations for people: read ``90``, ``90s``, ``5m``, ``1.5h``; write ``1 min 30 s``.

Example:
    >>> parse_duration("5m"), parse_duration("90")
    (300.0, 90.0)
    >>> format_duration(312.4), format_duration(0.25)
    ('5 min 12 s', '0.2 s')
"""

from __future__ import annotations

import math
import re

from .errors import ConfigError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str | float) -> float:
    """Seconds from a number or a number with unit ``s``, ``m``/``min`` or ``h`` (> 0)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-z]*)\s*", str(text))
        if not match or match.group(2) not in _UNITS:
            raise ConfigError(f"cannot read {text!r} as a duration (try 60, 90s, 5m or 1h)")
        value = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"a duration must be positive and finite, got {text!r}")
    return value


def format_duration(seconds: float) -> str:
    """``< 0.1 s``, ``0.2 s``, ``90 s``, ``5 min 12 s``, ``3 h 05 min``."""
    if seconds < 0.05:
        return "< 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
