"""Runners of the built-in unit kinds (filled in below); imported lazily by ``run_unit``.

Example:
    >>> sorted(DONE_CHECKS) == sorted(DONE_CHECKS)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DONE_CHECKS: dict[str, Callable[[dict[str, Any], str], bool]] = {}
