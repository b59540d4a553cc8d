"""Read and write the fits' tables: widths and losses (``model, family, corpus, m, loss``) and
model sizes (``params, d_model``), as CSV or JSON. Every problem with an input (missing column,
unparsable number) raises :class:`~llmgeom.errors.FitError` naming the file and row; a missing
file raises :class:`~llmgeom.errors.SourceNotFoundError`.

Example:
    >>> from llmgeom.configs import config_path
    >>> t = read_size_table(config_path("chinchilla_table_a9.csv"))
    >>> len(t.params), int(t.d_model[0])
    (50, 512)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, parse_json
from ..errors import FitError, SourceNotFoundError

PathLike = str | os.PathLike[str]


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
            data = parse_json(p.read_text(encoding="utf-8"))
        except ValueError as err:  # malformed, not UTF-8, nested too deep, a number too long
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
