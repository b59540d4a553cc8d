"""Download a located Hub head: its byte range only, or (a ``.bin`` the planner refuses) its shard.

The head's bytes come by one ranged GET (:meth:`.HubClient.get_range`: retried and resumed by
``huggingface_hub``) with a bytes progress bar. A ``.bin`` shard that cannot be read by ranges
(legacy pickle, compressed entry...) is downloaded whole with ``hf_hub_download`` (kept in the
Hugging Face cache), a :class:`WholeFileDownloadWarning` says why and at what cost, and the tensor
is read with ``weights_only=True``.

Example:
    >>> issubclass(WholeFileDownloadWarning, UserWarning)
    True
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

import torch
from huggingface_hub.utils import are_progress_bars_disabled

from ..memory import ensure_fits, format_bytes
from ..progress import progress_bar
from .head_key import HeadChoice, choose_head_key
from .hub_http import HubClient
from .hub_locate import HubHead, hf_cached_file
from .location import HeadLocation
from .safetensors_format import dtype_itemsize, tensor_from_bytes
from .torch_zip import ZipTensorPlan, tensor_from_plan

log = logging.getLogger(__name__)


class WholeFileDownloadWarning(UserWarning):
    """A ``.bin`` weight file that cannot be read by ranges: the whole file is downloaded."""


@dataclass(frozen=True)
class DownloadedHead:
    """The head tensor, the choice that named it, where it was read, whole-file bytes (or 0)."""

    weight: torch.Tensor
    choice: HeadChoice
    location: HeadLocation
    whole_file_bytes: int = 0


def _download_range(
    client: HubClient, head: HubHead, name: str, start: int, stop: int
) -> bytearray:
    """The bytes ``[start, stop)`` of the head's file, with a progress bar."""
    ensure_fits(stop - start, f"the {name} tensor of {client.repo_id}")
    show = False if are_progress_bars_disabled() else None
    with progress_bar(stop - start, f"{client.repo_id} {name}", unit="B", progress=show) as bar:
        return client.get_range(head.commit_sha, head.location.file, start, stop, bar.update)


def _bin_by_ranges(client: HubClient, head: HubHead, plan: ZipTensorPlan) -> torch.Tensor:
    """The head's stored bytes from a zip ``.bin`` shard (or the blocks read to plan it)."""
    log.info(
        "%s: reading %s (%s) from %s by HTTP range requests, not the whole file (%s)",
        client.repo_id,
        plan.name,
        format_bytes(plan.nbytes),
        head.location.file,
        format_bytes(head.location.file_size or 0),
    )
    reader = head.bin_plan.reader if head.bin_plan is not None else None
    held = reader.cached(plan.start, plan.stop) if reader is not None else None
    if held is not None:  # a small file: the blocks read to plan it already hold the head
        return tensor_from_plan(bytearray(held), plan)
    return tensor_from_plan(_download_range(client, head, plan.name, plan.start, plan.stop), plan)


def _predicted_nbytes(location: HeadLocation) -> int | None:
    """The head's stored size from its predicted 2-D shape and dtype (None: shape unknown)."""
    if location.shape and len(location.shape) == 2:
        return location.shape[0] * location.shape[1] * dtype_itemsize(location.dtype)
    return None


def _whole_file(client: HubClient, head: HubHead) -> str:
    """Download the head's whole shard into the Hugging Face cache (warning first)."""
    from huggingface_hub import hf_hub_download

    location = head.location
    size = format_bytes(location.file_size) if location.file_size else "unknown size"
    nbytes = _predicted_nbytes(location)
    head_size = f" (about {format_bytes(nbytes)})" if nbytes is not None else ""
    reason = head.whole_file_reason or "not a zip-format torch.save file"
    warnings.warn(
        f"{client.repo_id}@{head.name.revision}: {location.file} cannot be read by HTTP "
        f"ranges ({reason}): downloading the whole {location.file} ({size}) to read the "
        f"{location.key} tensor{head_size}. It is kept in the Hugging Face cache "
        f"({client.settings.hub_cache_dir}). A safetensors revision of the repository (e.g. a "
        "refs/pr/N conversion: --revision refs/pr/N) would transfer the head only.",
        WholeFileDownloadWarning,
        stacklevel=4,
    )
    with client.calling(location.file, head.commit_sha):
        return hf_hub_download(
            client.repo_id,
            location.file,
            revision=head.commit_sha,
            cache_dir=client.settings.hub_cache_dir,
            endpoint=client.settings.endpoint,
            token=client.settings.token or False,
        )


def download_head(client: HubClient, head: HubHead, tensor: str | None) -> DownloadedHead:
    """Read the located head: by its byte range, from the HF cache, or from its whole shard."""
    from .torch_bin import bin_shapes, read_bin_tensor

    location = head.location
    if location.fmt == "safetensors":
        entry = head.entry
        assert entry is not None and location.choice is not None
        raw = _download_range(client, head, entry.name, entry.start, entry.stop)
        return DownloadedHead(tensor_from_bytes(raw, entry), location.choice, location)
    cached = hf_cached_file(client, head.commit_sha, location.file)
    plan = head.bin_plan.zip_plan if head.bin_plan is not None else None
    whole = 0
    if cached is None and plan is not None and location.choice is not None:
        weight, choice = _bin_by_ranges(client, head, plan), location.choice
    else:
        path = cached or _whole_file(client, head)
        whole = 0 if cached else os.path.getsize(path)
        nbytes = _predicted_nbytes(location)
        if nbytes is not None:
            ensure_fits(nbytes, f"the {location.key} tensor of {client.repo_id}")
        choice = location.choice
        if choice is None or choice.rule == "predicted":
            shapes = bin_shapes(path)
            source = f"{client.repo_id}/{location.file}"
            choice = choose_head_key(
                head.config, shapes, tensor=tensor, shapes=shapes, source=source
            )
        weight = read_bin_tensor(path, choice.key)
    read_at = HeadLocation(
        source=location.source,
        file=location.file,
        key=choice.key,
        fmt="bin",
        dtype=str(weight.dtype).removeprefix("torch."),
        shape=tuple(weight.shape),
        byte_range=location.byte_range if not whole else None,
        file_size=location.file_size,
        choice=choice,
        config=head.config,
    )
    return DownloadedHead(weight, choice, read_at, whole)
