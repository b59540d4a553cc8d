"""Typed, frozen results of the three fits: :class:`OverlapFit`, :class:`WidthLossFit`,
:class:`ChinchillaFit`.

Each holds the headline values as attributes, the fitted law (``.law``, with ``predict``) and the
JSON payload ``llmgeom fit`` writes (``to_dict()``: the law's ``to_dict`` plus where the data
came from). ``from_dict``/``load`` rebuild a result without refitting, so
``from_dict(r.to_dict()).to_dict() == r.to_dict()``; ``save(out_dir)`` writes ``<stem>.json``
and ``<stem>.png`` atomically.

Example:
    >>> import tempfile
    >>> from llmgeom.fits import fit_chinchilla
    >>> r = fit_chinchilla()
    >>> r
    ChinchillaFit(k=2.5226 ± 0.0258, alpha_m=0.8829 ± 0.0595 (linear), n_models=50)
    >>> json_path, png_path = r.save(tempfile.mkdtemp())
    >>> ChinchillaFit.load(json_path) == r, json_path.name, png_path.name
    (True, 'chinchilla_fit.json', 'chinchilla_fit.png')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError, FitError, LlmgeomError
from ..records.base import TypedResult
from . import chinchilla, overlap_law, width_loss
from ._restore import num, pair
from .chinchilla import ChinchillaCheck
from .migration import migrate_fit
from .overlap_law import OverlapLaw
from .width_loss import WidthLossLaw

R = TypeVar("R", bound="FitResult")

#: What the ``table`` key of a Chinchilla result says for the shipped table.
SHIPPED_CHINCHILLA_TABLE = "configs/chinchilla_table_a9.csv"


@dataclass(frozen=True, eq=False, repr=False)
class FitResult(TypedResult):
    """Common part of the fit results: the fitted ``law`` and the JSON payload (private); the
    rest (``to_dict``, ``load``, the repr) is :class:`~llmgeom.records.TypedResult`'s."""

    law: Any = field(kw_only=True)

    LAW: ClassVar[Any]  # the law class, with from_dict
    MISMATCH_ERROR: ClassVar[type[LlmgeomError]] = FitError

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The result back from :meth:`to_dict` (or the JSON ``save`` wrote), without refitting;
        a result of the former version is migrated first
        (:func:`~llmgeom.fits.migration.migrate_fit`)."""
        record = migrate_fit(dict(data))
        return cls._build(record, law=cls.LAW.from_dict(record))

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        from .io import load_fit

        return load_fit(path)

    @property
    def stem(self) -> str:
        """File name (without suffix) of the JSON and PNG."""
        raise NotImplementedError  # pragma: no cover - every subclass names its files

    def summary(self) -> str:
        """The one-screen text ``llmgeom fit`` prints."""
        return str(self.law.summary())

    def figure(self, ax: Any = None) -> Any:
        """The figure of the fit, drawn into ``ax`` (a new figure if omitted)."""
        raise NotImplementedError  # pragma: no cover - every subclass draws its figure

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``<stem>.json`` and ``<stem>.png`` into ``out_dir`` atomically; their paths."""
        from .. import plotting
        from .io import write_fit_outputs
        from .plots import PNG_DPI

        png = plotting.png_bytes(self.figure(), dpi=PNG_DPI)
        try:
            return write_fit_outputs(out_dir, self.stem, self.to_dict(), png)
        except OSError as err:
            raise ConfigError(f"cannot write into {out_dir}: {err.strerror or err}") from None


def _pm(value: float, se: float) -> str:
    return f"{value:.4f} ± {se:.4f}"


@dataclass(frozen=True, eq=False, repr=False)
class OverlapFit(FitResult):
    """The overlap-vs-width law ``ln(mean cos²) = a_family − s ln m`` (:func:`fit_overlap`).

    Example:
        >>> from llmgeom.fits import fit_overlap
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.csv"
        >>> rows = [f"m{m},f,{m},{3 / m}" for m in (256, 512, 1024)]
        >>> _ = p.write_text("model,family,m,mean_cos2\\n" + "\\n".join(rows) + "\\n")
        >>> r = fit_overlap([p], n_bootstrap=0)
        >>> round(r.slope, 6), r.n_models, r.width
        (1.0, 3, 'head')
    """

    slope: float
    slope_se: float
    slope_ci_t: tuple[float, float]
    slope_ci_bootstrap: tuple[float, float]
    r2: float
    r2_within_family: float
    n_models: int
    families: tuple[str, ...]
    intercepts: Mapping[str, float]
    width: str
    inputs: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what reading the inputs skipped or decided (not in the JSON)

    LAW: ClassVar[Any] = OverlapLaw
    SCHEMA: ClassVar[str] = overlap_law.SCHEMA

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "slope": num(d["slope"]),
            "slope_se": num(d["slope_se"]),
            "slope_ci_t": pair(d["slope_ci_t"]),
            "slope_ci_bootstrap": pair(d["slope_ci_bootstrap"]),
            "r2": num(d["r2"]),
            "r2_within_family": num(d["r2_within_family"]),
            "n_models": int(d["n_models"]),
            "families": tuple(d["families"]),
            "intercepts": MappingProxyType(dict(d["intercepts"])),
            "width": str(d.get("width", "head")),
            "inputs": tuple(d.get("inputs", ())),
        }

    @property
    def stem(self) -> str:
        """``overlap_fit``."""
        return "overlap_fit"

    def figure(self, ax: Any = None) -> Any:
        """Mean cos² against m with the fitted lines (:func:`~llmgeom.fits.plots.plot_overlap`)."""
        from .plots import plot_overlap

        return plot_overlap(self.law, ax)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("slope", _pm(self.slope, self.slope_se)),
            ("r2", f"{self.r2:.4g}"),
            ("n_models", str(self.n_models)),
            ("families", str(len(self.families))),
            ("width", repr(self.width)),
        ]


@dataclass(frozen=True, eq=False, repr=False)
class WidthLossFit(FitResult):
    """The width-loss law ``L = C/m^α + L0(family, corpus)`` (:func:`fit_loss`).

    Example:
        >>> import tempfile, pathlib
        >>> from llmgeom.fits import fit_loss, write_loss_table
        >>> from llmgeom.paper.published import paper_implied_losses
        >>> table = write_loss_table(pathlib.Path(tempfile.mkdtemp()) / "l.csv",
        ...                          paper_implied_losses())
        >>> r = fit_loss(table, n_bootstrap=0)
        >>> round(r.alpha, 3), r.loss, r.n_points
        (0.91, 'ls', 108)
    """

    loss: str
    alpha: float
    C: float
    alpha_se_authors: float
    se_rule: str
    column: str
    alpha_ci_authors: tuple[float, float]
    alpha_ci_bootstrap: tuple[float, float]
    offsets_L0: Mapping[str, Mapping[str, float]]
    rms_residual: float
    n_points: int
    input: str | None

    LAW: ClassVar[Any] = WidthLossLaw
    SCHEMA: ClassVar[str] = width_loss.SCHEMA

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        offsets = {f: MappingProxyType(dict(by)) for f, by in d["offsets_L0"].items()}
        return {
            "loss": str(d["loss"]),
            "alpha": num(d["alpha"]),
            "C": num(d["C"]),
            "alpha_se_authors": num(d["alpha_se_authors"]),
            "se_rule": str(d["se_rule"]),
            "column": str(d.get("column", "loss")),
            "alpha_ci_authors": pair(d["alpha_ci_authors"]),
            "alpha_ci_bootstrap": pair(d["alpha_ci_bootstrap"]),
            "offsets_L0": MappingProxyType(offsets),
            "rms_residual": num(d["rms_residual"]),
            "n_points": int(d["n_points"]),
            "input": d.get("input"),
        }

    @property
    def stem(self) -> str:
        """``width_loss_fit_ls`` or ``width_loss_fit_huber``; ``…_authors`` when the authors'
        weighting (``column="loss_authors_weighting"``) was fitted, so that both fits of one
        table can be saved into one folder."""
        suffix = "" if self.column == "loss" else "_authors"
        return f"width_loss_fit_{self.loss}{suffix}"

    def figure(self, ax: Any = None) -> Any:
        """The data collapse ``L − L0`` against m (:func:`~llmgeom.fits.plots.plot_width_loss`)."""
        from .plots import plot_width_loss

        return plot_width_loss(self.law, ax)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("alpha", f"{self.alpha:.4g}"),
            ("C", f"{self.C:.4g}"),
            ("loss", repr(self.loss)),
            ("n_points", str(self.n_points)),
            ("offsets_L0", str(sum(len(by) for by in self.offsets_L0.values()))),
        ]


@dataclass(frozen=True, eq=False, repr=False)
class ChinchillaFit(FitResult):
    """``N = A·d_model^k`` and the width exponent ``α_m = k·α_N`` (:func:`fit_chinchilla`).

    Example:
        >>> from llmgeom.fits import fit_chinchilla
        >>> r = fit_chinchilla(propagation="quadrature")
        >>> round(r.k, 4), round(r.alpha_m, 2), round(r.alpha_m_err, 3)
        (2.5226, 0.88, 0.051)
    """

    k: float
    k_se: float
    k_ci95_t: tuple[float, float]
    r2: float
    alpha_n: float
    alpha_n_se: float
    alpha_m: float
    alpha_m_err: float
    propagation: str
    n_models: int
    table: str

    LAW: ClassVar[Any] = ChinchillaCheck
    SCHEMA: ClassVar[str] = chinchilla.SCHEMA

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "k": num(d["k"]),
            "k_se": num(d["k_se"]),
            "k_ci95_t": pair(d["k_ci95_t"]),
            "r2": num(d["r2"]),
            "alpha_n": num(d["alpha_n"]),
            "alpha_n_se": num(d["alpha_n_se"]),
            "alpha_m": num(d["alpha_m"]),
            "alpha_m_err": num(d["alpha_m_err"]),
            "propagation": str(d["propagation"]),
            "n_models": int(d["n_models"]),
            "table": str(d.get("table", SHIPPED_CHINCHILLA_TABLE)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChinchillaFit:
        """The result back from :meth:`to_dict`; the model table (for the figure) is read
        again from ``data["table"]`` where that file can still be read."""
        result = super().from_dict(data)
        table = _size_table(result.table)
        if table is not None:
            result.law.params_, result.law.d_model_ = table.params, table.d_model
        return result

    @property
    def stem(self) -> str:
        """``chinchilla_fit``."""
        return "chinchilla_fit"

    def figure(self, ax: Any = None) -> Any:
        """Parameters against d_model (:func:`~llmgeom.fits.plots.plot_chinchilla`)."""
        from .plots import plot_chinchilla

        return plot_chinchilla(self.law, ax)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("k", _pm(self.k, self.k_se)),
            ("alpha_m", f"{_pm(self.alpha_m, self.alpha_m_err)} ({self.propagation})"),
            ("n_models", str(self.n_models)),
        ]


def _size_table(label: str) -> Any:
    """The size table a Chinchilla result names, or None where it cannot be read."""
    from ..configs import config_path
    from .chinchilla import DEFAULT_TABLE
    from .tables import read_size_table

    path = config_path(DEFAULT_TABLE) if label == SHIPPED_CHINCHILLA_TABLE else Path(label)
    try:
        return read_size_table(path)
    except (LlmgeomError, OSError):
        return None
