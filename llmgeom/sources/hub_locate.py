"""Where the head of a Hub repository is (file, key, byte range), from metadata only.

A safetensors head: ``config.json``, the index of a sharded checkpoint and the one shard's header
(two small range requests) give the key (:func:`.head_key.choose_head_key`) and byte range. A
``.bin`` head (every OPT main branch): the shard is a ``torch.save`` zip archive, so its central
directory and ``data.pkl`` are read by ranges (:mod:`.torch_zip`, through a :class:`.RangeFile`)
and planned without running code; a layout the planner does not handle gives a
:class:`BinPlan` with a ``whole_file_reason`` instead (the whole shard will be downloaded).

Example:
    >>> BinPlan(None, None, "legacy torch.save format").whole_file_reason
    'legacy torch.save format'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import IO

from ..errors import CorruptCheckpointError, SourceNotFoundError
from .head_key import HeadChoice, choose_head_key, config_info
from .hub_http import HubClient
from .hub_names import HubName
from .layout import WeightFiles, parse_config, parse_weight_map, pick_weight_files
from .location import HeadLocation
from .range_file import RangeFile
from .safetensors_format import TensorEntry, header_length, parse_header, require_entry
from .torch_zip import ZipLayoutError, ZipTensorPlan, index_zip_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BinPlan:
    """How a ``.bin`` head will be read: by ranges (``zip_plan``) or whole (``whole_file_reason``).

    ``reader`` is the range-read file the plan came from: its cached blocks may already hold the
    head (a small shard).
    """

    zip_plan: ZipTensorPlan | None
    reader: RangeFile | None
    whole_file_reason: str | None = None


@dataclass
class HubHead:
    """Where the head of a Hub repository is, decided from metadata only (``llmgeom inspect``)."""

    name: HubName
    commit_sha: str
    location: HeadLocation
    files: dict[str, int | None]  # repository file -> size in bytes (None if unknown)
    config: dict | None
    layout: WeightFiles
    entry: TensorEntry | None = None  # safetensors entry (absolute byte offsets)
    overhead_bytes: int = 0  # bytes read to decide (API, config, index, header)
    requests: int = 0
    bin_plan: BinPlan | None = None  # .bin heads only

    @property
    def whole_file_reason(self) -> str | None:
        """Why a ``.bin`` head cannot be read by ranges (None when it can, or is safetensors)."""
        return self.bin_plan.whole_file_reason if self.bin_plan is not None else None

    @property
    def repo_bytes(self) -> int:
        """Total size of the repository's files at this commit (as listed by the Hub)."""
        return sum(size or 0 for size in self.files.values())

    @property
    def weight_bytes(self) -> int:
        """Total size of the weight files of the chosen format."""
        suffix = ".safetensors" if self.layout.fmt == "safetensors" else ".bin"
        return sum(size or 0 for f, size in self.files.items() if f.endswith(suffix))

    @property
    def download_bytes(self) -> int | None:
        """Bytes a load would download for the tensor itself (head range, or the whole shard)."""
        if self.location.byte_range is not None:
            return self.location.nbytes
        return self.location.file_size


def remote_header(
    client: HubClient, sha: str, filename: str, size: int | None
) -> dict[str, TensorEntry]:
    """The tensor entries of a remote safetensors file: two small range requests."""
    source = f"{client.repo_id}/{filename}"
    length = header_length(bytes(client.get_range(sha, filename, 0, 8)), source)
    if size is not None and 8 + length > size:
        raise CorruptCheckpointError(f"{source}: header of {length} bytes in a {size}-byte file")
    entries, _ = parse_header(bytes(client.get_range(sha, filename, 8, 8 + length)), source)
    for entry in entries.values():
        if size is not None and entry.stop > size:
            raise CorruptCheckpointError(
                f"{source}: truncated file on the Hub ({size} bytes) but tensor {entry.name!r} "
                f"ends at byte {entry.stop}"
            )
    return entries


def predicted_bin_head(
    name: HubName, config: dict | None, tensor: str | None, choice: HeadChoice | None
) -> tuple[HeadChoice, tuple[int, ...] | None, str | None]:
    """Key, shape and dtype of a ``.bin`` head before the file is downloaded (for inspect)."""
    info = config_info(config)
    model = name.model
    if choice is None:
        key = tensor or (model.head_keys[0] if model and model.head_keys else "")
        choice = HeadChoice(
            key or "(known once the file is read)",
            info.tied,
            info.family,
            "predicted",
            info.d_model,
        )
    shape: tuple[int, ...] | None = None
    dtype = None
    if model is not None:
        shape = model.head_shape
        dtype = model.storage_dtype if " " not in model.storage_dtype else None
    if config:
        rows = config.get("vocab_size")
        cols = config.get("word_embed_proj_dim") or info.d_model
        if isinstance(rows, int) and isinstance(cols, int):
            shape = (rows, cols)
        dtype = config.get("torch_dtype") or config.get("dtype") or dtype
    return choice, shape, dtype


def hf_cached_file(client: HubClient, sha: str, filename: str) -> str | None:
    """Path of ``filename`` at commit ``sha`` in the Hugging Face file cache, if it is there."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(
        client.repo_id, filename, cache_dir=client.settings.hub_cache_dir, revision=sha
    )
    return cached if isinstance(cached, str) else None


def plan_bin(
    client: HubClient,
    sha: str,
    filename: str,
    size: int | None,
    config: dict | None,
    tensor: str | None,
    choice: HeadChoice | None,
) -> tuple[BinPlan, HeadChoice | None]:
    """Plan the ranged read of a ``.bin`` head from its zip directory and ``data.pkl``.

    Read from the shard in the Hugging Face cache when it is there, else by range requests.
    Network errors and unsafe pickles propagate; only a layout the planner does not handle gives
    a plan with a ``whole_file_reason`` (the caller then downloads the whole file).
    """
    source = f"{client.repo_id}/{filename}"
    local = hf_cached_file(client, sha, filename)
    if local is None and size is None:
        return BinPlan(None, None, "the Hub did not list the file's size"), choice

    def plan_from(fileobj: IO[bytes]) -> tuple[ZipTensorPlan, HeadChoice]:
        index = index_zip_checkpoint(fileobj, source)
        chosen = choice
        if chosen is None or chosen.rule == "predicted":
            chosen = choose_head_key(
                config, index.shapes, tensor=tensor, shapes=index.shapes, source=source
            )
        return index.plan(chosen.key), chosen

    reader: RangeFile | None = None
    try:
        if local is not None:
            with open(local, "rb") as fh:
                plan, choice = plan_from(fh)
        else:
            assert size is not None
            reader = RangeFile(size, lambda a, b: bytes(client.get_range(sha, filename, a, b)))
            plan, choice = plan_from(reader)  # type: ignore[arg-type]
            log.info("%s: located %s by %d range requests", source, plan.name, reader.calls)
    except ZipLayoutError as err:
        log.info("%s: no ranged read (%s)", source, err)
        return BinPlan(None, None, str(err).removeprefix(f"{source}: ")), choice
    return BinPlan(plan, reader), choice


def locate(
    client: HubClient, name: HubName, sha: str, files: dict[str, int | None], tensor: str | None
) -> HubHead:
    """Decide file, key and byte range of the head from the repository's metadata."""
    repo = client.repo_id
    label = f"{repo}@{name.revision}"
    config = None
    if "config.json" in files:
        config = parse_config(client.get_bytes(sha, "config.json"), f"{repo}/config.json")
    layout = pick_weight_files(files, source=label)
    choice: HeadChoice | None = None
    filename = layout.single or ""
    if layout.index:
        weight_map = parse_weight_map(client.get_bytes(sha, layout.index), f"{repo}/{layout.index}")
        choice = choose_head_key(config, weight_map, tensor=tensor, source=label)
        filename = weight_map[choice.key]
        if filename not in files:
            raise SourceNotFoundError(
                f"{label}: the index maps {choice.key!r} to {filename}, which the repository "
                "does not have"
            )
    size = files.get(filename)
    entry = None
    bin_plan = None
    if layout.fmt == "safetensors":
        entries = remote_header(client, sha, filename, size)
        if choice is None:
            shapes = {k: e.shape for k, e in entries.items()}
            choice = choose_head_key(
                config, shapes, tensor=tensor, shapes=shapes, source=f"{repo}/{filename}"
            )
        entry = require_entry(entries, choice.key, f"{repo}/{filename}")
        key, dtype, shape, byte_range = (
            choice.key,
            entry.dtype,
            entry.shape,
            (entry.start, entry.stop),
        )
    else:
        bin_plan, choice = plan_bin(client, sha, filename, size, config, tensor, choice)
        plan = bin_plan.zip_plan
        if plan is not None and choice is not None:
            key, shape, byte_range = plan.name, plan.shape, plan.byte_range
            dtype = str(plan.dtype).removeprefix("torch.")
        else:
            choice, shape, dtype = predicted_bin_head(name, config, tensor, choice)
            key, byte_range = choice.key, None
    location = HeadLocation(
        source=repo,
        file=filename,
        key=key,
        fmt=layout.fmt,
        dtype=dtype,
        shape=shape,
        byte_range=byte_range,
        file_size=size,
        choice=choice,
        config=config,
    )
    return HubHead(
        name,
        sha,
        location,
        files,
        config,
        layout,
        entry,
        overhead_bytes=client.stats.bytes,
        requests=client.stats.requests,
        bin_plan=bin_plan,
    )
