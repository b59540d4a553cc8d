"""Read the inputs of the overlap fit: measurement JSON files (``llmgeom measure``), folders of
them (a sweep's other files skipped and counted) and overlap CSV tables, into one
:class:`OverlapTable`; models of unknown family each in a group of their own.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.csv"
    >>> _ = p.write_text("model,family,m,mean_cos2\\na,f,768,0.05\\nb,,1024,0.04\\n")
    >>> t = read_overlap_inputs([p])
    >>> t.family, len(t.notes)
    (['f', 'unknown:b'], 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import parse_json
from ..errors import ConfigError, FitError
from ..records.measurement import SCHEMA, SCHEMA_V1, analysis_settings, load_record
from .tables import PathLike, _existing, _number, _read_records

UNKNOWN_FAMILY = "unknown:"  # + the model's name: the group of a model of unknown family


def family_group(family: str | None, model: str) -> str:
    """The group a model is fitted in: its family, or a group of its own when its family is
    unknown (``unknown:<model>``, one offset for that model alone, so it adds nothing to a
    shared slope): unrelated models are never pooled under one intercept.

    Example:
        >>> family_group("gpt2", "gpt2-medium"), family_group(None, "head.gguf")
        ('gpt2', 'unknown:head.gguf')
    """
    label = str(family).strip() if family is not None else ""
    return label or f"{UNKNOWN_FAMILY}{model}"


@dataclass
class OverlapTable:
    """One row per model: its mean squared overlap and widths (head columns, d_model).

    ``notes``: what reading left out or decided (files of other kinds skipped in a folder,
    models of unknown family each in a group of their own), one line each.
    """

    model: list[str]
    family: list[str]
    head_width: np.ndarray
    mean_cos2: np.ndarray
    d_model: np.ndarray = field(default_factory=lambda: np.array([]))
    origin: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.model)

    def widths(self, width: str = "head") -> np.ndarray:
        """The width used as ``m``: ``"head"`` (head columns) or ``"d_model"``."""
        if width == "head":
            return self.head_width
        if width == "d_model":
            missing = [
                name for name, d in zip(self.model, self.d_model, strict=True) if not np.isfinite(d)
            ]
            if missing:
                raise FitError(
                    f"width='d_model' needs d_model for every model; missing for "
                    f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                    "(use width='head')",
                    parameter="width",
                )
            return self.d_model
        raise FitError(f"unknown width choice {width!r}: use 'head' or 'd_model'")


def _measurement_row(path: Path) -> dict[str, Any]:
    try:
        data = load_record(path)
    except ConfigError as err:
        raise FitError(str(err)) from None
    model = data["model"]  # load_record checked model.source, head_width and stats.mean_cos2
    name = model.get("name") or model.get("repo_id") or model["source"]
    if model.get("revision"):
        name = f"{name}@{model['revision']}"
    return {
        "model": str(name),
        "family": model.get("family"),
        "m": _number(path, 1, "model.head_width", model["head_width"]),
        "mean_cos2": _number(path, 1, "stats.mean_cos2", data["stats"]["mean_cos2"]),
        "d_model": _number(path, 1, "model.d_model", model.get("d_model"), required=False),
        "settings": analysis_settings(data),
        "origin": str(path),
    }


def _is_measurement(path: Path) -> bool:
    """Whether ``path`` is JSON with a measurement schema, today's or the former one, which is
    migrated when read, as a file named directly is (a folder's other files are not)."""

    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("schema") in (SCHEMA, SCHEMA_V1)


def _expand(paths: Iterable[PathLike], notes: list[str]) -> list[Path]:
    """Files named, and the measurement JSON files of folders named (a folder written by
    ``sweep`` also holds its status, loss records, fits...: skipped and counted in ``notes``)."""
    out: list[Path] = []
    for item in paths:
        p = _existing(item)
        if not p.is_dir():
            out.append(p)
            continue
        found = sorted(p.glob("*.json"))
        kept = [f for f in found if _is_measurement(f)]
        skipped = len(found) - len(kept)
        if not kept:
            other = f" ({skipped} JSON file(s) of other kinds)" if skipped else ""
            raise FitError(f"{p}: folder holds no measurement files{other}")
        if skipped:
            names = ", ".join(f.name for f in found if f not in kept)
            notes.append(
                f"{p}: skipped {skipped} JSON file(s) that are not measurements "
                f"({names if len(names) <= 80 else names[:77] + '...'})"
            )
        out.extend(kept)
    return out


def _check_one_analysis(rows: list[dict[str, Any]]) -> None:
    """Refuse to pool measurements made under different analysis settings.

    Only the settings that change the statistic count
    (:func:`llmgeom.records.measurement.analysis_settings`: rows rule, centring, weights);
    vocabulary sizes, zero rows and the pair mode differ between any two real models and are
    facts about each, not settings.
    """
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["settings"] is not None:
            key = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
            groups.setdefault(key, []).append(r["origin"])
    if len(groups) > 1:
        described = "; ".join(f"{key} ({Path(files[0]).name}...)" for key, files in groups.items())
        raise FitError(
            f"the measurement files mix {len(groups)} analysis settings ({described}); "
            "fit one setting at a time"
        )


def read_overlap_inputs(paths: Sequence[PathLike]) -> OverlapTable:
    """Read measurement JSON files (``llmgeom measure``) and/or overlap CSV tables.

    A CSV table has columns ``model, family, m, mean_cos2`` and optionally ``d_model``; ``m`` is
    the head width. A folder stands for the measurement ``*.json`` files inside it (other JSON
    files, e.g. a sweep's status or loss records, are skipped and counted in ``notes``). The
    files must share the analysis settings that change the statistic (rows rule, centring,
    weights) and name each model (and revision) once; vocabulary sizes and pair modes may
    differ. A model without a family is a group of its own (:func:`family_group`), said in
    ``notes``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.csv"
        >>> _ = p.write_text("model,family,m,mean_cos2\\ngpt2,gpt2,768,0.05\\n")
        >>> read_overlap_inputs([p]).mean_cos2.tolist()
        [0.05]
    """
    if not paths:
        raise FitError("no input files given")
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for p in _expand(paths, notes):
        if p.suffix.lower() == ".csv":
            for i, r in enumerate(_read_records(p, ("model", "family", "m", "mean_cos2")), 1):
                rows.append(
                    {
                        "model": str(r["model"]),
                        "family": r["family"],
                        "m": _number(p, i, "m", r["m"]),
                        "mean_cos2": _number(p, i, "mean_cos2", r["mean_cos2"]),
                        "d_model": _number(p, i, "d_model", r.get("d_model"), required=False),
                        "settings": None,
                        "origin": f"{p}:{i}",
                    }
                )
        else:
            rows.append(_measurement_row(p))
    _check_one_analysis(rows)
    seen: dict[str, str] = {}
    for r in rows:
        if r["model"] in seen:
            raise FitError(
                f"model {r['model']} appears twice ({seen[r['model']]} and {r['origin']})"
            )
        seen[r["model"]] = r["origin"]
    groups = [family_group(r["family"], r["model"]) for r in rows]
    unknown = [r["model"] for r in rows if not str(r["family"] or "").strip()]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(
            f"{len(unknown)} model(s) of unknown family ({shown}): each is a group of its own, "
            "which adds nothing to the slope; give a family (measure --family, a sweep's "
            "[[models]] family, the table's family column) to pool it"
        )
    return OverlapTable(
        model=[r["model"] for r in rows],
        family=groups,
        head_width=np.array([r["m"] for r in rows]),
        mean_cos2=np.array([r["mean_cos2"] for r in rows]),
        d_model=np.array([r["d_model"] for r in rows]),
        origin=[r["origin"] for r in rows],
        notes=notes,
    )
