"""Where the head of a Hub repository is (file, key, byte range), from metadata only.

safetensors: ``config.json``, a sharded checkpoint's index and the shard's header (two small
range requests). ``.bin`` (every OPT main branch): the shard's zip directory and ``data.pkl``,
read by ranges and planned without running code (:mod:`.torch_zip`), else a ``whole_file_reason``.

Example:
    >>> opt = HubName("facebook/opt-350m", "main")
    >>> choice, shape, dtype = predicted_bin_head(opt, None, None, None)
    >>> choice.key, shape, dtype
    ('decoder.embed_tokens.weight', (50272, 512), 'float16')
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from huggingface_hub import try_to_load_from_cache

from ...errors import CorruptCheckpointError, SourceNotFoundError
from ..formats.range_file import RangeFile
from ..formats.safetensors_format import TensorEntry, header_length, parse_header, require_entry
from ..formats.torch_zip import BinaryFile, ZipLayoutError, ZipTensorPlan, index_zip_checkpoint
from ..head_key import HeadChoice, choose_head_key, config_info
from ..layout import parse_config, parse_weight_map, pick_weight_files
from ..location import HeadLocation
from .http import HubClient
from .names import HubName

log = logging.getLogger(__name__)


@dataclass
class HubHead:
    """Where the head of a Hub repository is, decided from metadata only (``llmgeom inspect``)."""

    name: HubName
    commit_sha: str
    location: HeadLocation
    files: dict[str, int | None]  # repository file -> size in bytes (None if unknown)
    entry: TensorEntry | None = None  # a safetensors head (absolute byte offsets)
    zip_plan: ZipTensorPlan | None = None  # a .bin head read by ranges ...
    reader: RangeFile | None = None  # ... and the blocks read to plan it (may hold a small head)
    whole_file_reason: str | None = None  # a .bin head read whole: why
    overhead_bytes: int = 0  # bytes read to decide (API, config, index, header)
    requests: int = 0

    @property
    def repo_bytes(self) -> int:
        """Total size of the repository's files at this commit (as listed by the Hub)."""
        return sum(size or 0 for size in self.files.values())

    @property
    def weight_bytes(self) -> int:
        """Total size of the weight files of the head's format."""
        return sum(n or 0 for f, n in self.files.items() if f.endswith("." + self.location.fmt))

    @property
    def download_bytes(self) -> int | None:
        """Bytes a load would download for the tensor itself (head range, or the whole shard)."""
        loc = self.location
        return loc.nbytes if loc.byte_range is not None else loc.file_size


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
    end = max((entry.stop for entry in entries.values()), default=8 + length)
    if size is not None and end != size:  # the reference reader's rule: the data fills the file
        raise CorruptCheckpointError(
            f"{source}: corrupt file on the Hub ({size} bytes) but its tensors end at byte {end}"
        )
    return entries


def predicted_bin_head(
    name: HubName, config: dict | None, tensor: str | None, choice: HeadChoice | None
) -> tuple[HeadChoice, tuple[int, ...] | None, str | None]:
    """Key, shape and dtype of a ``.bin`` head before the file is downloaded (for inspect)."""
    info, model = config_info(config), name.model
    if choice is None:
        key = tensor or (model.head_keys[0] if model and model.head_keys else "")
        key = key or "(known once the file is read)"
        choice = HeadChoice(key, info.tied, info.family, "predicted", info.d_model)
    shape = model.head_shape if model else None
    dtype = model.storage_dtype if model and " " not in model.storage_dtype else None
    config = config or {}
    rows, cols = config.get("vocab_size"), config.get("word_embed_proj_dim") or info.d_model
    if isinstance(rows, int) and isinstance(cols, int):
        shape = (rows, cols)
    return choice, shape, config.get("torch_dtype") or config.get("dtype") or dtype


def hf_cached_file(client: HubClient, sha: str, filename: str) -> str | None:
    """Path of ``filename`` at commit ``sha`` in the Hugging Face file cache, if it is there."""
    hub_cache = client.settings.hub_cache_dir
    cached = try_to_load_from_cache(client.repo_id, filename, cache_dir=hub_cache, revision=sha)
    return cached if isinstance(cached, str) else None


def plan_bin(
    client: HubClient, head: HubHead, tensor: str | None, choice: HeadChoice | None
) -> HeadChoice | None:
    """Plan the ranged read of a ``.bin`` head (``head.zip_plan``) from its zip directory, read
    from the Hugging Face cache or by ranges; a layout the planner does not handle sets
    ``head.whole_file_reason`` (network errors and unsafe pickles propagate)."""
    sha, filename, size = head.commit_sha, head.location.file, head.location.file_size
    source = f"{client.repo_id}/{filename}"
    local = hf_cached_file(client, sha, filename)
    opened: contextlib.AbstractContextManager[BinaryFile]
    if local is not None:
        opened = open(local, "rb")
    elif size is None:
        head.whole_file_reason = "the Hub did not list the file's size"
        return choice
    else:
        head.reader = RangeFile(size, lambda a, b: bytes(client.get_range(sha, filename, a, b)))
        opened = contextlib.nullcontext(head.reader)
    try:
        with opened as fileobj:
            index, config = index_zip_checkpoint(fileobj, source), head.location.config
            chosen = choice or choose_head_key(
                config, index.shapes, tensor=tensor, shapes=index.shapes, source=source
            )
            head.zip_plan = index.plan(chosen.key)
    except ZipLayoutError as err:
        log.info("%s: no ranged read (%s)", source, err)
        head.whole_file_reason = str(err).removeprefix(f"{source}: ")
        return choice
    if head.reader is not None:
        log.info("%s: located %s by %d range requests", source, chosen.key, head.reader.calls)
    return chosen


def locate(
    client: HubClient, name: HubName, sha: str, files: dict[str, int | None], tensor: str | None
) -> HubHead:
    """Decide file, key and byte range of the head from the repository's metadata."""
    repo, label = client.repo_id, f"{client.repo_id}@{name.revision}"
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
    size, source = files.get(filename), f"{repo}/{filename}"
    where = HeadLocation(repo, filename, "", layout.fmt, file_size=size, config=config)
    head = HubHead(name, sha, where, files)
    shape: tuple[int, ...] | None
    dtype: str | None
    if layout.fmt == "safetensors":
        entries = remote_header(client, sha, filename, size)
        shapes = {k: e.shape for k, e in entries.items()}
        if choice is None:
            choice = choose_head_key(config, shapes, tensor=tensor, shapes=shapes, source=source)
        entry = head.entry = require_entry(entries, choice.key, source)
        dtype, shape, byte_range = entry.dtype, entry.shape, (entry.start, entry.stop)
    else:
        choice = plan_bin(client, head, tensor, choice)
        plan = head.zip_plan
        if plan is not None:
            assert choice is not None  # plan_bin returns the key it planned
            dtype = str(plan.dtype).removeprefix("torch.")
            shape, byte_range = plan.shape, plan.byte_range
        else:
            choice, shape, dtype = predicted_bin_head(name, config, tensor, choice)
            byte_range = None
    head.location = HeadLocation(
        repo, filename, choice.key, layout.fmt, dtype, shape, byte_range, size, choice, config
    )
    head.overhead_bytes, head.requests = client.stats.bytes, client.stats.requests
    return head
