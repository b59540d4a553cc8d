"""The typed result of a measurement: :class:`MeasureResult`, what :func:`llmgeom.measure`
returns and :meth:`MeasureResult.load` reads back from a ``llmgeom measure`` JSON file.

The headline statistics are attributes (``r.mean_cos2``, ``r.mean_abs_cos.value`` and, when
sampled, ``r.mean_abs_cos.ci95``); the internals of the passes (blocked sums, block rows, matmul
FLOPs, the pair count, the sampling design, timings) are in the read-only mapping
``r.diagnostics``;
``r.to_dict()`` is the record exactly as written (:mod:`llmgeom.records.measurement`).

Example:
    >>> import torch, llmgeom
    >>> r = llmgeom.measure(torch.tensor([[3.0, 0], [0, 1], [1, 1]]), pairs="exact")
    >>> r  # doctest: +ELLIPSIS
    MeasureResult(name='<array>', m=2, n_rows_used=3, mean_cos2=0.3333, ..., pairs='exact')
    >>> round(r.mean_cos2, 6), r.mean_abs_cos, round(r.max_abs_cos, 6)  # cos: 0, 1/√2, 1/√2
    (0.333333, Estimate(0.4714 (exact)), 0.707107)
    >>> r.diagnostics["n_pairs"], MeasureResult.from_dict(r.to_dict()) == r
    (3, True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..records.base import Estimate, TypedResult, fmt, frozen_mapping
from .result_parts import (
    Reference,
    RowNorms,
    Spectrum,
    WeightedStats,
    spectrum_columns,
)

#: ``stats`` keys that are attributes of :class:`MeasureResult`; every other key of ``stats``
#: is a diagnostic.
HEADLINE_STATS = frozenset(
    {
        "n_rows_used", "m", "mean_cos2", "m_times_mean_cos2", "mean_cos", "mean_abs_cos",
        "std_abs_cos", "max_abs_cos", "mean_max_abs_cos", "participation_ratio",
        "top_eigen_fraction", "abs_cos_method",
    }
)  # fmt: skip


def _estimate(stats: Mapping[str, Any], key: str, method: str | None) -> Estimate | None:
    """``stats[key]`` as an :class:`Estimate`: exact, or sampled with the sampler's standard
    error and interval."""
    sampled = stats.get("sampled") or {}
    if method == "sample" and key in sampled:
        se = (sampled.get("standard_error") or {}).get(key)
        interval = (sampled.get("interval") or {}).get(key)
        return Estimate(
            float(sampled[key]),
            se=None if se is None else float(se),
            ci95=None if interval is None else (float(interval[0]), float(interval[1])),
            method="sample",
        )
    value = stats.get(key)
    return None if value is None else Estimate(float(value))


@dataclass(frozen=True, eq=False, repr=False)
class MeasureResult(TypedResult):
    """One measured output embedding (schema ``llmgeom.measurement/2``).

    Model: ``name`` (the user's label, else the repo id, else the file name), ``source``,
    ``family``, ``n_rows`` (rows of the head), ``d_model``, ``model`` (all provenance). Run:
    ``variant`` (``raw``, ``tokenizer-rows``, ``+centered``), ``pairs`` (the pass that ran:
    ``exact``, ``sample`` or ``gram``), ``options``, ``created``. Statistics over the
    ``n_rows_used`` rows of width ``m``: ``mean_cos2`` (always exact), ``m_times_mean_cos2``,
    ``mean_cos``, ``participation_ratio``, ``top_eigen_fraction``; ``mean_abs_cos``,
    ``std_abs_cos`` and ``mean_max_abs_cos`` as :class:`~llmgeom.records.Estimate` (None after
    a Gram-only run); ``max_abs_cos`` (exact pass only); ``reference``, ``row_norms``,
    ``weighted`` (with token counts), ``spectrum`` (:class:`Spectrum`, every pass; None in
    records written before it); ``diagnostics``: the internals.

    Example:
        >>> import torch
        >>> from llmgeom.geometry.measurement import measure
        >>> r = measure(torch.randn(2000, 8, generator=torch.Generator().manual_seed(0)),
        ...             pairs="sample", sample_rows=50, progress=False)
        >>> e = r.mean_abs_cos
        >>> e.method, e.ci95[0] < e.value < e.ci95[1], r.max_abs_cos, r.pairs
        ('sample', True, None, 'sample')
    """

    name: str
    source: str
    family: str | None
    n_rows: int
    d_model: int | None
    variant: str
    pairs: str
    n_rows_used: int
    m: int
    mean_cos2: float
    m_times_mean_cos2: float
    mean_cos: float | None
    mean_abs_cos: Estimate | None
    std_abs_cos: Estimate | None
    max_abs_cos: float | None
    mean_max_abs_cos: Estimate | None
    participation_ratio: float
    top_eigen_fraction: float
    reference: Reference
    row_norms: RowNorms
    weighted: WeightedStats | None
    spectrum: Spectrum | None
    model: Mapping[str, Any]
    options: Mapping[str, Any]
    created: str | None
    diagnostics: Mapping[str, Any]
    #: per-token max |cos| and partner of the exact pass (for ``--save-arrays``; not in the
    #: record, so empty after ``load``)
    arrays: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: with ``fold_norm``: the final norm measured with the head (``kind``, ``weight``, ``bias``
    #: tensor names, ``convention``), from the record's ``variant.final_norm``; else None
    final_norm: Mapping[str, Any] | None = None
    #: with ``fold_norm`` and a LayerNorm bias b: the per-token logit offsets ``b · w_j`` (float64
    #: array, one per row of the head; ``llmgeom measure`` saves it as ``.logit_offset.npy``;
    #: not in the record, so None after ``load``)
    logit_offset: Any = field(default=None, repr=False, compare=False)

    SCHEMA: ClassVar[str] = "llmgeom.measurement/2"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasureResult:
        """The result of a record (:meth:`to_dict`); a record of the former version
        ``llmgeom.measurement/1`` is migrated first
        (:func:`llmgeom.records.measurement.migrate_record`)."""
        from ..records.measurement import SCHEMA_V1, migrate_record

        return cls._build(migrate_record(dict(data)) if data.get("schema") == SCHEMA_V1 else data)

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        from ..records.measurement import abs_cos_method, model_label

        model, stats, variant = d["model"], d["stats"], d["variant"]
        method = abs_cos_method(stats)
        mean_cos2, m = float(stats["mean_cos2"]), int(stats["m"])
        diagnostics = dict(d.get("diagnostics", {}))
        diagnostics |= {k: v for k, v in stats.items() if k not in HEADLINE_STATS}
        for block in ("variant", "timings", "environment"):
            diagnostics[block] = d.get(block, {})
        weighted, spectrum = d.get("weighted"), d.get("spectrum")
        return {
            "name": model_label(model),
            "source": str(model["source"]),
            "family": model.get("family"),
            "n_rows": int(model.get("n_rows", variant.get("n_rows_total", 0))),
            "d_model": model.get("d_model"),
            "variant": str(variant["name"]),
            "pairs": str(variant["pairs"]),
            "n_rows_used": int(stats["n_rows_used"]),
            "m": m,
            "mean_cos2": mean_cos2,
            "m_times_mean_cos2": float(stats.get("m_times_mean_cos2", m * mean_cos2)),
            "mean_cos": stats.get("mean_cos"),
            "mean_abs_cos": _estimate(stats, "mean_abs_cos", method),
            "std_abs_cos": _estimate(stats, "std_abs_cos", method),
            "max_abs_cos": stats.get("max_abs_cos") if method == "exact" else None,
            "mean_max_abs_cos": _estimate(stats, "mean_max_abs_cos", method),
            "participation_ratio": float(stats.get("participation_ratio", float("nan"))),
            "top_eigen_fraction": float(stats.get("top_eigen_fraction", float("nan"))),
            "reference": Reference.from_dict(d.get("reference", {})),
            "row_norms": RowNorms.from_dict(d.get("row_norms", {})),
            "weighted": None if weighted is None else WeightedStats.from_dict(weighted),
            "spectrum": None if spectrum is None else Spectrum.from_record(spectrum, stats),
            "final_norm": frozen_mapping(variant["final_norm"])
            if "final_norm" in variant
            else None,
            "model": frozen_mapping(model),
            "options": frozen_mapping(d.get("options")),
            "created": d.get("created"),
            "diagnostics": frozen_mapping(diagnostics),
        }

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        from ..records.measurement import load_record

        return load_record(path)

    def summary(self) -> str:
        """The few lines ``llmgeom measure`` prints
        (:func:`llmgeom.records.summary.summarize`)."""
        from ..records.summary import summarize

        return summarize(self._payload)

    def figure(self, ax: Any = None) -> Any:
        """The cos histogram against random vectors' and the row norms
        (:func:`llmgeom.geometry.plot.plot_measurement`); the spectrum's figure is
        ``spectrum.figure()``."""
        from .plot import plot_measurement

        return plot_measurement(self, ax)

    def columns(self) -> dict[str, Any]:
        """The headline values as table columns; with token counts also the weighted ones."""
        out = super().columns()
        out.pop("weighted", None)
        out |= spectrum_columns(self._payload.get("spectrum"))
        if self.weighted is not None:
            abs_cos = self.weighted.weighted_mean_abs_cos
            out |= {
                "weighted_mean_cos2": self.weighted.weighted_mean_cos2,
                "weighted_mean_abs_cos": None if abs_cos is None else abs_cos.value,
                "effective_tokens": self.weighted.effective_tokens,
            }
        return out

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("name", repr(self.name)),
            ("m", str(self.m)),
            ("n_rows_used", str(self.n_rows_used)),
            ("mean_cos2", fmt(self.mean_cos2)),
        ]
        if self.mean_abs_cos is not None:
            rows.append(("mean_abs_cos", self.mean_abs_cos.text()))
        if self.weighted is not None:
            rows.append(("weighted_mean_cos2", fmt(self.weighted.weighted_mean_cos2)))
        return [*rows, ("pairs", repr(self.pairs))]
