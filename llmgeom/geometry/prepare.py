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
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, InvalidMatrixError
from ..memory import ensure_fits
from ..unembedding import Unembedding
from .normalize import mean_row, normalize_rows, row_norms

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
            stacklevel=3,
        )
    keep = finite & (norms > 0)
    row_index = None if bool(keep.all()) else torch.nonzero(keep).flatten()
    n_used = W.shape[0] if row_index is None else row_index.numel()
    if n_used < 2:
        raise InvalidMatrixError(
            f"need at least 2 non-zero finite rows to measure overlaps, got {n_used} "
            f"(of {W.shape[0]} rows)"
        )
    return norms, norm_stats, row_index, int(bad.numel())


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
