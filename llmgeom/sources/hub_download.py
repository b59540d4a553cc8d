"""Download a located Hub head: its byte range only, or (a ``.bin`` the planner refuses) its shard.

The head's bytes come by one ranged GET with a progress bar. A ``.bin`` shard that cannot be read
by ranges (legacy pickle, compressed entry...) is downloaded whole by ``hf_hub_download`` (kept in
the Hugging Face cache) after a :class:`WholeFileDownloadWarning`, and read with
``weights_only=True``.

Example:
    >>> issubclass(WholeFileDownloadWarning, UserWarning)
    True
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import replace

import torch
from huggingface_hub.utils import are_progress_bars_disabled

from ..memory import ensure_fits, format_bytes
from ..progress import progress_bar
from .head_key import choose_head_key
from .hub_http import HubClient
from .hub_locate import HubHead, hf_cached_file
from .location import HeadLocation
from .safetensors_format import dtype_itemsize, tensor_from_bytes
from .torch_zip import tensor_from_plan

log = logging.getLogger(__name__)


class WholeFileDownloadWarning(UserWarning):
    """A ``.bin`` weight file that cannot be read by ranges: the whole file is downloaded."""


def _download_range(
    client: HubClient, head: HubHead, name: str, start: int, stop: int
) -> bytearray:
    """The bytes ``[start, stop)`` of the head's file, with a progress bar."""
    ensure_fits(stop - start, f"the {name} tensor of {client.repo_id}")
    show = False if are_progress_bars_disabled() else None
    with progress_bar(stop - start, f"{client.repo_id} {name}", unit="B", progress=show) as bar:
        return client.get_range(head.commit_sha, head.location.file, start, stop, bar.update)


def _whole_file(client: HubClient, head: HubHead, head_bytes: int | None) -> str:
    """Download the head's whole shard into the Hugging Face cache (warning first)."""
    from huggingface_hub import hf_hub_download

    loc = head.location
    size = format_bytes(loc.file_size) if loc.file_size else "unknown size"
    about = f" (about {format_bytes(head_bytes)})" if head_bytes is not None else ""
    warnings.warn(
        f"{client.repo_id}@{head.name.revision}: {loc.file} cannot be read by HTTP ranges "
        f"({head.whole_file_reason or 'not a zip-format torch.save file'}): downloading the whole "
        f"{loc.file} ({size}) to read the {loc.key} tensor{about}. It is kept in the Hugging Face "
        f"cache ({client.settings.hub_cache_dir}). A safetensors revision of the repository "
        "(e.g. a refs/pr/N conversion: --revision refs/pr/N) would transfer the head only.",
        WholeFileDownloadWarning,
        stacklevel=5,  # the caller of load_hub_unembedding
    )
    with client.calling(loc.file, head.commit_sha):
        return hf_hub_download(
            client.repo_id,
            loc.file,
            revision=head.commit_sha,
            cache_dir=client.settings.hub_cache_dir,
            endpoint=client.settings.endpoint,
            token=client.settings.token or False,
        )


def download_head(
    client: HubClient, head: HubHead, tensor: str | None
) -> tuple[torch.Tensor, HeadLocation, int]:
    """The head tensor, where it was read, and the bytes of a whole file downloaded (0: none).

    By its byte range, from the shard in the Hugging Face cache, or from the whole shard.
    """
    from .torch_bin import bin_shapes, read_bin_tensor

    loc, entry, plan = head.location, head.entry, head.zip_plan
    if entry is not None:
        raw = _download_range(client, head, entry.name, entry.start, entry.stop)
        return tensor_from_bytes(raw, entry), loc, 0
    cached = hf_cached_file(client, head.commit_sha, loc.file)
    if cached is None and plan is not None:
        log.info(
            "%s: reading %s (%s) from %s by HTTP range requests, not the whole file (%s)",
            client.repo_id,
            plan.name,
            format_bytes(plan.nbytes),
            loc.file,
            format_bytes(loc.file_size or 0),
        )
        held = head.reader.cached(plan.start, plan.stop) if head.reader is not None else None
        if held is None:
            raw = _download_range(client, head, plan.name, plan.start, plan.stop)
        else:  # a small file: the blocks read to plan it already hold the head
            raw = bytearray(held)
        return tensor_from_plan(raw, plan), loc, 0
    head_bytes = None  # predicted from the 2-D shape and dtype, when known
    if loc.shape and len(loc.shape) == 2:
        head_bytes = loc.shape[0] * loc.shape[1] * dtype_itemsize(loc.dtype)
    path = cached or _whole_file(client, head, head_bytes)
    if head_bytes is not None:
        ensure_fits(head_bytes, f"the {loc.key} tensor of {client.repo_id}")
    choice = loc.choice
    if choice is None or choice.rule == "predicted":
        shapes = bin_shapes(path)
        source = f"{client.repo_id}/{loc.file}"
        choice = choose_head_key(loc.config, shapes, tensor=tensor, shapes=shapes, source=source)
    weight = read_bin_tensor(path, choice.key)
    dtype = str(weight.dtype).removeprefix("torch.")
    read_at = replace(loc, key=choice.key, dtype=dtype, shape=tuple(weight.shape), choice=choice)
    return weight, read_at, 0 if cached else os.path.getsize(path)
