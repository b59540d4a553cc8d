"""The fits' files: reading their inputs (:mod:`.tables`, :mod:`.overlap_inputs`, whose names
this module gives too) and writing and reading their results (``<stem>.json`` and ``.png``).

Example:
    >>> import tempfile
    >>> from llmgeom.fits.chinchilla import ChinchillaCheck
    >>> out = write_fit_outputs(tempfile.mkdtemp(), "c", ChinchillaCheck().fit().to_dict(), b"")
    >>> [p.name for p in out], round(load_fit(out[0])["k"], 4)
    (['c.json', 'c.png'], 2.5226)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._atomic import atomic_path, read_json, write_json_atomic
from ..errors import FitError
from .migration import CHINCHILLA, MIGRATIONS, OVERLAP, migrate_fit
from .overlap_inputs import (  # noqa: F401 - the readers' names, for the report and the paper
    UNKNOWN_FAMILY,
    OverlapTable,
    family_group,
    read_overlap_inputs,
)
from .tables import (  # noqa: F401
    LossTable,
    PathLike,
    SizeTable,
    _existing,
    read_loss_table,
    read_size_table,
    write_loss_table,
)
from .width_loss import SCHEMA as WIDTH_LOSS


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
    OVERLAP: ("slope", "slope_se", "slope_ci_t", "intercepts", "points"),
    WIDTH_LOSS: ("alpha", "C", "offsets_L0", "alpha_ci_authors", "se_rule", "points"),
    CHINCHILLA: ("k", "k_se", "alpha_m", "alpha_m_err", "alpha_n", "alpha_n_se"),
}


def load_fit(path: PathLike) -> dict[str, Any]:
    """Read a fit result written by ``llmgeom fit`` (overlap, width-loss or Chinchilla JSON) and
    check the fields of its schema (:data:`FIT_FIELDS`, typed in its JSON Schema
    ``llmgeom/records/schemas/fit-*.json``); one-line :class:`FitError` otherwise. A result of
    the former version is checked against its own schema and migrated
    (:func:`~llmgeom.fits.migration.migrate_fit`).

    Example:
        >>> import tempfile
        >>> from llmgeom.fits.chinchilla import ChinchillaCheck
        >>> out = write_fit_outputs(tempfile.mkdtemp(), "c", ChinchillaCheck().fit().to_dict(), b"")
        >>> round(load_fit(out[0])["k"], 4)
        2.5226
    """
    from ..records.schema import check_schema

    p = _existing(path)
    data = read_json(p, "fit result", FitError)
    schema = data.get("schema") if isinstance(data, dict) else None
    schema = schema if isinstance(schema, str) else None
    if schema in MIGRATIONS:
        data = migrate_fit(check_schema(data, schema, str(p), f"{schema} result", FitError))
        schema = data["schema"]
    if schema not in FIT_FIELDS:
        raise FitError(f"{p}: not an llmgeom fit result (schema {schema!r})")
    return check_schema(data, schema, str(p), f"{schema} result", FitError)
