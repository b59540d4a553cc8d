"""The final norm of a Hub model (:mod:`llmgeom.sources.final_norm`), read by HTTP ranges at the
head's commit: ``config.json``, the index or the shard's header (metadata), then the norm's m
floats (and bias) in one small range read each; cached beside the head
(``<commit>/final_norm.safetensors``), so the next call makes no request.

Example:
    >>> from llmgeom.sources.hub.http import HubSettings
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> cache = HeadCache(HubSettings("http://x", False, None, root, root), "org/tiny")
    >>> _norm_path(cache, "0" * 40).name
    'final_norm.safetensors'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch

from ..._atomic import atomic_path, write_json_atomic
from ...errors import NetworkError
from ...options import inapplicable
from ...unembedding import FinalNorm, Unembedding
from ..final_norm import choose_norm_keys, make_final_norm, norm_rule
from ..formats.range_file import RangeFile
from ..formats.safetensors_format import tensor_from_bytes
from ..formats.torch_zip import ZipLayoutError, index_zip_checkpoint, tensor_from_plan
from ..layout import parse_config, parse_weight_map, pick_weight_files
from .cache import HeadCache
from .http import HubClient, hub_settings
from .locate import remote_header

Reader = Callable[[str], torch.Tensor]


def _norm_path(cache: HeadCache, sha: str) -> Path:
    return cache.commit_dir(sha) / "final_norm.safetensors"


def _cached(cache: HeadCache, sha: str) -> FinalNorm | None:
    path = _norm_path(cache, sha)
    try:
        side = json.loads(path.with_suffix(".json").read_text())
        tensors = safetensors.torch.load_file(str(path))
        return FinalNorm(tensors["scale"], tensors.get("bias"), **side)
    except (OSError, ValueError, KeyError, TypeError, safetensors.SafetensorError):
        return None  # absent or damaged: read again


def _store(cache: HeadCache, sha: str, norm: FinalNorm) -> None:
    path = _norm_path(cache, sha)
    tensors = {"scale": norm.scale.contiguous()}
    if norm.bias is not None:
        tensors["bias"] = norm.bias.contiguous()
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(tensors, str(tmp))
    names = {"weight_name": norm.weight_name, "bias_name": norm.bias_name}
    side = {"kind": norm.kind, **names, "convention": norm.convention}
    write_json_atomic(path.with_suffix(".json"), side)  # after the tensors: a complete entry


def _file_reader(
    client: HubClient, sha: str, filename: str, fmt: str, size: int | None
) -> tuple[list[str], Reader]:
    """The tensor names of one repository file and a function reading one of them by range."""
    source = f"{client.repo_id}/{filename}"
    if fmt == "safetensors":
        entries = remote_header(client, sha, filename, size)

        def read_entry(key: str) -> torch.Tensor:
            e = entries[key]
            raw = client.get_range(sha, filename, e.start, e.stop)
            return tensor_from_bytes(raw, key, e.torch_dtype, e.shape)

        return list(entries), read_entry
    if size is None:
        raise inapplicable("fold_norm", True, f": {source}: the Hub did not list its size")
    reader = RangeFile(size, lambda a, b: bytes(client.get_range(sha, filename, a, b)))
    try:
        index = index_zip_checkpoint(reader, source)
    except ZipLayoutError as err:
        why = f": {source} cannot be read by ranges ({err}); load the checkpoint locally"
        raise inapplicable("fold_norm", True, why) from None

    def read_planned(key: str) -> torch.Tensor:
        plan = index.plan(key)
        held = reader.cached(plan.start, plan.stop)
        return tensor_from_plan(
            held or client.get_range(sha, filename, plan.start, plan.stop), plan
        )

    return list(index.shapes), read_planned


def _read_norm(client: HubClient, sha: str) -> FinalNorm:
    """Locate the norm from the repository's metadata and read it by ranges."""
    repo = client.repo_id
    _, files = client.revision_info(sha)
    config = None
    if "config.json" in files:
        config = parse_config(client.get_bytes(sha, "config.json"), f"{repo}/config.json")
    layout = pick_weight_files(files, source=repo)
    if layout.index:
        weight_map = parse_weight_map(client.get_bytes(sha, layout.index), f"{repo}/{layout.index}")
        weight, bias = choose_norm_keys(config, weight_map, source=repo)
        readers: dict[str, Reader] = {}
        for key in filter(None, (weight, bias)):
            name = weight_map[key]
            if name not in readers:
                readers[name] = _file_reader(client, sha, name, layout.fmt, files.get(name))[1]
        read: Reader = lambda key: readers[weight_map[key]](key)  # noqa: E731
    else:
        assert layout.single is not None  # one weight file or an index
        single = layout.single
        keys, read = _file_reader(client, sha, single, layout.fmt, files.get(single))
        weight, bias = choose_norm_keys(config, keys, source=repo)
    rule = norm_rule((config or {}).get("model_type"))
    return make_final_norm(rule, read(weight), None if bias is None else read(bias), (weight, bias))


def load_hub_final_norm(head: Unembedding) -> FinalNorm:
    """The final norm at the commit ``head`` was read from (cached after the first read)."""
    meta = head.meta
    repo, sha = meta.repo_id, meta.commit_sha
    if not repo or not sha:
        raise inapplicable("fold_norm", True, f": {meta.source} names no Hub commit")
    cache = HeadCache(hub_settings(), repo)
    norm = _cached(cache, sha)
    if norm is not None:
        return norm
    if cache.settings.offline:
        raise NetworkError(
            f"HF_HUB_OFFLINE=1 and the llmgeom cache holds no final norm of {repo}@{sha[:12]}; "
            "run once with network access to cache it"
        )
    norm = _read_norm(HubClient(cache.settings, repo), sha)
    _store(cache, sha, norm)
    return norm
