"""The parts of a measurement's typed result (:class:`~llmgeom.geometry.result.MeasureResult`):
the random reference, the row norms, the frequency-weighted statistics and the spectrum, each a
frozen view of one block of the record; and the spectrum's table columns.

Example:
    >>> RowNorms.from_dict({"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}).mean
    1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..records.base import Estimate


@dataclass(frozen=True)
class Reference:
    """What the measured overlap is compared with
    (:func:`llmgeom.geometry.baselines.reference_values`): random unit vectors of the same width,
    the frame bound and the Welch bound."""

    random_mean_cos2: float
    random_std_cos2: float
    random_mean_abs_cos: float
    frame_bound_mean_cos2: float
    welch_bound_max_abs_cos: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reference:
        """The ``reference`` block of a record.

        Example:
            >>> from llmgeom.geometry.baselines import reference_values
            >>> Reference.from_dict(reference_values(10, 4)).random_mean_cos2
            0.25
        """
        nan = float("nan")
        return cls(**{k: float(d.get(k, nan)) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class RowNorms:
    """Summary of the row norms ``‖w_i‖`` (finite rows): ``quantiles`` maps ``"0.5"`` etc. to
    the norm; ``n_zero`` rows have no direction, ``n_tiny`` are below 1e-4 × the median."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    n_zero: int
    n_tiny: int
    n_nonfinite: int
    quantiles: Mapping[str, float]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RowNorms:
        """The ``row_norms`` block of a record.

        Example:
            >>> RowNorms.from_dict({"count": 2, "mean": 1.5, "min": 1.0, "max": 2.0}).max
            2.0
        """
        nan = float("nan")
        return cls(
            count=int(d.get("count", 0)),
            mean=float(d.get("mean", nan)),
            std=float(d.get("std", nan)),
            min=float(d.get("min", nan)),
            max=float(d.get("max", nan)),
            n_zero=int(d.get("n_zero", 0)),
            n_tiny=int(d.get("n_tiny", 0)),
            n_nonfinite=int(d.get("n_nonfinite", 0)),
            quantiles=MappingProxyType(
                {str(k): float(v) for k, v in d.get("quantiles", {}).items()}
            ),
        )


@dataclass(frozen=True)
class WeightedStats:
    """Frequency-weighted interference (:mod:`llmgeom.geometry.weights`), the ``weighted`` block:
    pairs weighted by ``p_i p_j`` with ``p`` the token counts normalised over the rows used."""

    effective_tokens: float
    weighted_mean_cos2: float
    m_times_weighted_mean_cos2: float
    weighted_mean_cos: float
    weighted_mean_abs_cos: Estimate | None
    counts_path: str | None
    counts_total: float
    rows_with_count: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WeightedStats:
        """The ``weighted`` block of a record.

        Example:
            >>> w = WeightedStats.from_dict({"effective_tokens": 2.0, "weighted_mean_cos2": 0.1,
            ...     "m_times_weighted_mean_cos2": 0.4, "weighted_mean_cos": 0.0,
            ...     "weighted_mean_abs_cos": 0.2, "abs_cos_method": "sample",
            ...     "weighted_mean_abs_cos_se": 0.01,
            ...     "weighted_mean_abs_cos_interval": [0.18, 0.22], "counts_total": 9.0})
            >>> w.weighted_mean_abs_cos
            Estimate(0.2 ± 0.01, 95% CI [0.18, 0.22], sample)
        """
        value, method = d.get("weighted_mean_abs_cos"), d.get("abs_cos_method")
        abs_cos = None
        if value is not None:
            interval = d.get("weighted_mean_abs_cos_interval") if method == "sample" else None
            abs_cos = Estimate(
                float(value),
                se=d.get("weighted_mean_abs_cos_se") if method == "sample" else None,
                ci95=None if interval is None else (float(interval[0]), float(interval[1])),
                method=str(method or "exact"),
            )
        nan = float("nan")
        return cls(
            effective_tokens=float(d.get("effective_tokens", nan)),
            weighted_mean_cos2=float(d.get("weighted_mean_cos2", nan)),
            m_times_weighted_mean_cos2=float(d.get("m_times_weighted_mean_cos2", nan)),
            weighted_mean_cos=float(d.get("weighted_mean_cos", nan)),
            weighted_mean_abs_cos=abs_cos,
            counts_path=d.get("counts_path"),
            counts_total=float(d.get("counts_total", nan)),
            rows_with_count=int(d.get("rows_with_count", 0)),
        )


@dataclass(frozen=True)
class Spectrum:
    """The spectrum of ``ŴᵀŴ`` (the unit rows' Gram matrix) and what it says, the record's
    ``spectrum`` block (:mod:`llmgeom.geometry.spectrum`, every formula there and on the
    statistics page): ``eigenvalues`` (largest first, ``m`` of them, summing to ``n_rows``),
    ``entropy_effective_rank`` (Roy & Vetterli), ``stable_rank_raw`` (``‖W‖_F²/‖W‖_2²`` of the
    rows before normalisation), ``marchenko_pastur_upper_edge`` ``(√n + √m)²/m`` and
    ``n_above_marchenko_pastur_edge``, ``packing_efficiency`` (frame bound / mean cos², None
    when ``n ≤ m``) and ``interference_top_k`` (``k`` → the fraction of mean cos² carried by
    the top ``k`` directions; None without interference).

    Example:
        >>> import torch, llmgeom
        >>> s = llmgeom.measure(torch.eye(3).repeat(2, 1), pairs="gram").spectrum
        >>> s.eigenvalues, s.packing_efficiency, s.interference_top_k[1]
        ((2.0, 2.0, 2.0), 1.0, 0.3333333333333333)

    The participation ratio ``(Σλ)²/Σλ²`` is not repeated here: it is
    :attr:`MeasureResult.participation_ratio` (the record's ``stats.participation_ratio``,
    in every record, also those written before the spectrum).
    """

    n_rows: int
    m: int
    eigenvalues: tuple[float, ...] = field(repr=False)
    entropy_effective_rank: float
    stable_rank_raw: float
    marchenko_pastur_upper_edge: float
    n_above_marchenko_pastur_edge: int
    packing_efficiency: float | None
    interference_top_k: Mapping[int, float | None]

    @classmethod
    def from_record(cls, block: Mapping[str, Any], stats: Mapping[str, Any]) -> Spectrum:
        """The ``spectrum`` block of a record, with its ``stats`` (rows and width).

        Example:
            >>> s = Spectrum.from_record({"eigenvalues": [3.0, 1.0], "entropy_effective_rank":
            ...     1.9, "stable_rank_raw": 1.5, "marchenko_pastur_upper_edge": 3.9,
            ...     "n_above_marchenko_pastur_edge": 0, "packing_efficiency": 0.5,
            ...     "interference_top_k": {"1": 1.0, "2": 1.0}},
            ...     {"n_rows_used": 4, "m": 2})
            >>> s.eigenvalues, s.n_rows, dict(s.interference_top_k)
            ((3.0, 1.0), 4, {1: 1.0, 2: 1.0})
        """
        efficiency = block.get("packing_efficiency")
        fractions = block.get("interference_top_k") or {}
        return cls(
            n_rows=int(stats["n_rows_used"]),
            m=int(stats["m"]),
            eigenvalues=tuple(float(v) for v in block["eigenvalues"]),
            entropy_effective_rank=float(block["entropy_effective_rank"]),
            stable_rank_raw=float(block["stable_rank_raw"]),
            marchenko_pastur_upper_edge=float(block["marchenko_pastur_upper_edge"]),
            n_above_marchenko_pastur_edge=int(block["n_above_marchenko_pastur_edge"]),
            packing_efficiency=None if efficiency is None else float(efficiency),
            interference_top_k=MappingProxyType(
                {int(k): None if v is None else float(v) for k, v in fractions.items()}
            ),
        )

    def figure(self, ax: Any = None) -> Any:
        """The eigenvalue density against the Marchenko–Pastur law
        (:func:`llmgeom.geometry.spectrum_plot.plot_spectrum`)."""
        from .spectrum_plot import plot_spectrum

        return plot_spectrum(self, ax)


#: The ``spectrum`` block's numbers as table columns, in ``summary.csv``
#: (:mod:`llmgeom.report.summary`) and :func:`llmgeom.to_pandas` alike, beside the
#: ``participation_ratio`` (a statistic: ``stats``): the block's own names, and
#: ``interference_top_1`` for ``interference_top_k["1"]``; not the eigenvalues.
SPECTRUM_COLUMNS = (
    "entropy_effective_rank", "stable_rank_raw", "n_above_marchenko_pastur_edge",
    "packing_efficiency", "interference_top_1",
)  # fmt: skip


def spectrum_columns(block: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :data:`SPECTRUM_COLUMNS` of a record's ``spectrum`` block, as recorded; all None
    for a record without one (written before the spectrum).

    Example:
        >>> spectrum_columns({"entropy_effective_rank": 1.9, "stable_rank_raw": 1.5,
        ...     "n_above_marchenko_pastur_edge": 0, "packing_efficiency": None,
        ...     "interference_top_k": {"1": 0.75, "2": 1.0}})["interference_top_1"]
        0.75
        >>> set(spectrum_columns(None).values())
        {None}
    """
    if block is None:
        return dict.fromkeys(SPECTRUM_COLUMNS)
    fractions = block.get("interference_top_k") or {}
    values = {**block, "interference_top_1": fractions.get("1")}
    return {key: values.get(key) for key in SPECTRUM_COLUMNS}
