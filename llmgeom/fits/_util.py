"""Small shared helpers of the fits: validation, group coding, intervals, number formatting.

Example:
    >>> codes, labels = group_codes(["b", "a", "b"])
    >>> codes.tolist(), labels
    ([1, 0, 1], ['a', 'b'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from ..errors import FitError


def as_positive(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """1-D float array of finite, strictly positive values, else :class:`FitError`."""
    arr = as_finite(name, values)
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        raise FitError(
            f"{name} must be strictly positive: {bad.size} value(s) are <= 0 "
            f"(first at position {bad[0]}: {float(arr[bad[0]]):g})"
        )
    return arr


def as_finite(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """1-D float array of finite values (no NaN, no inf), else :class:`FitError`."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise FitError(f"{name} is not numeric: {err}") from None
    if arr.size == 0:
        raise FitError(f"{name} is empty: nothing to fit")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise FitError(
            f"{name} contains NaN or infinite values ({bad.size} of {arr.size}, "
            f"first at position {bad[0]})"
        )
    return arr


def group_codes(labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Integer code per label (sorted label order) and the sorted distinct labels."""
    names = sorted({str(x) for x in labels})
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[str(x)] for x in labels], dtype=int), names


def check_same_length(n: int, **arrays: Sequence | np.ndarray | None) -> None:
    """Raise :class:`FitError` unless every non-None array has length ``n``."""
    for name, arr in arrays.items():
        if arr is not None and len(arr) != n:
            raise FitError(f"{name} has {len(arr)} entries but there are {n} data points")


def within_group_width_dof(log_m: np.ndarray, codes: np.ndarray) -> int:
    """Σ_g (distinct widths in group g − 1): how much slope information the groups hold."""
    total = 0
    for g in np.unique(codes):
        total += np.unique(np.round(log_m[codes == g], 12)).size - 1
    return int(total)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap ``samples`` at confidence ``level``."""
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(np.asarray(samples, dtype=float), [tail, 100.0 - tail])
    return float(lo), float(hi)


def stratified_resample(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn with replacement within each group (group sizes are kept)."""
    out = np.empty(codes.size, dtype=int)
    pos = 0
    for g in np.unique(codes):
        members = np.flatnonzero(codes == g)
        out[pos : pos + members.size] = rng.choice(members, size=members.size, replace=True)
        pos += members.size
    return out


def fmt(x: float | None, digits: int = 4) -> str:
    """Compact number for summaries (``nan`` and ``None`` shown as ``n/a``)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"


@overload
def jsonable(x: dict[Any, Any]) -> dict[str, Any]: ...
@overload
def jsonable(x: object) -> object: ...
def jsonable(x: object) -> object:
    """Replace non-finite floats by None recursively so that strict JSON accepts the payload."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        x = float(x)
        return x if np.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x
