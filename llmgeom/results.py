"""The JSON result format of ``llmgeom measure`` (versioned) and its atomic writing.

A record has: ``schema``, ``model`` (provenance: source, repo, revision and commit, family,
tensor name, tied, shapes, dtype, checksum), ``variant`` (which rows, centring, pair mode),
``stats``, ``reference`` (baselines), ``row_norms``, ``timings``, ``environment`` (versions,
device) and ``created``.

Example:
    >>> import torch
    >>> from llmgeom.measurement import measure
    >>> record = build_record(measure(torch.eye(6, 3), pairs="gram"))
    >>> record["schema"], record["model"]["n_rows"], record["stats"]["mean_cos2"]
    ('llmgeom.measurement/1', 6, 0.0)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._atomic import write_json_atomic
from .errors import ConfigError

if TYPE_CHECKING:
    from .measurement import MeasureReport

SCHEMA = "llmgeom.measurement/1"
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


def build_record(report: MeasureReport) -> dict[str, Any]:
    """The JSON-ready record of a measurement."""
    return {
        "schema": SCHEMA,
        "model": report.meta.to_dict(),
        "variant": report.variant,
        "stats": report.stats,
        "reference": report.reference,
        "row_norms": report.row_norms,
        "timings": report.timings,
        "environment": {
            "versions": package_versions(),
            "device": report.device,
            "device_name": _device_name(report.device),
            "platform": platform.platform(),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def result_stem(record: dict[str, Any]) -> str:
    """A file-name stem naming the model, revision and variant of a record."""
    model = record["model"]
    name = model.get("repo_id") or Path(str(model["source"]).rstrip("/")).name or "matrix"
    parts = [name.replace("/", "--")]
    if model.get("revision"):
        parts.append(str(model["revision"]))
    parts.append(record["variant"]["name"])
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", ".".join(parts))


def _same_model(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("source") == b.get("source") or (
        a.get("sha256") is not None and a.get("sha256") == b.get("sha256")
    )


def result_path(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """``<out_dir>/<stem>.json``; a different model's existing result is never overwritten.

    Re-measuring the same model replaces its file; another model with the same name (e.g.
    ``runs/a/final`` and ``runs/b/final``) gets the stem plus a short hash of its source.
    """
    stem = result_stem(record)
    path = Path(out_dir) / f"{stem}.json"
    try:
        existing = json.loads(path.read_text()).get("model", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return path
    if _same_model(existing, record["model"]):
        return path
    digest = hashlib.sha1(str(record["model"].get("source")).encode()).hexdigest()[:8]
    return Path(out_dir) / f"{stem}.{digest}.json"


def write_record(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``record`` to :func:`result_path` atomically and return the path."""
    return write_json_atomic(result_path(record, out_dir), record)


def load_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result file, checking its schema."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a readable llmgeom result ({err})") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ConfigError(f"{path}: not an llmgeom measurement (schema {SCHEMA} expected)")
    return record


def summarize(report: MeasureReport) -> str:
    """A short human summary of a measurement."""
    meta, s, ref = report.meta, report.stats, report.reference
    name = meta.repo_id or meta.source
    lines = [
        f"{name}  [{report.variant['name']}]  {meta.family or 'unknown family'}  "
        f"tensor={meta.tensor_name}  tied={meta.tied}",
        f"  head {meta.n_rows} x {meta.head_width} ({meta.stored_dtype})  d_model={meta.d_model}  "
        f"rows used={s['n_rows_used']}",
        f"  mean cos^2      {s['mean_cos2']:.6g}   (random 1/m = {ref['random_mean_cos2']:.4g}; "
        f"m*mean = {s['m_times_mean_cos2']:.3f}; frame bound {ref['frame_bound_mean_cos2']:.4g})",
    ]
    if s.get("mean_abs_cos") is not None:
        tag = " (sampled)" if "sampled" in s else ""
        lines.append(
            f"  mean |cos|{tag}  {s['mean_abs_cos']:.6g}   std |cos| {s['std_abs_cos']:.6g}"
        )
    if "max_abs_cos" in s:
        lines.append(
            f"  max |cos|       {s['max_abs_cos']:.4f}   "
            f"mean per-token max {s['mean_max_abs_cos']:.4f}"
        )
    norms = report.row_norms
    lines.append(
        f"  effective dim   {s['effective_dim']:.1f}   top direction carries "
        f"{100 * s['top_eigen_fraction']:.1f}%   row norms mean "
        f"{norms.get('mean', float('nan')):.4g} min {norms.get('min', float('nan')):.4g}"
    )
    lines.append(f"  time {report.timings['total_s']:.2f}s on {report.device}")
    return "\n".join(lines)
