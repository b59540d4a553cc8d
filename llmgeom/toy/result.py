"""Typed results of the toy model: a :class:`ToyResult` per experiment, a :class:`ToyRunResult`
per (γ, α, seed) run, a :class:`WidthResult` per width, a :class:`SeedGroup` per (γ, α, ...)
over its seeds (α_m mean ± spread over seeds beside the per-run fit SE).

The JSON document (schema ``llmgeom.toy.result/2``, :func:`llmgeom.toy.report.summarize`) stays
the on-disk form: ``to_dict()`` returns it exactly, ``from_dict``/``load`` read it back (the
checks of :func:`llmgeom.toy.report.load_result`), ``save`` writes what ``llmgeom toy run``
writes. The headline values are attributes.

Example:
    >>> import tempfile
    >>> from llmgeom.toy import ToyConfig, ToyRun, run_toy
    >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
    ...                 runs=(ToyRun(gamma=-1.0),))
    >>> r = run_toy(cfg)
    >>> r.runs[0].regime, [w.m for w in r.runs[0].widths]
    ('strong', [3, 5, 8])
    >>> paths = r.save(tempfile.mkdtemp(), plots=False)
    >>> ToyResult.load(paths[0]) == r
    True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .._atomic import atomic_path
from ..records.base import TypedResult, html_table
from .config import ToyConfig
from .report import SCHEMA, format_summary, json_text, load_result
from .seeds import seed_summary


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class WidthResult:
    """One width ``m`` of one run: the evaluation loss, the fraction of represented features φ
    and the overlap among the strongly represented ones (``m · mean cos²`` ≈ 1 in strong
    superposition)."""

    m: int
    loss: float
    loss_se: float
    phi: float
    mean_cos2_strong: float | None
    m_cos2_strong: float | None
    unlearned_prediction: float
    row_norms: tuple[float, ...] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WidthResult:
        """The typed view of one ``per_m`` row of the document (``row_norms`` None in documents
        written before they were recorded)."""
        norms = row.get("row_norms")
        return cls(
            row_norms=None if norms is None else tuple(float(v) for v in norms),
            m=int(row["m"]),
            loss=float(row["loss"]),
            loss_se=float(row.get("loss_se", float("nan"))),
            phi=float(row.get("phi", float("nan"))),
            mean_cos2_strong=_opt(row.get("mean_cos2_strong")),
            m_cos2_strong=_opt(row.get("m_cos2_strong")),
            unlearned_prediction=float(row.get("unlearned_prediction", float("nan"))),
        )


@dataclass(frozen=True)
class ToyRunResult:
    """One run: its dial γ, data exponent α, seed and regime, the fitted width exponent α_m
    (``loss = A m^-α_m``; ``None`` with ``alpha_m_error`` when it could not be fitted) and one
    :class:`WidthResult` per width."""

    gamma: float
    alpha: float
    family: str
    seed: int
    regime: str
    alpha_m: float | None
    alpha_m_se: float | None
    alpha_m_error: str | None
    widths: tuple[WidthResult, ...]

    @classmethod
    def from_run(cls, run: Mapping[str, Any]) -> ToyRunResult:
        """The typed view of one entry of the document's ``runs``."""
        fit = run.get("fit") or {}
        return cls(
            gamma=float(run["gamma"]),
            alpha=float(run["alpha"]),
            family=str(run["family"]),
            seed=int(run.get("seed", 0)),
            regime=str(run["regime"]),
            alpha_m=_opt(fit.get("exponent")),
            alpha_m_se=_opt(fit.get("exponent_se")),
            alpha_m_error=fit.get("error"),
            widths=tuple(WidthResult.from_row(r) for r in run["per_m"]),
        )


@dataclass(frozen=True)
class SeedGroup:
    """The runs that differ only in their init seed: α_m as the mean over the fitted seeds ±
    its spread (sample standard deviation over seeds, None below two), beside the mean per-run
    fit SE (:func:`llmgeom.toy.seeds.seed_summary`)."""

    gamma: float
    alpha: float
    family: str
    density: float
    decay: float
    regime: str
    seeds: tuple[int, ...]
    n_fitted: int
    alpha_m_mean: float | None
    alpha_m_spread: float | None
    alpha_m_fit_se: float | None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> SeedGroup:
        """The typed view of one entry of the document's ``seed_summary``."""
        return cls(
            gamma=float(entry["gamma"]),
            alpha=float(entry["alpha"]),
            family=str(entry["family"]),
            density=float(entry["density"]),
            decay=float(entry["decay"]),
            regime=str(entry["regime"]),
            seeds=tuple(int(s) for s in entry["seeds"]),
            n_fitted=int(entry["n_fitted"]),
            alpha_m_mean=_opt(entry.get("alpha_m_mean")),
            alpha_m_spread=_opt(entry.get("alpha_m_spread")),
            alpha_m_fit_se=_opt(entry.get("alpha_m_fit_se")),
        )


def _seed_entries(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's ``seed_summary``, computed from its runs where it predates it."""
    return list(doc.get("seed_summary") or seed_summary(doc["runs"]))


def _recorded_config(recorded: Mapping[str, Any]) -> ToyConfig:
    """The :class:`ToyConfig` a document records (``ToyConfig.to_dict``: its fields, the derived
    ``warmup_steps`` and the ``extra`` keys kept from the file it was read from)."""
    from .config import config_from_dict

    fields = {k: v for k, v in recorded.items() if k not in ("warmup_steps", "extra")}
    config = config_from_dict(fields, source="toy result")
    return dataclasses.replace(config, extra=dict(recorded.get("extra") or {}))


@dataclass(frozen=True, eq=False, repr=False)
class ToyResult(TypedResult):
    """A toy experiment: its config, device and threads, and one :class:`ToyRunResult` per run."""

    name: str
    config: ToyConfig
    device: str
    threads: int
    runs: tuple[ToyRunResult, ...]
    seed_groups: tuple[SeedGroup, ...]

    SCHEMA: ClassVar[str] = SCHEMA

    @classmethod
    def _headline(cls, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": str(doc.get("name", "")),
            "config": _recorded_config(doc["config"]),
            "device": str(doc.get("device", "")),
            "threads": int(doc.get("threads", 0)),
            "runs": tuple(ToyRunResult.from_run(run) for run in doc["runs"]),
            "seed_groups": tuple(map(SeedGroup.from_entry, _seed_entries(doc))),
        }

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        return load_result(path)

    def summary(self) -> str:
        """The tables ``llmgeom toy run`` prints."""
        return format_summary(self.to_dict())

    def figure_loss(self, ax: Any = None) -> Any:
        """Loss against width, log-log, with the fitted laws; drawn into ``ax``."""
        from .plots import plot_loss

        return plot_loss(self.to_dict(), ax)

    def figure_phi(self, ax: Any = None) -> Any:
        """The fraction of represented features φ against width; drawn into ``ax``."""
        from .plots import plot_phi

        return plot_phi(self.to_dict(), ax)

    def save(
        self, out_dir: str | os.PathLike[str], *, stem: str | None = None, plots: bool = True
    ) -> list[Path]:
        """Write ``<stem>.json`` (and ``<stem>_loss.png``, ``<stem>_phi.png`` with ``plots``)
        atomically into ``out_dir``, as ``llmgeom toy run`` does; the paths written."""
        from .plots import save_plot

        out = Path(out_dir)
        stem = stem or f"toy-{self.name}"
        with atomic_path(out / f"{stem}.json") as tmp:
            tmp.write_text(json_text(self.to_dict()))
        paths = [out / f"{stem}.json"]
        if plots:
            paths.append(save_plot(self.figure_loss(), out / f"{stem}_loss.png"))
            paths.append(save_plot(self.figure_phi(), out / f"{stem}_phi.png"))
        return paths

    def _rows(self) -> list[tuple[str, str]]:
        fitted = [f"{r.alpha_m:.3f}" for r in self.runs if r.alpha_m is not None]
        shown = ", ".join(fitted[:3]) + (", ..." if len(fitted) > 3 else "")
        return [
            ("name", repr(self.name)),
            ("n", str(self.config.n)),
            ("widths", str(list(self.config.m))),
            ("runs", str(len(self.runs))),
            ("alpha_m", f"[{shown}]"),
        ]

    def _repr_html_(self) -> str:
        runs = [
            (
                f"γ={run.gamma:g} α={run.alpha:g} seed={run.seed}",
                f"{run.regime}, α_m={'—' if run.alpha_m is None else f'{run.alpha_m:.3f}'}",
            )
            for run in self.runs[:4]
        ]
        return html_table(type(self).__name__, self._rows()[:4] + runs)
