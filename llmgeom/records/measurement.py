"""The JSON result format of ``llmgeom measure`` (versioned), its machine check and atomic writing.

This module owns the schema ``llmgeom.measurement/2`` (its JSON Schema:
``llmgeom/records/schemas/measurement-2.json``): it writes records (:func:`build_record`), checks
them (:func:`validate_record`), reads them (:func:`load_record`) and brings records of the
former version ``llmgeom.measurement/1`` to it (:func:`migrate_record`); nothing else parses it.
A record has:

* ``schema``: ``"llmgeom.measurement/2"``;
* ``model``: provenance (source, repo, revision and commit, family, tensor name, tied, shapes
  ``n_rows``/``head_width``/``d_model``, dtype, checksum);
* ``variant``: which rows (``rows``), centring (``center``), the pair mode that ran
  (``pairs``: exact, sample or gram) with its predicted time, rows used and excluded;
* ``options``: the analysis options as given (:class:`llmgeom.options.MeasureOptions`,
  ``weights`` as the counts file's path);
* ``stats`` (``n_rows_used``, ``m``, ``mean_cos2``, ``m_times_mean_cos2``, ``mean_cos``,
  ``effective_dim``, ``top_eigen_fraction``; with a pair pass ``mean_abs_cos``,
  ``std_abs_cos``, ``abs_cos_method``; the exact pass adds ``n_pairs``, ``max_abs_cos``,
  ``mean_max_abs_cos``, ``median_max_abs_cos``, ``top_pairs``, ``histogram``);
  ``diagnostics`` (the exact pass's internals: ``mean_cos2_blocked``, ``block_rows``,
  ``matmul_flops``; empty otherwise); ``reference`` (baselines), ``row_norms``, ``timings``,
  ``environment`` (versions, device), ``created``;
* ``weighted`` (only with ``--weights``; its own ``version``, now 1): frequency-weighted
  interference, :mod:`llmgeom.geometry.weights`. ``counts_path``, ``counts_sha256`` (provenance);
  ``counts_length``, ``counts_total`` (Σc), ``rows_padded`` (head rows beyond the counts),
  ``rows_used``, ``rows_with_count``, ``rows_without_count`` (rows used whose count is 0),
  ``count_mass_excluded`` (fraction of Σc on rows not used); ``effective_tokens`` (1/Σp²),
  ``weighted_mean_cos2`` (exact), ``m_times_weighted_mean_cos2``, ``weighted_mean_cos``
  (exact), ``weighted_mean_abs_cos`` with ``abs_cos_method`` (``exact``; ``sample`` with
  ``weighted_mean_abs_cos_se``, ``weighted_mean_abs_cos_interval`` (95 %),
  ``pairs_drawn_by_weight`` and ``stopped_by``; records written before the pair design have
  ``rows_drawn_by_weight`` instead; None after a Gram-only run), and ``definition``.

``stats.sampled`` (sampled runs, :mod:`llmgeom.geometry.sampling`): ``design``, ``pairs_sampled``,
``stopped_by`` (``precision`` or ``time_budget``), ``precision``, ``relative_half_width``,
``rows_sampled`` (whole rows, for the per-token maxima), ``seed``, ``confidence``,
``std_from``, the estimates ``mean_abs_cos``, ``std_abs_cos``, ``mean_cos2``,
``mean_max_abs_cos`` with ``standard_error`` and ``interval``, ``max_abs_cos_lower_bound``,
``matmul_flops``, ``pair_flops`` and, with bins, ``histogram`` (of the sampled pairs). Records
of the former row design have ``pairs_covered`` instead of ``pairs_sampled``.

Example:
    >>> import torch
    >>> from llmgeom.geometry.measurement import measure
    >>> record = measure(torch.eye(6, 3), pairs="gram").to_dict()
    >>> record["schema"], record["model"]["n_rows"], record["stats"]["mean_cos2"]
    ('llmgeom.measurement/2', 6, 0.0)
    >>> validate_record(record) is record
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._atomic import read_json, write_json_atomic
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..unembedding import HeadMetadata

SCHEMA = "llmgeom.measurement/2"
#: The former version, still read (:func:`migrate_record`).
SCHEMA_V1 = "llmgeom.measurement/1"
#: Internals of the exact pass, kept in the record's ``diagnostics`` block (``stats`` in /1).
PASS_DIAGNOSTICS = ("mean_cos2_blocked", "block_rows", "matmul_flops")
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
ANALYSIS_SETTINGS: dict[str, Any] = {"rows": "all", "center": False, "weights": None}


def analysis_settings(record: dict[str, Any]) -> dict[str, Any]:
    """The settings under which records' statistics are comparable (rows rule, centring, weights).

    Example:
        >>> analysis_settings({"variant": {"rows": "all", "center": True, "pairs": "gram"}})
        {'rows': 'all', 'center': True, 'weights': None}
    """
    variant = record.get("variant") or {}
    return {key: variant.get(key, default) for key, default in ANALYSIS_SETTINGS.items()}


def _same_tensor(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same matrix: equal checksums where both have one, else the same source."""
    if a.get("sha256") and b.get("sha256"):
        return a["sha256"] == b["sha256"]
    return a.get("source") == b.get("source")


def _tensor_digest(model: dict[str, Any]) -> str:
    if model.get("sha256"):
        return str(model["sha256"])[:8]
    return hashlib.sha1(str(model.get("source")).encode()).hexdigest()[:8]


# ------------------------------------------------------------------------------ merging

#: Statistics that only the exact all-pairs pass produces (its internals: PASS_DIAGNOSTICS).
EXACT_PASS_STATS = (
    "n_pairs", "mean_abs_cos", "std_abs_cos", "max_abs_cos", "mean_max_abs_cos",
    "median_max_abs_cos", "top_pairs", "histogram", "abs_cos_method",
)  # fmt: skip


def abs_cos_method(stats: dict[str, Any]) -> str | None:
    """How mean/std |cos| were obtained: ``exact``, ``sample`` or None (Gram statistics only)."""
    if stats.get("abs_cos_method"):
        return str(stats["abs_cos_method"])
    if "max_abs_cos" in stats:
        return "exact"
    return "sample" if "sampled" in stats else None


def _run_summary(record: dict[str, Any]) -> dict[str, Any]:
    variant, env = record.get("variant", {}), record.get("environment", {})
    return {
        "created": record.get("created"),
        "pairs": variant.get("pairs"),
        "device": env.get("device"),
        "total_s": record.get("timings", {}).get("total_s"),
        "llmgeom": env.get("versions", {}).get("llmgeom"),
    }


def merge_records(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``new`` with every statistic of ``old`` that ``new`` lacks or measured less exactly.

    Both records must describe the same tensor under the same analysis settings. An exact
    pass's |cos| statistics are never replaced by sampled estimates or dropped by a Gram-only
    run; anything else ``old`` has and ``new`` lacks is kept too. Returns the merged record
    and the names of the statistics kept from ``old``; ``history`` lists every run.

    Example:
        >>> old = {"stats": {"mean_cos2": 0.1, "mean_abs_cos": 0.2, "abs_cos_method": "exact"},
        ...        "variant": {"pairs": "exact"}}
        >>> new = {"stats": {"mean_cos2": 0.1}, "variant": {"pairs": "gram"}}
        >>> merged, kept = merge_records(old, new)
        >>> kept, merged["variant"]["pairs"], merged["stats"]["mean_abs_cos"]
        (['abs_cos_method', 'mean_abs_cos'], 'exact', 0.2)
    """
    old_stats, new_stats = old.get("stats", {}), new.get("stats", {})
    stats = dict(new_stats)
    kept = sorted(key for key in old_stats if key not in new_stats)
    if abs_cos_method(old_stats) == "exact" and abs_cos_method(new_stats) != "exact":
        kept = sorted(set(kept) | {k for k in EXACT_PASS_STATS if k in old_stats})
    for key in kept:
        stats[key] = old_stats[key]
    diagnostics = dict(new.get("diagnostics", {}))
    if abs_cos_method(old_stats) == "exact" and abs_cos_method(new_stats) != "exact":
        old_diagnostics = old.get("diagnostics", {})
        diagnostics |= {k: old_diagnostics[k] for k in PASS_DIAGNOSTICS if k in old_diagnostics}
    merged = {**new, "stats": stats, "variant": dict(new.get("variant", {}))}
    if "diagnostics" in new or diagnostics:
        merged["diagnostics"] = diagnostics
    weighted, kept_weighted = _merge_weighted(old.get("weighted"), new.get("weighted"))
    if weighted is not None:
        merged["weighted"] = weighted
        kept = [*kept, *kept_weighted]
    merged["variant"]["pairs"] = abs_cos_method(stats) or "gram"
    if "histogram" in stats:
        merged["variant"]["histogram_bins"] = len(stats["histogram"]["counts"])
    if kept:
        merged["kept_from_earlier_runs"] = kept
    merged["history"] = [*old.get("history", [_run_summary(old)]), _run_summary(new)]
    return merged, kept


_WEIGHTED_SAMPLE_KEYS = (
    "weighted_mean_abs_cos_se",
    "weighted_mean_abs_cos_interval",
    "pairs_drawn_by_weight",
    "rows_drawn_by_weight",  # records of the former design: rows drawn by weight x all rows
    "stopped_by",
)


def _merge_weighted(
    old: dict[str, Any] | None, new: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``weighted`` block to keep and what of it came from ``old``: the new block, else the
    old one; an exact weighted |cos| of the same counts file is kept over a sampled or missing
    one.

    Example:
        >>> old = {"counts_sha256": "a", "weighted_mean_abs_cos": 0.2, "abs_cos_method": "exact"}
        >>> new = {"counts_sha256": "a", "weighted_mean_abs_cos": None, "abs_cos_method": None}
        >>> block, kept = _merge_weighted(old, new)
        >>> block["weighted_mean_abs_cos"], block["abs_cos_method"], kept
        (0.2, 'exact', ['weighted.weighted_mean_abs_cos'])
    """
    if new is None:
        return old, [] if old is None else ["weighted"]
    if (
        old is not None
        and old.get("counts_sha256") == new.get("counts_sha256")
        and old.get("abs_cos_method") == "exact"
        and new.get("abs_cos_method") != "exact"
    ):
        new = {k: v for k, v in new.items() if k not in _WEIGHTED_SAMPLE_KEYS}
        for key in ("weighted_mean_abs_cos", "abs_cos_method"):
            new[key] = old[key]
        return new, ["weighted.weighted_mean_abs_cos"]
    return new, []


@dataclass
class SavedRecord:
    """Where :func:`save_record` put a record and what it did: ``new``, ``updated`` (same
    tensor, nothing lost), ``merged`` (statistics kept from the earlier result) or ``beside``
    (the usual name holds another tensor's result, left as it is)."""

    path: Path
    action: str
    kept: list[str] = field(default_factory=list)
    other: Path | None = None

    def describe(self) -> str:
        """One line for the CLI."""
        if self.action == "merged":
            return f"merged into {self.path} (kept from the earlier result: {', '.join(self.kept)})"
        if self.action == "beside":
            return f"wrote {self.path} ({self.other} holds a different result, left as is)"
        return f"{'updated' if self.action == 'updated' else 'wrote'} {self.path}"


def _read_existing(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; ``{}`` for a file that is not one of ours; None if absent."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if isinstance(data, dict) and data.get("schema") == SCHEMA_V1:
        data = migrate_record(data)  # merged and rewritten in today's format
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else {}


def save_record(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> SavedRecord:
    """Write ``record`` into ``out_dir`` atomically, never losing an existing result.

    The file is ``<stem>.json``. An earlier result there for the same tensor and analysis
    settings is merged (:func:`merge_records`); a file for another tensor (or not an llmgeom
    result) is left alone and the record goes to ``<stem>.<sha256[:8]>.json`` instead.
    """
    stem = result_stem(record)
    first = Path(out_dir) / f"{stem}.json"
    for path in (first, Path(out_dir) / f"{stem}.{_tensor_digest(record['model'])}.json"):
        existing = _read_existing(path)
        if existing is None:
            action = "new" if path == first else "beside"
            write_json_atomic(path, record)
            return SavedRecord(path, action, other=None if path == first else first)
        if existing and _same_tensor(existing.get("model", {}), record["model"]):
            if analysis_settings(existing) == analysis_settings(record):
                merged, kept = merge_records(existing, record)
                write_json_atomic(path, merged)
                return SavedRecord(path, "merged" if kept else "updated", kept)
    raise ConfigError(
        f"cannot save the result: {first} and its checksum-named alternative both hold other "
        "results; choose another --out"
    )


def write_record(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """:func:`save_record` and return the path written."""
    return save_record(record, out_dir).path


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
    count ``stats.pairs`` is ``stats.n_pairs`` (``variant.pairs`` is the pass's mode);
    ``variant.n_rows_used`` (a copy of ``stats.n_rows_used``) is dropped; the exact pass's
    internals (:data:`PASS_DIAGNOSTICS`) move from ``stats`` to a ``diagnostics`` block. A
    ``/2`` record is returned as a copy, unchanged.

    Example:
        >>> old = {"schema": "llmgeom.measurement/1", "variant": {"pairs": "exact",
        ...        "n_rows_used": 3}, "stats": {"n_rows_used": 3, "m": 2, "mean_cos2": 0.25,
        ...        "m_times_mean_cos2": 0.5, "ratio_to_random": 0.5, "pairs": 3, "block_rows": 3}}
        >>> new = migrate_record(old)
        >>> new["schema"], new["variant"], new["stats"]["n_pairs"], new["diagnostics"]
        ('llmgeom.measurement/2', {'pairs': 'exact'}, 3, {'block_rows': 3})
        >>> sorted(new["stats"])
        ['m', 'm_times_mean_cos2', 'mean_cos2', 'n_pairs', 'n_rows_used']
    """
    new = json.loads(json.dumps(old, allow_nan=True))
    if new.get("schema") != SCHEMA_V1:
        return new
    stats, variant = new.get("stats", {}), new.get("variant", {})
    stats.pop("ratio_to_random", None)
    if "pairs" in stats:
        stats["n_pairs"] = stats.pop("pairs")
    variant.pop("n_rows_used", None)
    diagnostics = {key: stats.pop(key) for key in PASS_DIAGNOSTICS if key in stats}
    kept = new.get("kept_from_earlier_runs")
    if kept:  # the names of what a merge kept, in the new names
        renamed = {"pairs": "n_pairs", **{k: f"diagnostics.{k}" for k in PASS_DIAGNOSTICS}}
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
