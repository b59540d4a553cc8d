"""Package attributes imported on their first use (PEP 562 ``__getattr__``).

``import llmgeom`` and ``import llmgeom.toy`` stay cheap (no torch) while ``llmgeom.measure``
or ``llmgeom.toy.train`` still work: the package's ``__getattr__`` calls :func:`lazy_attribute`
with a table of ``name -> submodule``.

Example:
    >>> import llmgeom
    >>> lazy_attribute("llmgeom", {"count_tokens": "text.freq"}, "count_tokens").__module__
    'llmgeom.text.freq'
    >>> lazy_attribute("llmgeom", {}, "nope")
    Traceback (most recent call last):
    ...
    AttributeError: module 'llmgeom' has no attribute 'nope'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any


def lazy_attribute(package: str, table: Mapping[str, str], name: str) -> Any:
    """``name`` from the submodule ``table[name]`` of ``package`` (relative, e.g. ``"text.freq"``),
    imported now and kept on the package so the next lookup is a plain attribute."""
    if name not in table:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{table[name]}", package), name)
    setattr(sys.modules[package], name, value)
    return value
