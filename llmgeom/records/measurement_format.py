"""The measurement record itself: its schema names, how a record is built, labelled, checked
(the JSON Schema), read, and brought from the former version ``/1`` to ``/2``. The fields are
described in :mod:`llmgeom.records.measurement`.

Example:
    >>> old = {"schema": SCHEMA_V1, "stats": {"m": 2, "ratio_to_random": 0.5, "pairs": 3}}
    >>> new = migrate_record(old)
    >>> new["schema"], new["stats"]
    ('llmgeom.measurement/2', {'m': 2, 'n_pairs': 3})
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._atomic import read_json
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..unembedding import HeadMetadata

SCHEMA = "llmgeom.measurement/2"
#: The former version, still read (:func:`migrate_record`).
SCHEMA_V1 = "llmgeom.measurement/1"
#: Internals of the exact pass, kept in the record's ``diagnostics`` block (``stats`` in /1).
PASS_DIAGNOSTICS = ("mean_cos2_blocked", "block_rows", "matmul_flops")
#: ``stats`` keys of ``/1`` and their names in ``/2`` (:func:`migrate_record`).
RENAMED_STATS = {"pairs": "n_pairs", "effective_dim": "participation_ratio"}
_VERSIONED = ("llmgeom", "torch", "numpy", "safetensors", "transformers", "huggingface_hub")


def package_versions(names: Sequence[str] = _VERSIONED) -> dict[str, str | None]:
    """Python's version and the versions of ``names`` (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def build_record(
    *,
    meta: HeadMetadata,
    variant: dict[str, Any],
    options: dict[str, Any],
    stats: dict[str, Any],
    diagnostics: dict[str, Any],
    weighted: dict[str, Any] | None,
    reference: dict[str, float],
    spectrum: dict[str, Any] | None = None,
    row_norms: dict[str, Any],
    timings: dict[str, float],
    device: str,
) -> dict[str, Any]:
    """The JSON-ready record of a measurement (:func:`llmgeom.measure` builds it; its
    :class:`~llmgeom.geometry.result.MeasureResult` keeps it: ``to_dict()``)."""
    return {
        "schema": SCHEMA,
        "model": meta.to_dict(),
        "variant": variant,
        "options": options,
        "stats": stats,
        "diagnostics": diagnostics,
        **({"weighted": weighted} if weighted is not None else {}),
        **({"spectrum": spectrum} if spectrum is not None else {}),
        "reference": reference,
        "row_norms": row_norms,
        "timings": timings,
        "environment": {
            "versions": package_versions(),
            "device": device,
            "device_name": _device_name(device),
            "platform": platform.platform(),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def model_label(model: dict[str, Any]) -> str:
    """A record's short model name: the name the user gave, else the repo id, else the source's
    last part (without the revision).

    Example:
        >>> model_label({"source": "/data/gpt2-m16.npy"}), model_label({"source": "x", "name": "a"})
        ('gpt2-m16.npy', 'a')
    """
    return str(
        model.get("name")
        or model.get("repo_id")
        or Path(str(model["source"]).rstrip("/")).name
        or "matrix"
    )


def variant_name(rows: str, center: bool, fold_norm: bool = False) -> str:
    """The ``variant.name`` of a measurement: ``raw`` or ``tokenizer-rows``, then ``+folded``
    (``fold_norm``) and ``+centered``.

    Example:
        >>> variant_name("all", True, fold_norm=True), variant_name("tokenizer", False)
        ('raw+folded+centered', 'tokenizer-rows')
    """
    return "+".join(
        ["raw" if rows == "all" else "tokenizer-rows"]
        + (["folded"] if fold_norm else [])
        + (["centered"] if center else [])
    )


def result_stem(record: dict[str, Any]) -> str:
    """A file-name stem naming the model, revision and variant of a record.

    Example:
        >>> result_stem({"model": {"source": "/d/w.npy", "name": "gpt2-m16"},
        ...              "variant": {"name": "raw"}})
        'gpt2-m16.raw'
    """
    model = record["model"]
    parts = [model_label(model).replace("/", "--")]
    if model.get("revision"):
        parts.append(str(model["revision"]))
    parts.append(record["variant"]["name"])
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", ".".join(parts))


# --------------------------------------------------------------------- what may be compared

#: Variant settings that change the statistic itself. Everything else in ``variant`` (row
#: counts, zero rows, pair mode, bins, time estimates) is a per-model or per-run fact.
ANALYSIS_SETTINGS: dict[str, Any] = {
    "rows": "all",
    "center": False,
    "weights": None,
    "fold_norm": False,
}


def analysis_settings(record: dict[str, Any]) -> dict[str, Any]:
    """The settings under which records' statistics are comparable (rows rule, centring, weights).

    Example:
        >>> analysis_settings({"variant": {"rows": "all", "center": True, "pairs": "gram"}})
        {'rows': 'all', 'center': True, 'weights': None, 'fold_norm': False}
    """
    variant = record.get("variant") or {}
    return {key: variant.get(key, default) for key, default in ANALYSIS_SETTINGS.items()}


def abs_cos_method(stats: dict[str, Any]) -> str | None:
    """How mean/std |cos| were obtained: ``exact``, ``sample`` or None (Gram statistics only)."""
    if stats.get("abs_cos_method"):
        return str(stats["abs_cos_method"])
    if "max_abs_cos" in stats:
        return "exact"
    return "sample" if "sampled" in stats else None


def validate_record(record: Any, where: str = "record") -> dict[str, Any]:
    """Check that ``record`` is an ``llmgeom.measurement/2`` result; return it unchanged.

    The check is the published JSON Schema (``llmgeom/records/schemas/measurement-2.json``,
    :func:`llmgeom.records.schema.check_schema`): the schema name, every block an object and
    the fields readers rely on typed (the fits read ``model`` and ``stats``); the optional
    ``weighted`` block must be complete when present. One-line :class:`ConfigError` naming
    ``where`` and the JSON path of the field.

    Example:
        >>> validate_record({"schema": SCHEMA, "model": {}, "variant": {}, "stats": {}}, "r.json")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: r.json: malformed llmgeom measurement: model.source is missing
    """
    from .schema import check_schema

    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ConfigError(f"{where}: not an llmgeom measurement (schema {SCHEMA} expected)")
    return check_schema(record, SCHEMA, where, "llmgeom measurement")


def migrate_record(old: dict[str, Any]) -> dict[str, Any]:
    """An ``llmgeom.measurement/1`` record in today's format (``/2``), every number kept.

    Version 2 has one name per quantity: ``stats.ratio_to_random`` (always equal to
    ``stats.m_times_mean_cos2``: the random baseline is 1/m) is dropped; the exact pass's pair
    count ``stats.pairs`` is ``stats.n_pairs`` (``variant.pairs`` is the pass's mode); the
    participation ratio ``stats.effective_dim`` is ``stats.participation_ratio``;
    ``variant.n_rows_used`` (a copy of ``stats.n_rows_used``) is dropped; the exact pass's
    internals (:data:`PASS_DIAGNOSTICS`) move from ``stats`` to a ``diagnostics`` block. A
    ``/2`` record is returned as a copy, unchanged.

    Example:
        >>> old = {"schema": "llmgeom.measurement/1", "variant": {"pairs": "exact",
        ...        "n_rows_used": 3}, "stats": {"n_rows_used": 3, "m": 2, "mean_cos2": 0.25,
        ...        "m_times_mean_cos2": 0.5, "ratio_to_random": 0.5, "pairs": 3, "block_rows": 3,
        ...        "effective_dim": 1.6}}
        >>> new = migrate_record(old)
        >>> new["schema"], new["variant"], new["stats"]["n_pairs"], new["diagnostics"]
        ('llmgeom.measurement/2', {'pairs': 'exact'}, 3, {'block_rows': 3})
        >>> sorted(new["stats"])
        ['m', 'm_times_mean_cos2', 'mean_cos2', 'n_pairs', 'n_rows_used', 'participation_ratio']
    """
    new = json.loads(json.dumps(old, allow_nan=True))
    if new.get("schema") != SCHEMA_V1:
        return new
    stats, variant = new.get("stats", {}), new.get("variant", {})
    stats.pop("ratio_to_random", None)
    for old_name, new_name in RENAMED_STATS.items():
        if old_name in stats:
            stats[new_name] = stats.pop(old_name)
    variant.pop("n_rows_used", None)
    diagnostics = {key: stats.pop(key) for key in PASS_DIAGNOSTICS if key in stats}
    kept = new.get("kept_from_earlier_runs")
    if kept:  # the names of what a merge kept, in the new names
        renamed = {**RENAMED_STATS, **{k: f"diagnostics.{k}" for k in PASS_DIAGNOSTICS}}
        new["kept_from_earlier_runs"] = [renamed.get(k, k) for k in kept if k != "ratio_to_random"]
    ordered = {}
    for key, value in new.items():  # diagnostics right after the statistics, as written now
        ordered[key] = value
        if key == "stats":
            ordered["diagnostics"] = diagnostics
    ordered["schema"] = SCHEMA
    return ordered


def load_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result file and check it (:func:`validate_record`); a record of the former
    version is checked against its own schema and migrated (:func:`migrate_record`)."""
    record = read_json(path, "llmgeom result")
    if isinstance(record, dict) and record.get("schema") == SCHEMA_V1:
        from .schema import check_schema

        record = migrate_record(check_schema(record, SCHEMA_V1, str(path), "llmgeom measurement"))
    return validate_record(record, str(path))
