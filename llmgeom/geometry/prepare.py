"""From a head to the unit rows a pass measures: which rows (all or the tokenizer's), their norms
and statistics, which rows are usable (zero rows have no direction, NaN/inf rows are an error
unless dropped, tiny rows are kept with a warning), and the unit rows, optionally centred.

Example:
    >>> import torch
    >>> s = norm_statistics(torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64))
    >>> s["count"], s["n_zero"], s["max"]
    (3, 1, 4.0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, InvalidMatrixError
from ..memory import ensure_fits
from ..unembedding import Unembedding
from .blocked import chunks
from .gram import row_sums
from .normalize import (
    CHUNK_ROWS,
    mean_row,
    normalize_rows,
    normalize_rows_with_sums,
    row_norms,
)

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# rows whose norm is below this fraction of the median norm are reported as suspicious: their
# direction is measured exactly, but such rows are usually padding or damage, not tokens
TINY_NORM_RELATIVE = 1e-4
_IN_MEMORY_KINDS = ("array", "module")  # the caller's objects: no tokenizer, no revision


def _select_rows(u: Unembedding, rows: str) -> tuple[torch.Tensor, int]:
    """All rows, or the tokenizer's (``rows`` is checked by :class:`MeasureOptions`)."""
    W = u.weight
    if rows == "all":
        return W, W.shape[0]
    k = u.meta.tokenizer_len
    if not k and u.meta.source_kind in _IN_MEMORY_KINDS:
        raise ConfigError(
            f"rows='tokenizer' does not apply to an in-memory {u.meta.source_kind}: it has no "
            "tokenizer; pass the rows you want (W[:n]) with rows='all'"
        )
    if not k:
        raise ConfigError(
            "rows='tokenizer' needs the tokenizer length, and none was found with this "
            "checkpoint (no tokenizer.json / vocab.json)"
        )
    if k > W.shape[0]:
        raise InvalidMatrixError(
            f"the tokenizer has {k} tokens but the head only {W.shape[0]} rows"
        )
    return W[:k], k


def norm_statistics(norms: torch.Tensor) -> dict[str, Any]:
    """Mean, std, min, max and quantiles of finite row norms, zero and tiny-row counts.

    A row is *tiny* when its norm is non-zero but below ``TINY_NORM_RELATIVE`` (1e-4) times the
    median norm.

    Example:
        >>> import torch
        >>> s = norm_statistics(torch.tensor([1.0, 2.0, 0.0, 1e-30], dtype=torch.float64))
        >>> s["count"], s["n_zero"], s["n_tiny"], s["max"]
        (4, 1, 1, 2.0)
    """
    x = norms.detach().cpu().numpy().astype(np.float64)
    if x.size == 0:
        return {"count": 0}
    median = float(np.median(x))
    tiny = (x > 0) & (x < TINY_NORM_RELATIVE * median)
    return {
        "count": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "quantiles": {
            str(q): float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)
        },
        "n_zero": int((x == 0).sum()),
        "n_tiny": int(tiny.sum()),
        "tiny_threshold": TINY_NORM_RELATIVE * median,
    }


def _usable_rows(
    W: torch.Tensor, drop_nonfinite: bool, progress: bool | None = False
) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None, int]:
    """Row norms, their statistics, the rows to keep (None: all) and the non-finite count.

    Zero rows have no direction and are excluded (the authors' ``w/‖w‖`` would make them
    NaN); rows with NaN/inf are an error unless ``drop_nonfinite``; tiny rows are kept and
    a warning names them.
    """
    norms = row_norms(W, progress=progress)  # float64; NaN/inf rows: non-finite norms
    return (norms, *_checked_norms(norms, drop_nonfinite))


def _checked_norms(
    norms: torch.Tensor, drop_nonfinite: bool
) -> tuple[dict[str, Any], torch.Tensor | None, int]:
    """The checks of :func:`_usable_rows` on the rows' norms: their statistics, the rows to keep
    (None: all) and the non-finite count."""
    finite = torch.isfinite(norms)
    bad = torch.nonzero(~finite).flatten()
    if bad.numel() and not drop_nonfinite:
        shown = ", ".join(str(int(i)) for i in bad[:10]) + (" ..." if bad.numel() > 10 else "")
        raise InvalidMatrixError(
            f"{bad.numel()} row(s) contain NaN or inf (rows {shown}); "
            "use drop_nonfinite=True to skip them",
            parameter="drop_nonfinite",
        )
    norm_stats = norm_statistics(norms[finite])
    norm_stats["n_nonfinite"] = int(bad.numel())
    if norm_stats.get("n_tiny"):
        tiny = torch.nonzero(finite & (norms > 0) & (norms < norm_stats["tiny_threshold"]))
        shown = ", ".join(str(int(i)) for i in tiny.flatten()[:10])
        warnings.warn(
            f"{norm_stats['n_tiny']} row(s) have norms below {TINY_NORM_RELATIVE:g} x the median "
            f"norm (rows {shown}{' ...' if tiny.numel() > 10 else ''}; smallest "
            f"{norm_stats['min']:.3g}): they are normalised exactly and measured, but look like "
            "padding or damage",
            stacklevel=4,
        )
    keep = finite & (norms > 0)
    row_index = None if bool(keep.all()) else torch.nonzero(keep).flatten()
    n_used = norms.numel() if row_index is None else row_index.numel()
    if n_used < 2:
        raise InvalidMatrixError(
            f"need at least 2 non-zero finite rows to measure overlaps, got {n_used} "
            f"(of {norms.numel()} rows)"
        )
    return norm_stats, row_index, int(bad.numel())


def _normalized(
    W: torch.Tensor,
    norms: torch.Tensor,
    row_index: torch.Tensor | None,
    center: bool,
    in_place_ok: bool,
    dev: torch.device,
    progress: bool | None = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """``(U, norms, row_index, rows dropped by centring)``: unit rows in float32 on ``dev`` and
    the float64 norms of the rows they were (after centring), one per row of ``U``."""
    X = W if row_index is None else W[row_index]  # indexing makes a private copy
    kept_norms = norms if row_index is None else norms[row_index]
    centre = mean_row(X).to(dev) if center else None
    ensure_fits(X.shape[0] * X.shape[1] * 4, "the normalised float32 matrix")
    in_place = (in_place_ok or row_index is not None) and X.dtype == torch.float32
    in_place = in_place and centre is None and dev.type == "cpu"
    X = X.to(dev)
    U, used_norms = normalize_rows(
        X, center=centre, out=X if in_place else None, norms=kept_norms.to(dev), progress=progress
    )
    # rows equal to the mean row (to float32 precision) have no direction after centring
    degenerate = used_norms <= 1e-7 * kept_norms.to(used_norms.device)
    dropped = int(degenerate.sum())
    if dropped:
        U = U[~degenerate]
        used_norms = used_norms[~degenerate]
        base = row_index if row_index is not None else torch.arange(W.shape[0])
        row_index = base[~degenerate.cpu()]
        if U.shape[0] < 2:
            raise InvalidMatrixError(
                "need at least 2 rows that differ from the mean row after centring, "
                f"got {U.shape[0]}"
            )
    return U, used_norms, row_index, dropped


@dataclass(frozen=True)
class UnitRows:
    """The unit rows a measurement uses and what was learnt making them."""

    U: torch.Tensor  # float32 unit rows on the device
    norms: torch.Tensor  # float64, the norm each row of U had (after centring)
    row_index: torch.Tensor | None  # the rows of W that U holds (None: all of them)
    norm_stats: dict[str, Any]
    n_nonfinite: int
    n_centre_dropped: int
    sums: tuple[torch.Tensor, torch.Tensor] | None  # gram.row_sums(U), when made in the same pass


def unit_rows(
    W: torch.Tensor,
    drop_nonfinite: bool,
    center: bool,
    in_place_ok: bool,
    dev: torch.device,
    progress: bool | None = False,
) -> UnitRows:
    """:func:`_usable_rows` then :func:`_normalized`, in one pass over ``W`` when not centring:
    norms, unit rows and their row sums together, the same checks on the norms afterwards, and
    the rows left out (zero, or non-finite and dropped) squeezed out of ``U`` in place.

    Example:
        >>> import torch
        >>> rows = unit_rows(torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 2.0]]), False, False,
        ...                  False, torch.device("cpu"))
        >>> rows.U.tolist(), rows.row_index.tolist(), rows.norms.tolist()
        ([[0.6000000238418579, 0.800000011920929], [0.0, 1.0]], [0, 2], [5.0, 2.0])
    """
    if center:
        norms, norm_stats, row_index, n_bad = _usable_rows(W, drop_nonfinite, progress)
        U, used, row_index, dropped = _normalized(
            W, norms, row_index, center, in_place_ok, dev, progress
        )
        return UnitRows(U, used, row_index, norm_stats, n_bad, dropped, None)
    ensure_fits(W.shape[0] * W.shape[1] * 4, "the normalised float32 matrix")
    in_place = in_place_ok and W.dtype == torch.float32 and dev.type == "cpu"
    X = W.to(dev)
    U, norms, sq, total = normalize_rows_with_sums(
        X, out=X if in_place else None, progress=progress
    )
    norm_stats, row_index, n_bad = _checked_norms(norms.cpu(), drop_nonfinite)
    if row_index is None:
        return UnitRows(U, norms, None, norm_stats, n_bad, 0, (sq, total))
    keep = row_index.to(U.device)
    k = keep.numel()
    for start, stop in chunks(k, CHUNK_ROWS):  # rows only move up: safe in place
        U[start:stop] = U[keep[start:stop]]
    U = U[:k]
    if n_bad:  # NaN rows spoilt the column sums: those of the rows kept
        total = row_sums(U)[1]
    return UnitRows(U, norms[keep], row_index, norm_stats, n_bad, 0, (sq[keep], total))
