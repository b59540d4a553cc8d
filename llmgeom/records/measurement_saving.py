"""Saving a measurement record without losing an earlier result: merging two records of the same
tensor (an exact pass is never replaced by an estimate) and writing beside a file that holds
another tensor's result.

Example:
    >>> import tempfile
    >>> record = {"schema": SCHEMA, "model": {"source": "w.npy", "sha256": "ab"},
    ...           "variant": {"name": "raw", "pairs": "gram"}, "stats": {"mean_cos2": 0.1}}
    >>> out = tempfile.mkdtemp()
    >>> save_record(record, out).action, save_record(record, out).action
    ('new', 'updated')
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import parse_json, write_json_atomic
from ..errors import ConfigError
from .measurement_format import (
    PASS_DIAGNOSTICS,
    SCHEMA,
    SCHEMA_V1,
    abs_cos_method,
    analysis_settings,
    migrate_record,
    result_stem,
)


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
        data = parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # not ours: unreadable, not JSON, too deep
        return {}
    if isinstance(data, dict) and data.get("schema") == SCHEMA_V1:
        data = migrate_record(data)  # merged and rewritten in today's format
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else {}


def record_lock(path: Path) -> Any:
    """The file lock that serialises the read-merge-write of the record ``path`` between
    processes: two ``measure`` runs saving the same result at once both end up in it (its
    ``history``), neither lost. The lock files live in the temporary folder
    (``llmgeom-locks-<uid>/<sha256 of the record's absolute path>.lock``), not among the results.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with record_lock(folder / "x.raw.json") as lock:
        ...     Path(lock.lock_file).parent.name.startswith("llmgeom-locks"), list(folder.iterdir())
        (True, [])
    """
    from filelock import FileLock

    user = os.getuid() if hasattr(os, "getuid") else "user"
    locks = Path(tempfile.gettempdir()) / f"llmgeom-locks-{user}"
    locks.mkdir(exist_ok=True)
    key = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return FileLock(str(locks / f"{key}.lock"))


def save_record(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> SavedRecord:
    """Write ``record`` into ``out_dir`` atomically, never losing an existing result.

    The file is ``<stem>.json``. An earlier result there for the same tensor and analysis
    settings is merged (:func:`merge_records`); a file for another tensor (or not an llmgeom
    result) is left alone and the record goes to ``<stem>.<sha256[:8]>.json`` instead. Two
    processes saving at once take turns (:func:`record_lock`).
    """
    stem = result_stem(record)
    first = Path(out_dir) / f"{stem}.json"
    with record_lock(first):  # read, merge and rename: one process at a time, or one is lost
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
