"""A folder of results as one table: :func:`to_pandas` (pandas is the optional extra
``llmgeom[pandas]``), and :func:`result_class`, the typed class of a schema name.

Example:
    >>> import tempfile, pathlib
    >>> from llmgeom.fits import fit_chinchilla
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = fit_chinchilla().save(folder)
    >>> table = to_pandas(folder)
    >>> table[["schema", "k", "n_models"]].round(4).values.tolist()
    [['llmgeom.fit.chinchilla/2', 2.5226, 50]]
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._atomic import parse_json
from ..errors import ConfigError

#: Schema family (the name before ``/version``) -> ``module:Class`` of its typed result.
RESULT_CLASSES = {
    "llmgeom.measurement": "llmgeom.geometry.result:MeasureResult",
    "llmgeom.fit.overlap": "llmgeom.fits.results:OverlapFit",
    "llmgeom.fit.width_loss": "llmgeom.fits.results:WidthLossFit",
    "llmgeom.fit.chinchilla": "llmgeom.fits.results:ChinchillaFit",
    "llmgeom.loss": "llmgeom.text.loss:LossResult",
    "llmgeom.freq": "llmgeom.text.freq_record:FreqResult",
}


def result_class(schema: str) -> Any:
    """The typed result class of records with schema ``schema``; None for other documents.

    Example:
        >>> result_class("llmgeom.fit.overlap/1").__name__, result_class("other/1")
        ('OverlapFit', None)
    """
    target = RESULT_CLASSES.get(str(schema).rsplit("/", 1)[0])
    if target is None:
        return None
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _result_files(folder_or_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]):
    if isinstance(folder_or_paths, str | os.PathLike):
        root = Path(folder_or_paths)
        if not root.is_dir():
            return [root], True
        return sorted(root.rglob("*.json")), False
    return [Path(p) for p in folder_or_paths], True


def _parsed(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None for a file that is not one (unreadable, not JSON)."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _typed(cls: Any, record: dict[str, Any], path: Path) -> Any:
    """What ``cls.load(path)`` returns, from the record already read: checked against the JSON
    Schema of its own version (:func:`~llmgeom.records.schema.check_schema`, the check every
    reader makes), then built by ``from_dict`` (which brings a former version up to date)."""
    from .schema import check_schema

    schema = record["schema"]
    return cls.from_dict(check_schema(record, schema, str(path), f"{schema} result"))


def to_pandas(
    folder_or_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> Any:
    """A :class:`pandas.DataFrame` with one row per llmgeom result: ``path``, ``schema`` and
    the result's headline columns (:meth:`TypedResult.columns`); a measurement's include the
    spectral numbers of ``summary.csv`` under the same names (``participation_ratio`` and
    :data:`~llmgeom.geometry.result.SPECTRUM_COLUMNS`, empty for a record without a spectrum).

    A folder is searched recursively for ``*.json``; files that are not llmgeom results of a
    typed kind (measurements, losses, token counts, fits) are skipped. Files named explicitly
    must be such results. Needs pandas: ``pip install llmgeom[pandas]``.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError(
            "to_pandas needs pandas, which is not installed: pip install llmgeom[pandas]"
        ) from None
    paths, explicit = _result_files(folder_or_paths)
    rows = []
    for path in paths:  # each file is read once
        record = _parsed(path)
        schema = record.get("schema") if record is not None else None
        cls = result_class(schema) if schema is not None else None
        if cls is None or record is None:
            if explicit:
                raise ConfigError(f"{path}: not an llmgeom result that to_pandas reads")
            continue
        result = _typed(cls, record, path)
        rows.append({"path": str(path), "schema": schema, **result.columns()})
    return pd.DataFrame(rows)
