"""``llmgeom inspect``: where a model's head tensor is, without downloading (or reading) it.

Example:
    >>> import torch
    >>> from safetensors.torch import save_file
    >>> save_file({"lm_head.weight": torch.zeros(10, 4)}, "head.safetensors")
    >>> report = _local_report(Path("head.safetensors"), None)
    >>> report["location"]["key"], report["location"]["shape"], report["location"]["byte_range"]
    ('lm_head.weight', (10, 4), (80, 240))
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EPILOG = """\
For a Hub model only metadata is transferred (the revision API call, config.json, the index and
the safetensors header of one shard: a few kB); for a local checkpoint only headers are read.

examples:
  llmgeom inspect gpt2-xl
  llmgeom inspect EleutherAI/pythia-410m --revision step143000
  llmgeom inspect qwen2.5-72b --json
  llmgeom inspect ./my-checkpoint
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` subcommand."""
    p = subparsers.add_parser(
        "inspect",
        help="show where a model's output embedding is (file, byte range, shape) without "
        "downloading it",
        description="Family, tying, head shape and dtype, and the file and byte range that "
        "`llmgeom measure` would read, without reading the tensor.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="MODEL", help="alias, Hub repo id, or local checkpoint path")
    p.add_argument("--revision", metavar="REV", help="Hub branch, tag or commit")
    p.add_argument("--tensor", metavar="NAME", help="tensor name of the head (default: automatic)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _fmt(n: int | None) -> str:
    from ..memory import format_bytes

    return "unknown" if n is None else format_bytes(n)


def _tied(tied: bool | None) -> str:
    if tied is None:
        return "unknown"
    return "yes (the head is the input embedding)" if tied else "no (a separate output matrix)"


def _local_report(path: Path, tensor: str | None) -> dict[str, Any]:
    from ..sources import locate_head

    return {"kind": "local", "location": locate_head(path, tensor=tensor).to_dict()}


def _hub_report(source: str, revision: str | None, tensor: str | None) -> dict[str, Any]:
    from ..errors import NetworkError
    from ..sources.hub import cached_hub_location, locate_hub_head, resolve_name
    from ..sources.hub.http import hub_settings

    name = resolve_name(source, revision)
    model = name.model
    report: dict[str, Any] = {
        "kind": "hub",
        "repo_id": name.repo_id,
        "alias": name.alias,
        "revision": name.revision,
        "paper_model": model is not None,
        "tokenizer_len": model.tokenizer_len if model else None,
        "d_model_registry": model.d_model if model else None,
        "head_shape_registry": list(model.head_shape) if model else None,
    }
    if hub_settings().offline:
        cached = cached_hub_location(source, revision=revision, tensor=tensor)
        if cached is None:
            raise NetworkError(
                f"HF_HUB_OFFLINE=1 and {name.repo_id}@{name.revision} has no cached head to "
                "describe; run `llmgeom inspect` or `llmgeom measure` once online"
            )
        report.update(commit_sha=cached["commit_sha"], location=cached["location"], from_cache=True)
        return report
    head = locate_hub_head(source, revision=revision, tensor=tensor)
    report.update(
        commit_sha=head.commit_sha,
        location=head.location.to_dict(),
        from_cache=False,
        metadata_bytes=head.overhead_bytes,
        metadata_requests=head.requests,
        download_bytes=head.download_bytes,
        weight_bytes=head.weight_bytes,
        repo_bytes=head.repo_bytes,
    )
    if head.location.fmt == "bin" and head.location.byte_range is None:
        report["whole_file_reason"] = head.whole_file_reason
    return report


def _print(report: dict[str, Any]) -> None:
    loc = report["location"] or {}
    choice = loc.get("choice") or {}
    lines: list[tuple[str, str]] = []
    if report["kind"] == "hub":
        label = report["repo_id"]
        if report["alias"]:
            label = f"{report['alias']} = {label}"
        lines.append(("model", f"{label} @ {report['revision']} (commit {report['commit_sha']})"))
        if report["from_cache"]:
            lines.append(("note", "HF_HUB_OFFLINE=1: described from the llmgeom cache"))
    else:
        lines.append(("model", f"{loc.get('source')} (local)"))
    family = choice.get("family") or "unknown"
    lines.append(("family", family))
    lines.append(("tied", _tied(choice.get("tied"))))
    shape = loc.get("shape")
    shape_text = " x ".join(str(d) for d in shape) if shape else "unknown"
    nbytes = loc.get("nbytes")
    head = f"{loc.get('key')}  [{shape_text}]  {loc.get('dtype') or 'dtype unknown'}"
    if nbytes is not None:
        head += f"  ({_fmt(nbytes)})"
    lines.append(("head tensor", head))
    if choice.get("rule"):
        lines.append(("chosen by", choice["rule"]))
    d_model = choice.get("d_model") or report.get("d_model_registry")
    if d_model:
        lines.append(("d_model", str(d_model)))
    registry_shape = report.get("head_shape_registry")
    if registry_shape and shape and list(shape) != list(registry_shape):
        lines.append(
            (
                "models.csv",
                f"lists a {registry_shape[0]} x {registry_shape[1]} head: this revision differs",
            )
        )
    elif report.get("tokenizer_len"):
        lines.append(("tokenizer", f"{report['tokenizer_len']} tokens (models.csv)"))
    lines.append(("file", f"{loc.get('file')}  ({_fmt(loc.get('file_size'))})"))
    if loc.get("byte_range"):
        start, stop = loc["byte_range"]
        lines.append(("byte range", f"[{start}, {stop})  = {_fmt(stop - start)}"))
    if report["kind"] == "hub" and not report["from_cache"]:
        meta = report["metadata_bytes"]
        if loc.get("byte_range"):  # safetensors, or a zip-format .bin read by ranges
            total = (nbytes or 0) + meta
            lines.append(
                (
                    "would read",
                    f"{_fmt(nbytes)} (head) + {_fmt(meta)} (metadata, "
                    f"{report['metadata_requests']} requests) = "
                    f"{_fmt(total)}, not the whole file",
                )
            )
        else:
            why = report.get("whole_file_reason") or "no safetensors weights in this revision"
            lines.append(
                (
                    "would read",
                    f"the whole {loc.get('file')} ({_fmt(loc.get('file_size'))}"
                    f"): {why}; a safetensors revision (e.g. --revision "
                    "refs/pr/N) would transfer the head only",
                )
            )
        lines.append(
            (
                "all weights",
                f"{_fmt(report['weight_bytes'])} (repository: {_fmt(report['repo_bytes'])})",
            )
        )
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.ljust(width)}  {value}")


def run(args: argparse.Namespace) -> int:
    """Describe the head of a local checkpoint or a Hub model."""
    from ..errors import SourceNotFoundError
    from ..sources import looks_like_path

    path = Path(args.source).expanduser()
    if path.exists():
        report = _local_report(path, args.tensor)
    elif looks_like_path(args.source):  # as `llmgeom measure`: never sent to the Hub
        raise SourceNotFoundError(f"no such file or directory: {args.source}")
    else:
        report = _hub_report(args.source, args.revision, args.tensor)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print(report)
    return 0
