"""Hugging Face Hub source: fetch only the output-embedding tensor of a repository.

``load_hub_unembedding("gpt2-xl")`` transfers the head (322 MB) and a few kilobytes of metadata,
never the 6.4 GB weight file: the name (:mod:`.hub_names`) and revision are resolved to a commit
(one API request), the head's file, key and byte range are found from metadata
(:mod:`.hub_locate`), only that range is downloaded (:mod:`.hub_download`) and the head is
cached (:mod:`.hub_cache`): the next call makes no request. Transport and configuration are
``huggingface_hub``'s (:mod:`.hub_http`).

Example:
    >>> resolve_name("gpt2").repo_id
    'openai-community/gpt2'
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import NetworkError
from ..unembedding import HeadMetadata, Unembedding
from .hub_cache import HeadCache
from .hub_download import WholeFileDownloadWarning, download_head
from .hub_http import HubClient, HubSettings, TransferStats, hub_settings
from .hub_locate import HubHead, locate
from .hub_names import HubName, resolve_name
from .registry import RegistryModel
from .tensor_digest import tensor_sha256
from .tokenizer_len import tokenizer_length_from_json, tokenizer_length_from_vocab

__all__ = [
    "HubHead",
    "HubName",
    "WholeFileDownloadWarning",
    "cached_hub_location",
    "load_hub_unembedding",
    "locate_hub_head",
    "resolve_name",
]

log = logging.getLogger(__name__)
CHEAP_TOKENIZER_BYTES = 2_000_000  # fetch tokenizer files of unknown models up to this size


def _connect(
    name: HubName, settings: HubSettings, cache: HeadCache, tensor: str | None, what: str
) -> tuple[HubClient, str, dict[str, int | None]]:
    """A client, the commit of ``name.revision`` and its files (one request); offline: why not."""
    if settings.offline:
        sha = cache.cached_commit(name.revision)
        missing = f"no cached resolution of revision {name.revision!r}"
        if sha is not None:
            head = tensor or "the default head"
            missing = f"no cached {head} for commit {sha[:12]} in {cache.commit_dir(sha)}"
        raise NetworkError(
            f"HF_HUB_OFFLINE=1 and the llmgeom cache cannot {what} {name.repo_id}@{name.revision}"
            f": {missing}. Run once with network access (unset HF_HUB_OFFLINE) to cache it."
        )
    client = HubClient(settings, name.repo_id)
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
    settings = hub_settings()
    cache = HeadCache(settings, hub_name.repo_id)
    client, sha, files = _connect(hub_name, settings, cache, tensor, "inspect")
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
    settings = hub_settings()
    cache = HeadCache(settings, hub_name.repo_id)
    sha = cache.usable_commit(hub_name.revision)
    hit = cache.load(sha, tensor) if sha is not None else None
    stats = TransferStats()
    if hit is None:
        client, sha, files = _connect(hub_name, settings, cache, tensor, "load")
        stats = client.stats
        with cache.lock(sha, tensor):  # concurrent processes: one downloads, the others read it
            hit = cache.load(sha, tensor)
            if hit is None:
                return _fetch(client, cache, hub_name, name, sha, files, tensor, tokenizer)
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
    client: HubClient,
    cache: HeadCache,
    hub_name: HubName,
    name: str,
    sha: str,
    files: dict[str, int | None],
    tensor: str | None,
    tokenizer: bool | None,
) -> Unembedding:
    """Locate, download and cache the head (a cache miss)."""
    head = locate(client, hub_name, sha, files, tensor)
    weight, location, whole_bytes = download_head(client, head, tensor)
    choice, model, stats = location.choice, hub_name.model, client.stats
    assert choice is not None
    shape = (int(weight.shape[0]), int(weight.shape[1])) if weight.ndim == 2 else (0, 0)
    tok_len = None if tokenizer is True else _registry_tokenizer_len(model, shape)
    if tok_len is None and tokenizer is not False and (tokenizer or model is None):
        tok_len = _remote_tokenizer_len(client, head, force=bool(tokenizer))
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
    unembedding = Unembedding(weight, meta)
    cache.store(sha, weight, meta, location, auto=tensor is None)
    return unembedding


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
