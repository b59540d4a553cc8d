"""What a model weighs, from the registry (``models.csv``): the head and the whole checkpoint
as stored on the Hub; 0 for a model the registry does not know (a local path, another repo).

Example:
    >>> head_bytes(ModelSpec("gpt2", "gpt2"))   # 50257 x 768 float32
    154389504
"""

from __future__ import annotations

import re
from typing import Any

from .model_specs import ModelSpec

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def registry_entry(model: ModelSpec) -> Any:
    if model.local:
        return None
    from ..sources.registry import lookup

    return lookup(model.source)


def parse_params(text: str) -> float | None:
    """``"125M"`` -> 1.25e8, ``"1.3B"`` -> 1.3e9 (models.csv's nominal_params), else None.

    Example:
        >>> parse_params("1.3B"), parse_params("331M"), parse_params("?")
        (1300000000.0, 331000000.0, None)
    """
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMBT])\s*", text or "")
    if not match:
        return None
    return float(match.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[match.group(2)]


def head_bytes(model: ModelSpec) -> int:
    """Bytes of the head as stored on the Hub (models.csv), 0 when unknown."""
    entry = registry_entry(model)
    if entry is None:
        return 0
    rows, cols = entry.head_shape
    return rows * cols * DTYPE_BYTES.get(entry.storage_dtype, 2)


def weight_bytes(model: ModelSpec) -> int:
    """Bytes of the whole checkpoint as stored (models.csv's parameter count), 0 when unknown."""
    entry = registry_entry(model)
    params = parse_params(entry.nominal_params) if entry else None
    return int(params * DTYPE_BYTES.get(entry.storage_dtype, 2)) if params else 0
