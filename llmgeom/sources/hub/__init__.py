"""Hugging Face Hub source: fetch only the output-embedding tensor of a repository.

``load_hub_unembedding("gpt2-xl")`` resolves the name (:mod:`.hub_names`) and revision to a
commit, finds the head's file, key and byte range from metadata (:mod:`.hub_locate`), downloads
that range only (322 MB, not the 6.4 GB file) and caches it (:mod:`.hub_cache`): the next call
makes no request. A ``.bin`` shard that cannot be read by ranges is downloaded whole, with a
:class:`WholeFileDownloadWarning`. Transport and configuration: :mod:`.hub_http`.

Example:
    >>> resolve_name("gpt2").repo_id
    'openai-community/gpt2'
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import replace
from typing import Any

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import are_progress_bars_disabled

from ...errors import NetworkError
from ...memory import ensure_fits, format_bytes
from ...progress import progress_bar
from ...unembedding import HeadMetadata, Unembedding
from ..formats.safetensors_format import dtype_itemsize, tensor_from_bytes
from ..formats.torch_bin import bin_shapes, read_bin_tensor
from ..formats.torch_zip import tensor_from_plan
from ..head_key import choose_head_key
from ..location import HeadLocation
from ..registry import RegistryModel
from ..tensor_digest import tensor_sha256
from ..tokenizer_len import tokenizer_length_from_json, tokenizer_length_from_vocab
from .cache import HeadCache
from .http import HubClient, TransferStats, hub_settings
from .locate import HubHead, hf_cached_file, locate
from .names import HubName, resolve_name

log = logging.getLogger(__name__)
CHEAP_TOKENIZER_BYTES = 2_000_000  # fetch tokenizer files of unknown models up to this size


class WholeFileDownloadWarning(UserWarning):
    """A ``.bin`` weight file that cannot be read by ranges: the whole file is downloaded."""


def _get_range(client: HubClient, head: HubHead, name: str, start: int, stop: int) -> bytearray:
    """The bytes ``[start, stop)`` of the head's file, with a progress bar."""
    ensure_fits(stop - start, f"the {name} tensor of {client.repo_id}")
    show = False if are_progress_bars_disabled() else None
    with progress_bar(stop - start, f"{client.repo_id} {name}", unit="B", progress=show) as bar:
        return client.get_range(head.commit_sha, head.location.file, start, stop, bar.update)


def _whole_file(client: HubClient, head: HubHead, head_bytes: int | None) -> str:
    """Download the head's whole shard into the Hugging Face cache (warning first)."""
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
    """The head tensor, where it was read, and the bytes of a whole file downloaded (0: none)."""
    loc, entry, plan = head.location, head.entry, head.zip_plan
    if entry is not None:
        raw = _get_range(client, head, entry.name, entry.start, entry.stop)
        return tensor_from_bytes(raw, entry.name, entry.torch_dtype, entry.shape), loc, 0
    cached = hf_cached_file(client, head.commit_sha, loc.file)
    if cached is None and plan is not None:
        log.info("%s: %s by HTTP ranges, not the whole %s", loc.source, plan.name, loc.file)
        # a small file: the blocks read to plan it may already hold the head
        held = head.reader.cached(plan.start, plan.stop) if head.reader is not None else None
        data = held or _get_range(client, head, plan.name, plan.start, plan.stop)
        return tensor_from_plan(data, plan), loc, 0
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


def _connect(
    name: HubName, cache: HeadCache, tensor: str | None, what: str
) -> tuple[HubClient, str, dict[str, int | None]]:
    """A client, the commit of ``name.revision`` and its files (one request); offline: why not."""
    if cache.settings.offline:
        sha = cache.cached_commit(name.revision)
        missing = f"no cached resolution of revision {name.revision!r}"
        if sha is not None:
            head = tensor or "the default head"
            missing = f"no cached {head} for commit {sha[:12]} in {cache.commit_dir(sha)}"
        raise NetworkError(
            f"HF_HUB_OFFLINE=1 and the llmgeom cache cannot {what} {name.repo_id}@{name.revision}"
            f": {missing}. Run once with network access (unset HF_HUB_OFFLINE) to cache it."
        )
    client = HubClient(cache.settings, name.repo_id)
    sha, files = client.revision_info(name.revision)
    cache.put_ref(name.revision, sha)
    return client, sha, files


def locate_hub_head(
    name: str, *, revision: str | None = None, tensor: str | None = None
) -> HubHead:
    """Find the head of a Hub repository without downloading it (what ``llmgeom inspect`` shows).

    Example:
        >>> head = locate_hub_head("gpt2")                       # doctest: +SKIP
        >>> head.location.file, head.location.byte_range         # doctest: +SKIP
        ('model.safetensors', (15216, 154404720))
    """
    hub_name = resolve_name(name, revision)
    cache = HeadCache(hub_settings(), hub_name.repo_id)
    client, sha, files = _connect(hub_name, cache, tensor, "inspect")
    return locate(client, hub_name, sha, files, tensor)


def _registry_tokenizer_len(model: RegistryModel | None, shape: tuple[int, int]) -> int | None:
    """models.csv's tokenizer length, trusted only when the head has the registry's shape."""
    if model is not None and tuple(shape) != model.head_shape:
        log.info("%s: head shape %s is not models.csv's", model.hub_id, shape)
        return None
    return model.tokenizer_len if model is not None else None


def _remote_tokenizer_len(client: HubClient, head: HubHead, force: bool) -> int | None:
    """``len(tokenizer)`` from the repository's tokenizer files when they are small (or forced)."""
    files, sha, repo = head.files, head.commit_sha, client.repo_id

    def affordable(*names: str) -> bool:
        return force or sum(files.get(n) or 0 for n in names) <= CHEAP_TOKENIZER_BYTES

    if "tokenizer.json" in files and affordable("tokenizer.json"):
        raw = client.get_bytes(sha, "tokenizer.json")
        return tokenizer_length_from_json(raw, f"{repo}: tokenizer.json")
    if "vocab.json" in files and affordable("vocab.json", "added_tokens.json"):
        added = client.get_bytes(sha, "added_tokens.json") if "added_tokens.json" in files else None
        vocab = client.get_bytes(sha, "vocab.json")
        return tokenizer_length_from_vocab(vocab, added, f"{repo}: vocab.json")
    return None


def load_hub_unembedding(
    name: str,
    *,
    revision: str | None = None,
    tensor: str | None = None,
    tokenizer: bool | None = None,
) -> Unembedding:
    """Load the output embedding of a Hub model, transferring only the head tensor.

    ``name``: alias (``gpt2-xl``), ``org/name`` or ``org/name@revision``; ``revision``: branch,
    tag or commit (default ``main``); ``tensor``: force the tensor name; ``tokenizer``: fetch the
    tokenizer files to record ``len(tokenizer)`` (None: from models.csv for the paper's models,
    else only when the files are under 2 MB; False: never).

    Example:
        >>> u = load_hub_unembedding("pythia-70m", revision="step143000")   # doctest: +SKIP
        >>> u.shape, u.meta.commit_sha[:7], u.meta.extra["hub"]["cache"]   # doctest: +SKIP
        ((50304, 512), '...', 'miss')
    """
    hub_name = resolve_name(name, revision)
    cache = HeadCache(hub_settings(), hub_name.repo_id)
    sha = cache.cached_commit(hub_name.revision, fresh=True)
    hit = cache.load(sha, tensor) if sha is not None else None
    stats = TransferStats()
    if hit is None:
        client, sha, files = _connect(hub_name, cache, tensor, "load")
        stats = client.stats
        with cache.lock(sha, tensor):  # concurrent processes: one downloads, the others read it
            hit = cache.load(sha, tensor)
            if hit is None:
                head = locate(client, hub_name, sha, files, tensor)
                fetched, location = _fetch(client, head, name, tensor, tokenizer)
                cache.store(sha, fetched, location, auto=tensor is None)
                return fetched
    hit.meta.source, hit.meta.revision = name, hub_name.revision  # this call's name, revision
    hit.meta.extra["hub"] = {
        **(hit.meta.extra.get("hub") or {}),
        "cache": "hit",
        "requests": stats.requests,
        "bytes_transferred": stats.bytes,
        "whole_file_downloaded": False,
    }
    return hit


def _fetch(
    client: HubClient, head: HubHead, name: str, tensor: str | None, tok: bool | None
) -> tuple[Unembedding, HeadLocation]:
    """The located head, read, and where; ``tok``: load_hub_unembedding's ``tokenizer``."""
    weight, location, whole_bytes = download_head(client, head, tensor)
    hub_name, sha, stats, choice = head.name, head.commit_sha, client.stats, location.choice
    model = hub_name.model
    assert choice is not None
    shape = (int(weight.shape[0]), int(weight.shape[1])) if weight.ndim == 2 else (0, 0)
    tok_len = None if tok is True else _registry_tokenizer_len(model, shape)
    if tok_len is None and tok is not False and (tok or model is None):
        tok_len = _remote_tokenizer_len(client, head, force=bool(tok))
    hub = {
        "endpoint": client.settings.endpoint,
        "alias": hub_name.alias,
        "file_size": location.file_size,
        "byte_range": list(location.byte_range) if location.byte_range else None,
        "requests": stats.requests,
        "bytes_transferred": stats.bytes,
        "whole_file_downloaded": bool(whole_bytes),
        "cache": "miss",
    }
    meta = HeadMetadata(
        source=name,
        source_kind="hub",
        family=choice.family or (model.family if model else None),
        tensor_name=choice.key,
        tied=choice.tied,
        d_model=choice.d_model,
        tokenizer_len=tok_len,
        file=location.file,
        sha256=tensor_sha256(weight),
        repo_id=hub_name.repo_id,
        revision=hub_name.revision,
        commit_sha=sha,
        extra={"head_rule": choice.rule, "format": location.fmt, "hub": hub},
    )
    return Unembedding(weight, meta), location


def cached_hub_location(
    name: str, *, revision: str | None = None, tensor: str | None = None
) -> dict[str, Any] | None:
    """The recorded location of a cached head (what ``inspect`` shows offline), else None."""
    hub_name = resolve_name(name, revision)
    cache = HeadCache(hub_settings(), hub_name.repo_id)
    sha = cache.cached_commit(hub_name.revision)
    side = cache.sidecar(sha, tensor) if sha is not None else None
    if side is None:
        return None
    return {"commit_sha": sha, "location": side.get("location"), "meta": side.get("meta")}
