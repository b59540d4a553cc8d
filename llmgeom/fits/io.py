"""Read the inputs of the fits: measurement JSON files, overlap / loss / model-size tables.

Every problem with an input (missing column, unparsable number, wrong schema) raises
:class:`~llmgeom.errors.FitError` naming the file and row; a missing file raises
:class:`~llmgeom.errors.SourceNotFoundError`.

Example:
    >>> from llmgeom.configs import config_path
    >>> t = read_size_table(config_path("chinchilla_table_a9.csv"))
    >>> len(t.params), int(t.d_model[0])
    (50, 512)
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, read_json, write_json_atomic
from ..errors import ConfigError, FitError, SourceNotFoundError
from ..records.measurement import analysis_settings, load_record

UNKNOWN_FAMILY = "unknown:"  # + the model's name: the group of a model of unknown family

PathLike = str | os.PathLike[str]


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


@dataclass
class LossTable:
    """One row per (model, corpus): the evaluation loss and the model's width ``m``."""

    model: list[str]
    family: list[str]
    corpus: list[str]
    m: np.ndarray
    loss: np.ndarray

    def __len__(self) -> int:
        return len(self.model)

    def to_rows(self) -> list[dict[str, Any]]:
        """Records ``{model, family, corpus, m, loss}``."""
        return [
            {"model": a, "family": b, "corpus": c, "m": float(m), "loss": float(v)}
            for a, b, c, m, v in zip(
                self.model, self.family, self.corpus, self.m, self.loss, strict=True
            )
        ]


@dataclass
class SizeTable:
    """Model sizes: parameter count ``params`` and width ``d_model``."""

    params: np.ndarray
    d_model: np.ndarray


def _number(path: PathLike, row: int, column: str, raw: Any, required: bool = True) -> float:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if required:
            raise FitError(f"{path}: row {row}: column {column!r} is empty")
        return float("nan")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise FitError(f"{path}: row {row}: {column}={raw!r} is not a number") from None


def _existing(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise SourceNotFoundError(f"no such file: {p}")
    return p


def _read_records(path: PathLike, required: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a CSV file, or of a JSON list of objects (or ``{"points": [...]}``)."""
    p = _existing(path)
    if p.is_dir():
        raise FitError(f"{p} is a folder; expected a .csv or .json table")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise FitError(f"{p}: not valid JSON ({err})") from None
        if isinstance(data, dict):
            data = data.get("points", data.get("rows"))
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise FitError(f"{p}: expected a JSON list of objects (or {{'points': [...]}})")
        rows = data
    else:
        try:
            with p.open(newline="") as fh:
                reader = csv.DictReader(fh)
                rows = list(reader)
                header = reader.fieldnames or []
        except (UnicodeDecodeError, csv.Error) as err:
            raise FitError(f"{p}: not a readable CSV table ({err})") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise FitError(
                f"{p}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(header) or 'none'})"
            )
    if not rows:
        raise FitError(f"{p}: the table has no rows")
    for i, r in enumerate(rows, start=1):
        missing = [c for c in required if c not in r]
        if missing:
            raise FitError(f"{p}: row {i}: missing field(s) {', '.join(missing)}")
    return rows


#: The loss column of a width-loss table that ``column`` ("loss" or "authors") names.
LOSS_COLUMNS = {"loss": "loss", "authors": "loss_authors_weighting"}


def read_loss_table(path: PathLike, column: str = "loss") -> LossTable:
    """Read a width-loss table (CSV or JSON) with columns ``model, family, corpus, m, loss``
    (``column="authors"``: its ``loss_authors_weighting`` column is the loss).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("model,family,corpus,m,loss\\ngpt2,gpt2,c4,768,3.3\\n")
        >>> read_loss_table(p).loss.tolist()
        [3.3]
    """
    name = LOSS_COLUMNS[column]
    cols = ("model", "family", "corpus", "m", name)
    rows = _read_records(path, cols)
    return LossTable(
        model=[str(r["model"]) for r in rows],
        family=[str(r["family"]) for r in rows],
        corpus=[str(r["corpus"]) for r in rows],
        m=np.array([_number(path, i, "m", r["m"]) for i, r in enumerate(rows, 1)]),
        loss=np.array([_number(path, i, name, r[name]) for i, r in enumerate(rows, 1)]),
    )


def write_loss_table(path: PathLike, table: LossTable) -> Path:
    """Write ``table`` as CSV atomically (columns ``model, family, corpus, m, loss``)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["model", "family", "corpus", "m", "loss"])
        writer.writeheader()
        for row in table.to_rows():
            row["m"] = int(row["m"]) if float(row["m"]).is_integer() else row["m"]
            row["loss"] = f"{row['loss']:.6f}"
            writer.writerow(row)
    return Path(path)


def read_size_table(path: PathLike) -> SizeTable:
    """Read a table of model sizes with columns ``params`` and ``d_model`` (CSV or JSON)."""
    rows = _read_records(path, ("params", "d_model"))
    return SizeTable(
        params=np.array([_number(path, i, "params", r["params"]) for i, r in enumerate(rows, 1)]),
        d_model=np.array(
            [_number(path, i, "d_model", r["d_model"]) for i, r in enumerate(rows, 1)]
        ),
    )


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
    """Whether ``path`` is JSON with the measurement schema (a folder's other files are not)."""
    from ..records.measurement import SCHEMA

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("schema") == SCHEMA


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


def write_fit_outputs(out_dir: PathLike, stem: str, payload: dict, png: bytes) -> list[Path]:
    """Write ``<stem>.json`` and ``<stem>.png`` into ``out_dir`` atomically; returns the paths.

    Example:
        >>> import tempfile
        >>> paths = write_fit_outputs(tempfile.mkdtemp(), "x", {"a": 1}, b"png")
        >>> [p.name for p in paths]
        ['x.json', 'x.png']
    """
    out = Path(out_dir)
    png_path = out / f"{stem}.png"
    with atomic_path(png_path) as tmp:
        tmp.write_bytes(png)
    json_path = write_json_atomic(out / f"{stem}.json", payload)
    return [json_path, png_path]


#: Fit results ``llmgeom fit`` writes, by schema: the fields readers rely on.
FIT_FIELDS: dict[str, tuple[str, ...]] = {
    "llmgeom.fit.overlap/1": ("slope", "slope_se", "slope_ci_t", "intercepts", "points"),
    "llmgeom.fit.width_loss/1": ("alpha", "C", "offsets_L0", "alpha_ci_authors", "points"),
    "llmgeom.fit.chinchilla/1": ("k", "k_se", "alpha_m", "alpha_m_err"),
}


def load_fit(path: PathLike) -> dict[str, Any]:
    """Read a fit result written by ``llmgeom fit`` (overlap, width-loss or Chinchilla JSON) and
    check the fields of its schema (:data:`FIT_FIELDS`, typed in its JSON Schema
    ``llmgeom/records/schemas/fit-*-1.json``); one-line :class:`FitError` otherwise.

    Example:
        >>> import tempfile
        >>> from llmgeom.fits.chinchilla import ChinchillaCheck
        >>> out = write_fit_outputs(tempfile.mkdtemp(), "c", ChinchillaCheck().fit().to_dict(), b"")
        >>> round(load_fit(out[0])["k"], 4)
        2.5226
    """
    p = _existing(path)
    data = read_json(p, "fit result", FitError)
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema not in FIT_FIELDS:
        raise FitError(f"{p}: not an llmgeom fit result (schema {schema!r})")
    from ..records.schema import check_schema

    return check_schema(data, schema, str(p), f"{schema} result", FitError)
