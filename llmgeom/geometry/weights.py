"""Token counts as row weights: the frequency-weighted interference of ``measure --weights``.

A counts file is a ``.npz`` holding ``counts`` (what ``llmgeom freq`` writes): one non-negative
count ``c_i`` per token id, i.e. per row of the head. Over the rows a measurement uses, with
``p_i = c_i / Σc``, it reports (the ``weighted`` block of a result, see
:mod:`llmgeom.records.measurement`)::

    weighted_mean_cos2    = Σ_{i≠j} p_i p_j cos²_ij  / Σ_{i≠j} p_i p_j   (exact: Gram identity)
    weighted_mean_abs_cos = Σ_{i≠j} p_i p_j |cos_ij| / Σ_{i≠j} p_i p_j   (exact pass, or
                            estimated from pairs drawn by weight, 95 % interval, when sampling)
    effective_tokens      = 1 / Σ p_i²

Counts shorter than the head are padded with zeros (rows that never occur get weight 0);
longer counts are an error (they were made with another tokenizer). Rows the measurement
excludes (zero rows, rows beyond the tokenizer, rows equal to the mean once centred) take their
counts with them, and the block says how much of the count mass that was.

Example:
    >>> counts = load_counts(np.array([3, 0, 1]))
    >>> counts.total, counts.aligned(5).tolist()
    (4.0, [3.0, 0.0, 1.0, 0.0, 0.0])
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InsufficientMemoryError, SourceNotFoundError
from ..memory import ensure_fits
from ..sources.formats.npy_header import HEADER_ERRORS, announced_nbytes

try:
    from lzma import LZMAError
except ImportError:  # pragma: no cover - Python built without lzma (zipfile copes too)
    LZMAError = zlib.error  # type: ignore[assignment,misc]

COUNTS_KEY = "counts"
# of the record's ``weighted`` block (llmgeom.records.measurement documents its fields)
BLOCK_VERSION = 1
DEFINITION = (
    "p_i = c_i / sum(c) over the rows used; weighted mean of x = "
    "sum_{i!=j} p_i p_j x_ij / sum_{i!=j} p_i p_j; effective_tokens = 1 / sum(p_i^2)"
)


@dataclass(frozen=True)
class TokenCounts:
    """Validated token counts (float64: exact for integer counts below 2**53) and their origin."""

    counts: np.ndarray
    path: str | None = None
    sha256: str | None = None

    @property
    def total(self) -> float:
        """Σc."""
        return float(self.counts.sum())

    def aligned(self, n_rows: int) -> np.ndarray:
        """The counts as one weight per head row: zero-padded; longer counts are an error.

        Example:
            >>> load_counts([1, 2, 3]).aligned(2)
            Traceback (most recent call last):
            ...
            llmgeom.errors.ConfigError: token counts (array): 3 counts but the head has only...
        """
        k = self.counts.size
        if k > n_rows:
            raise ConfigError(
                f"token counts ({self.path or 'array'}): {k} counts but the head has only "
                f"{n_rows} rows (index = token id: counts from another tokenizer?)"
            )
        out = np.zeros(n_rows, dtype=np.float64)
        out[:k] = self.counts
        return out


# a malformed header (numpy's), a member compressed by an unknown method or encrypted
# (NotImplementedError, RuntimeError), or corrupt compressed data
_UNREADABLE: tuple[type[BaseException], ...] = (
    *HEADER_ERRORS,
    OSError,
    zipfile.BadZipFile,
    RuntimeError,
    zlib.error,
    LZMAError,
)


def _read_npz(path: Path) -> tuple[np.ndarray, str]:
    """``counts`` from a ``.npz`` (``allow_pickle=False``: nothing in the file runs) and the
    SHA-256 of the bytes they were read from (the file is read once)."""
    if not path.is_file():
        raise SourceNotFoundError(f"token counts: no such file: {path}")
    try:
        raw = path.read_bytes()
        if raw[:6] == b"\x93NUMPY":
            raise ConfigError(f"token counts: {path} is a bare array, not a .npz holding 'counts'")
        if not raw.startswith(b"PK"):  # .npz files are zip archives
            raise ConfigError(f"token counts: {path} is not a .npz file (no zip header)")
        data = np.load(io.BytesIO(raw), allow_pickle=False)
        with data:
            if COUNTS_KEY not in data.files:
                raise ConfigError(
                    f"token counts: {path} holds no array named {COUNTS_KEY!r} "
                    f"(it has: {', '.join(data.files) or 'nothing'})"
                )
            _check_announced_size(data.zip, path)
            return data[COUNTS_KEY], hashlib.sha256(raw).hexdigest()
    except (ConfigError, InsufficientMemoryError):
        raise
    except _UNREADABLE as err:
        raise ConfigError(
            f"token counts: {path} is not a readable .npz file ({err or type(err).__name__})"
        ) from None


def _check_announced_size(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse a ``counts`` member whose header announces more bytes than the member holds (numpy
    would allocate them all before reading: 10^15 counts must not) or than memory allows."""
    names = archive.namelist()
    name = COUNTS_KEY if COUNTS_KEY in names else f"{COUNTS_KEY}.npy"  # numpy's lookup order
    with archive.open(name) as member:
        if member.read(6) != b"\x93NUMPY":
            return  # not an array: numpy hands back its bytes (refused below as not numbers)
    with archive.open(name) as member:
        announced = announced_nbytes(member)
        holds = archive.getinfo(name).file_size - member.tell()
    if announced > holds:
        raise ConfigError(
            f"token counts: {path}: the array header announces {announced} bytes but the member "
            f"holds {max(holds, 0)} (truncated or corrupt .npz file)"
        )
    ensure_fits(announced, f"token counts {path}")


def load_counts(weights: Any) -> TokenCounts:
    """Read and check token counts: a ``.npz`` path, an array of counts, or :class:`TokenCounts`.

    The counts must be a 1-D array of finite, non-negative numbers, not all zero.

    Example:
        >>> load_counts(np.array([1.0, -2.0]))
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: token counts (array): 1 negative count(s) (first at token...
    """
    if isinstance(weights, TokenCounts):
        return weights
    path: Path | None = None
    sha256: str | None = None
    if isinstance(weights, str | os.PathLike):
        path = Path(weights)
        raw, sha256 = _read_npz(path)
    else:
        raw = weights
    where = f"token counts ({path or 'array'})"
    try:
        array = np.asarray(raw)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: not an array of numbers ({err})") from None
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise ConfigError(f"{where}: counts must be integers or floats, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ConfigError(f"{where}: counts must be 1-D (one per token id), not {array.shape}")
    counts = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(counts))
    if bad.size:
        raise ConfigError(
            f"{where}: {bad.size} non-finite count(s) (first at token id {bad[0]}: {array[bad[0]]})"
        )
    negative = np.flatnonzero(counts < 0)
    if negative.size:
        i = negative[0]
        raise ConfigError(
            f"{where}: {negative.size} negative count(s) (first at token id {i}: {array[i]})"
        )
    if not counts.any():
        raise ConfigError(f"{where}: every count is zero")
    return TokenCounts(
        counts=counts,
        path=None if path is None else str(path),
        sha256=sha256,
    )


@dataclass(frozen=True)
class RowWeights:
    """The weights of the rows a measurement uses, and what happened to the others."""

    p: np.ndarray  # one per used row, summing to 1
    facts: dict[str, Any]


def row_weights(
    counts: TokenCounts, n_rows: int, n_selected: int, row_index: np.ndarray | None
) -> RowWeights:
    """Weights ``p`` of the rows used (the first ``n_selected`` rows, then ``row_index``).

    Example:
        >>> w = row_weights(load_counts([2, 0, 1, 1]), 6, 6, np.array([0, 1, 2, 4, 5]))
        >>> w.p.tolist(), w.facts["count_mass_excluded"], w.facts["rows_without_count"]
        ([0.6666666666666666, 0.0, 0.3333333333333333, 0.0, 0.0], 0.25, 3)
    """
    full = counts.aligned(n_rows)
    used = full[:n_selected]
    if row_index is not None:
        used = used[np.asarray(row_index)]
    total, kept = float(full.sum()), float(used.sum())
    with_count = int(np.count_nonzero(used))
    if with_count < 2:
        raise ConfigError(
            f"token counts ({counts.path or 'array'}): {with_count} of the {used.size} rows "
            "used have a non-zero count; weighted pair statistics need at least 2"
        )
    facts = {
        "counts_length": int(counts.counts.size),
        "counts_total": total,
        "rows_padded": max(0, n_rows - int(counts.counts.size)),
        "rows_used": int(used.size),
        "rows_with_count": with_count,
        "rows_without_count": int(used.size) - with_count,
        "count_mass_excluded": (total - kept) / total,
    }
    return RowWeights(p=used / kept, facts=facts)


def weighted_block(
    counts: TokenCounts,
    weights: RowWeights,
    gram: dict[str, float],
    pairs: dict[str, Any] | None,
    method: str | None,
    m: int,
) -> dict[str, Any]:
    """The record's ``weighted`` block from the weighted Gram statistics and the pair pass.

    ``pairs`` holds ``weighted_abs_sum`` (unordered pairs) from the exact pass, or, sampled
    (:func:`llmgeom.geometry.sampling.weighted_sampled_abs`: pairs drawn by weight),
    ``weighted_mean_abs_cos`` with its SE, interval and ``pairs_drawn``; ``method`` says which.
    """
    pair_weight = gram["pair_weight"]  # Σ_{i≠j} p_i p_j, ordered pairs
    block: dict[str, Any] = {
        "version": BLOCK_VERSION,
        "definition": DEFINITION,
        "counts_path": counts.path,
        "counts_sha256": counts.sha256,
        **weights.facts,
        "effective_tokens": gram["effective_rows"],
        "weighted_mean_cos2": gram["weighted_mean_cos2"],
        "m_times_weighted_mean_cos2": m * gram["weighted_mean_cos2"],
        "weighted_mean_cos": gram["weighted_mean_cos"],
        "weighted_mean_abs_cos": None,
        "abs_cos_method": None,
    }
    if pairs is not None and method == "exact":  # the pass sums unordered pairs i<j
        block["weighted_mean_abs_cos"] = 2.0 * pairs["weighted_abs_sum"] / pair_weight
    elif pairs is not None:
        block["weighted_mean_abs_cos"] = pairs["weighted_mean_abs_cos"]
        block["weighted_mean_abs_cos_se"] = pairs["weighted_mean_abs_cos_se"]
        block["weighted_mean_abs_cos_interval"] = pairs["weighted_mean_abs_cos_interval"]
        block["pairs_drawn_by_weight"] = pairs["pairs_drawn"]
        block["stopped_by"] = pairs["stopped_by"]
    if pairs is not None:
        block["abs_cos_method"] = method
    return block
