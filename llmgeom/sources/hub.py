"""Hugging Face Hub source: fetch only the output-embedding tensor of a repository.

``load_hub_unembedding("gpt2-xl")`` transfers the head (50257 x 1600 float32 = 322 MB) plus a few
kilobytes (the revision API call, ``config.json``, the index of a sharded checkpoint, the
safetensors header of the one shard that holds the head), never the 6.4 GB weight file:

1. the name is resolved: a paper-model alias (``gpt2-xl``, ``pythia-410m``, ``qwen2.5-7b``: see
   ``llmgeom models``), a Hub id ``org/name``, optionally ``name@revision``;
2. the revision (branch, tag or commit; default ``main``) is resolved to a commit sha with
   ``GET /api/models/<repo>/revision/<rev>?blobs=true`` (which also lists the files and sizes);
   every later request names that commit, so all files come from the same snapshot;
3. safetensors: ``config.json``, the index and the shard's header are read (two HTTP range
   requests for a header), the head key is chosen (:func:`choose_head_key`), and only the
   head's byte range is downloaded, in 64 MiB ranged requests, with a bytes progress bar and
   resumable retries; ``.bin``-only repositories (every OPT main branch): the one shard the index
   maps the head to is a zip archive (``torch.save``), so its central directory (end of file),
   its ``data.pkl`` (parsed without running code, :mod:`.torch_zip`) and then only the head's
   stored bytes are read by range requests; a shard that cannot be read that way (legacy pickle,
   compressed entry...) is downloaded whole with ``hf_hub_download`` (kept in the Hugging Face
   cache), a :class:`WholeFileDownloadWarning` says why and at what cost, and the tensor is read
   with ``weights_only=True``;
4. the head is cached (:mod:`.hub_cache`) with its metadata; the next call makes no request.

Environment (read at each call): ``HF_ENDPOINT`` (mirror), ``HF_TOKEN`` (gated/private repos),
``HF_HUB_OFFLINE=1`` (cache only), ``HF_HOME`` / ``HF_ASSETS_CACHE`` (cache location),
``LLMGEOM_HUB_REF_TTL`` (seconds a branch resolution is reused; default one day).

Example:
    >>> resolve_name("pythia-410m@step143000")
    HubName(repo_id='EleutherAI/pythia-410m', revision='step143000', alias='pythia-410m')
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import (
    ConfigError,
    CorruptCheckpointError,
    LlmgeomError,
    NetworkError,
    SourceNotFoundError,
    UnknownModelError,
)
from ..memory import ensure_fits, format_bytes
from ..unembedding import HeadMetadata, Unembedding
from .head_key import HeadChoice, choose_head_key, config_info
from .hub_cache import FULL_SHA, HeadCache
from .hub_http import HubClient, HubSettings, hub_settings
from .layout import WeightFiles, parse_config, parse_weight_map, pick_weight_files
from .location import HeadLocation
from .range_file import RangeFile
from .registry import RegistryModel, lookup, suggest
from .safetensors_format import (
    TensorEntry,
    dtype_itemsize,
    header_length,
    parse_header,
    require_entry,
    tensor_from_bytes,
)
from .tensor_digest import tensor_sha256
from .tokenizer_len import tokenizer_length_from_json, tokenizer_length_from_vocab
from .torch_zip import (
    ZipCheckpoint,
    ZipLayoutError,
    ZipTensorPlan,
    index_zip_checkpoint,
    tensor_from_plan,
)

log = logging.getLogger(__name__)

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_PREFIXES = ("hf://", "https://huggingface.co/", "huggingface.co/", "hf.co/")
CHEAP_TOKENIZER_BYTES = 2_000_000  # fetch tokenizer files of unknown models up to this size


class WholeFileDownloadWarning(UserWarning):
    """A ``.bin`` weight file that cannot be read by ranges: the whole file is downloaded."""


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubName:
    """A resolved model name: repository id, revision as asked, registry alias if any."""

    repo_id: str
    revision: str
    alias: str | None = None

    @property
    def model(self) -> RegistryModel | None:
        """The paper-model registry entry of this repository, if it is one of the 27."""
        return lookup(self.repo_id)


def resolve_name(name: str, revision: str | None = None) -> HubName:
    """Turn an alias, ``org/name`` or ``org/name@revision`` into a :class:`HubName`.

    Example:
        >>> resolve_name("gpt2-xl").repo_id
        'openai-community/gpt2-xl'
        >>> resolve_name("EleutherAI/pythia-70m", revision="step1000").revision
        'step1000'
    """
    text = name.strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :].strip("/")
    if "@" in text:
        text, at_revision = text.rsplit("@", 1)
        if revision is not None and revision != at_revision:
            raise ConfigError(
                f"{name!r} names revision {at_revision!r} but --revision is {revision!r}"
            )
        revision = at_revision
    if revision is not None and not revision.strip():
        raise ConfigError("an empty revision was given")
    model = lookup(text)
    if model is not None:
        return HubName(model.hub_id, revision or "main", model.alias)
    if _REPO_ID.fullmatch(text) and ".." not in text:
        return HubName(text, revision or "main", None)
    close = suggest(text)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"{name!r} is not a local path, a paper-model alias or a Hub repository id "
        f"(ORG/NAME).{hint} `llmgeom models` lists the aliases."
    )


# --------------------------------------------------------------------------------------------
# locating the head on the Hub (no tensor data read)
# --------------------------------------------------------------------------------------------
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
    extra: dict[str, Any] = field(default_factory=dict)

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


def _revision_info(client: HubClient, revision: str) -> tuple[str, dict[str, int | None]]:
    """(commit sha, {file: size}) of ``revision``: one API request."""
    data = client.get_json(
        client.revision_api_url(revision) + "?blobs=true", f"revision {revision!r}", revision
    )
    sha = data.get("sha") if isinstance(data, dict) else None
    if not isinstance(sha, str) or not FULL_SHA.fullmatch(sha):
        raise CorruptCheckpointError(
            f"{client.repo_id}: the Hub's answer for revision {revision!r} has no commit sha"
        )
    files: dict[str, int | None] = {}
    for sibling in data.get("siblings") or []:
        if isinstance(sibling, dict) and isinstance(sibling.get("rfilename"), str):
            size = sibling.get("size") or (sibling.get("lfs") or {}).get("size")
            files[sibling["rfilename"]] = int(size) if isinstance(size, int) else None
    return sha, files


def _remote_header(
    client: HubClient, sha: str, filename: str, size: int | None
) -> dict[str, TensorEntry]:
    """The tensor entries of a remote safetensors file: two small range requests."""
    source = f"{client.repo_id}/{filename}"
    length = header_length(client.get_range(sha, filename, 0, 8), source)
    if size is not None and 8 + length > size:
        raise CorruptCheckpointError(f"{source}: header of {length} bytes in a {size}-byte file")
    entries, _ = parse_header(client.get_range(sha, filename, 8, 8 + length), source)
    for entry in entries.values():
        if size is not None and entry.stop > size:
            raise CorruptCheckpointError(
                f"{source}: truncated file on the Hub ({size} bytes) but tensor {entry.name!r} "
                f"ends at byte {entry.stop}"
            )
    return entries


def _predicted_bin_head(
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


def _hf_cached_file(client: HubClient, sha: str, filename: str) -> str | None:
    """Path of ``filename`` at commit ``sha`` in the Hugging Face file cache, if it is there."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(
        client.repo_id, filename, cache_dir=client.settings.hub_cache_dir, revision=sha
    )
    return cached if isinstance(cached, str) else None


def _plan_bin(
    client: HubClient,
    sha: str,
    filename: str,
    size: int | None,
    config: dict | None,
    tensor: str | None,
    choice: HeadChoice | None,
) -> tuple[ZipTensorPlan | None, HeadChoice | None, str, RangeFile | None]:
    """Plan the ranged read of a ``.bin`` head: (plan, choice, "", reader) or (None, choice,
    reason, None); ``reader`` is the range-read file (its cached blocks may hold the head).

    Reads the zip central directory and ``data.pkl`` (of the shard in the Hugging Face cache when
    it is there, else by range requests). Network errors and unsafe pickles propagate; only a
    layout this reader does not handle returns a reason (the caller downloads the whole file).
    """
    source = f"{client.repo_id}/{filename}"
    local = _hf_cached_file(client, sha, filename)
    if local is None and size is None:
        return None, choice, "the Hub did not list the file's size", None

    def plan_from(fileobj: Any) -> tuple[ZipTensorPlan, HeadChoice]:
        index: ZipCheckpoint = index_zip_checkpoint(fileobj, source)
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
            reader = RangeFile(size, lambda a, b: client.get_range(sha, filename, a, b))
            plan, choice = plan_from(reader)
            log.info(
                "%s: located %s by %d range requests (%d bytes)",
                source,
                plan.name,
                reader.calls,
                reader.bytes_fetched,
            )
    except ZipLayoutError as err:
        log.info("%s: no ranged read (%s)", source, err)
        return None, choice, str(err).removeprefix(f"{source}: "), None
    return plan, choice, "", reader


def _locate(
    client: HubClient, name: HubName, sha: str, files: dict[str, int | None], tensor: str | None
) -> HubHead:
    """Decide file, key and byte range of the head from the repository's metadata."""
    repo = client.repo_id
    config = None
    if "config.json" in files:
        config = parse_config(client.get_bytes(sha, "config.json"), f"{repo}/config.json")
    layout = pick_weight_files(files, source=f"{repo}@{name.revision}")
    choice: HeadChoice | None = None
    if layout.index:
        index_raw = client.get_bytes(sha, layout.index)
        weight_map = parse_weight_map(index_raw, f"{repo}/{layout.index}")
        choice = choose_head_key(
            config, weight_map, tensor=tensor, source=f"{repo}@{name.revision}"
        )
        filename = weight_map[choice.key]
        if filename not in files:
            raise SourceNotFoundError(
                f"{repo}@{name.revision}: the index maps {choice.key!r} to {filename}, which the "
                "repository does not have"
            )
    else:
        filename = layout.single or ""
    size = files.get(filename)
    entry = None
    extra: dict[str, Any] = {}
    if layout.fmt == "safetensors":
        entries = _remote_header(client, sha, filename, size)
        if choice is None:
            shapes = {k: e.shape for k, e in entries.items()}
            choice = choose_head_key(
                config, shapes, tensor=tensor, shapes=shapes, source=f"{repo}/{filename}"
            )
        entry = require_entry(entries, choice.key, f"{repo}/{filename}")
        location = HeadLocation(
            source=repo,
            file=filename,
            key=choice.key,
            fmt="safetensors",
            dtype=entry.dtype,
            shape=entry.shape,
            byte_range=(entry.start, entry.stop),
            file_size=size,
            choice=choice,
            config=config,
        )
    else:
        plan, choice, reason, reader = _plan_bin(
            client, sha, filename, size, config, tensor, choice
        )
        if plan is not None and choice is not None:
            location = HeadLocation(
                source=repo,
                file=filename,
                key=plan.name,
                fmt="bin",
                dtype=str(plan.dtype).removeprefix("torch."),
                shape=plan.shape,
                byte_range=plan.byte_range,
                file_size=size,
                choice=choice,
                config=config,
            )
        else:
            choice, shape, dtype = _predicted_bin_head(name, config, tensor, choice)
            location = HeadLocation(
                source=repo,
                file=filename,
                key=choice.key,
                fmt="bin",
                dtype=dtype,
                shape=shape,
                byte_range=None,
                file_size=size,
                choice=choice,
                config=config,
            )
        extra = {"zip_plan": plan, "zip_reader": reader, "whole_file_reason": reason}
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
        extra=extra,
    )


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
    if settings.offline:
        raise NetworkError(_offline_message(hub_name, cache, tensor, what="inspect"))
    client = HubClient(settings, hub_name.repo_id)
    sha, files = _revision_info(client, hub_name.revision)
    cache.put_ref(hub_name.revision, sha)
    return _locate(client, hub_name, sha, files, tensor)


# --------------------------------------------------------------------------------------------
# downloading
# --------------------------------------------------------------------------------------------
def _progress_disabled() -> bool | None:
    flag = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower()
    return True if flag in {"1", "true", "yes", "on"} else None  # None: tqdm decides (tty or not)


def _download_range(
    client: HubClient, head: HubHead, name: str, start: int, nbytes: int
) -> bytearray:
    """Download ``nbytes`` of the head's file from ``start`` (ranged, resumable, progress bar)."""
    ensure_fits(nbytes, f"the {name} tensor of {client.repo_id}")
    buffer = bytearray(nbytes)
    url = client.file_url(head.commit_sha, head.location.file)
    with tqdm(
        total=nbytes,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"{client.repo_id} {name}",
        disable=_progress_disabled(),
    ) as bar:
        client.read_range_into(
            url,
            start,
            buffer,
            what=f"{head.location.file}:{name}",
            revision=head.commit_sha,
            progress=bar.update,
        )
    return buffer


def _download_safetensors_head(client: HubClient, head: HubHead) -> torch.Tensor:
    """Download exactly the head's byte range and build the tensor (no copy)."""
    entry = head.entry
    assert entry is not None
    return tensor_from_bytes(
        _download_range(client, head, entry.name, entry.start, entry.nbytes), entry
    )


def _download_bin_ranges(client: HubClient, head: HubHead, plan: ZipTensorPlan) -> torch.Tensor:
    """Download exactly the head's stored bytes from a zip ``.bin`` shard (ranged, resumable)."""
    log.info(
        "%s: reading %s (%s) from %s by HTTP range requests, not the whole file (%s)",
        client.repo_id,
        plan.name,
        format_bytes(plan.nbytes),
        head.location.file,
        format_bytes(head.location.file_size or 0),
    )
    reader: RangeFile | None = head.extra.get("zip_reader")
    held = reader.cached(plan.start, plan.stop) if reader is not None else None
    if held is not None:  # a small file: the blocks read to plan it already hold the head
        return tensor_from_plan(bytearray(held), plan)
    return tensor_from_plan(_download_range(client, head, plan.name, plan.start, plan.nbytes), plan)


def _download_bin_head(
    client: HubClient, head: HubHead, tensor: str | None
) -> tuple[torch.Tensor, HeadChoice, int]:
    """Read the head of a ``.bin`` shard: from the HF cache, by ranges, or downloading it whole.

    Returns (tensor, choice, bytes downloaded by a whole-file download: 0 otherwise).
    """
    from huggingface_hub import hf_hub_download

    from .torch_bin import bin_shapes, read_bin_tensor

    settings = client.settings
    location = head.location
    cached = _hf_cached_file(client, head.commit_sha, location.file)
    plan: ZipTensorPlan | None = head.extra.get("zip_plan")
    downloaded = 0
    if cached is not None:
        path = cached
    elif plan is not None and location.choice is not None:
        return _download_bin_ranges(client, head, plan), location.choice, 0
    else:
        size = format_bytes(location.file_size) if location.file_size else "unknown size"
        head_size = ""
        if location.shape and len(location.shape) == 2:
            nbytes = location.shape[0] * location.shape[1] * dtype_itemsize(location.dtype)
            head_size = f" (about {format_bytes(nbytes)})"
        reason = head.extra.get("whole_file_reason") or "not a zip-format torch.save file"
        log.info(
            "%s: %s cannot be read by ranges (%s); downloading the whole file",
            client.repo_id,
            location.file,
            reason,
        )
        warnings.warn(
            f"{client.repo_id}@{head.name.revision}: {location.file} cannot be read by HTTP "
            f"ranges ({reason}): downloading the whole {location.file} ({size}) to read the "
            f"{location.key} tensor{head_size}. It is kept in the Hugging Face cache "
            f"({settings.hub_cache_dir}). A safetensors revision of the repository (e.g. a "
            "refs/pr/N conversion: --revision refs/pr/N) would transfer the head only.",
            WholeFileDownloadWarning,
            stacklevel=3,
        )
        try:
            path = hf_hub_download(
                client.repo_id,
                location.file,
                revision=head.commit_sha,
                cache_dir=settings.hub_cache_dir,
                endpoint=settings.endpoint,
                token=settings.token or False,
            )
        except LlmgeomError:
            raise
        except Exception as err:  # huggingface_hub's HTTP and cache errors
            raise client.translate(err, location.file, head.commit_sha) from None
        downloaded = os.path.getsize(path)
    if location.shape and len(location.shape) == 2:
        ensure_fits(
            location.shape[0] * location.shape[1] * dtype_itemsize(location.dtype),
            f"the {location.key} tensor of {client.repo_id}",
        )
    choice = location.choice
    if choice is None or choice.rule == "predicted":
        shapes = bin_shapes(path)
        choice = choose_head_key(
            head.config,
            shapes,
            tensor=tensor,
            shapes=shapes,
            source=f"{client.repo_id}/{location.file}",
        )
    return read_bin_tensor(path, choice.key), choice, downloaded


def _registry_tokenizer_len(model: RegistryModel | None, shape: tuple[int, int]) -> int | None:
    """models.csv's tokenizer length, trusted only when the head has the registry's shape."""
    if model is None:
        return None
    if tuple(shape) != model.head_shape:
        log.info(
            "%s: head shape %s differs from models.csv %s; tokenizer length not taken "
            "from the registry",
            model.hub_id,
            shape,
            model.head_shape,
        )
        return None
    return model.tokenizer_len


def _remote_tokenizer_len(client: HubClient, head: HubHead, force: bool) -> int | None:
    """``len(tokenizer)`` from the repository's tokenizer files when they are small (or forced)."""
    files, sha = head.files, head.commit_sha

    def affordable(*names: str) -> bool:
        sizes = [files.get(n) or 0 for n in names]
        return force or sum(sizes) <= CHEAP_TOKENIZER_BYTES

    if "tokenizer.json" in files and affordable("tokenizer.json"):
        return tokenizer_length_from_json(
            client.get_bytes(sha, "tokenizer.json"), f"{client.repo_id}: tokenizer.json"
        )
    if "vocab.json" in files and affordable("vocab.json", "added_tokens.json"):
        added = client.get_bytes(sha, "added_tokens.json") if "added_tokens.json" in files else None
        return tokenizer_length_from_vocab(
            client.get_bytes(sha, "vocab.json"), added, f"{client.repo_id}: vocab.json"
        )
    return None


def _offline_message(name: HubName, cache: HeadCache, tensor: str | None, what: str) -> str:
    ref = cache.get_ref(name.revision)
    label = f"{name.repo_id}@{name.revision}"
    if ref is None:
        missing = f"no cached resolution of revision {name.revision!r}"
    else:
        tensor_label = tensor or "the default head"
        missing = (
            f"no cached {tensor_label} for commit {ref.sha[:12]} in {cache.commit_dir(ref.sha)}"
        )
    return (
        f"HF_HUB_OFFLINE=1 and the llmgeom cache cannot {what} {label}: {missing}. "
        "Run once with network access (unset HF_HUB_OFFLINE) to cache it."
    )


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
    settings: HubSettings = hub_settings()
    cache = HeadCache(settings, hub_name.repo_id)
    sha = cache.usable_commit(hub_name.revision)
    if sha is not None:
        hit = cache.load(sha, tensor)
        if hit is not None:
            return _as_hit(hit, name, hub_name)
    if settings.offline:
        raise NetworkError(_offline_message(hub_name, cache, tensor, what="load"))

    client = HubClient(settings, hub_name.repo_id)
    sha, files = _revision_info(client, hub_name.revision)
    cache.put_ref(hub_name.revision, sha)
    hit = cache.load(sha, tensor)
    if hit is not None:
        return _as_hit(
            hit, name, hub_name, requests=client.stats.requests, nbytes=client.stats.bytes
        )

    head = _locate(client, hub_name, sha, files, tensor)
    location = head.location
    whole_file = 0
    if location.fmt == "safetensors":
        weight = _download_safetensors_head(client, head)
        choice = location.choice
    else:
        weight, choice, whole_file = _download_bin_head(client, head, tensor)
        location = HeadLocation(
            source=location.source,
            file=location.file,
            key=choice.key,
            fmt="bin",
            dtype=str(weight.dtype).removeprefix("torch."),
            shape=tuple(weight.shape),
            byte_range=location.byte_range if not whole_file else None,
            file_size=location.file_size,
            choice=choice,
            config=head.config,
        )
    assert choice is not None
    model = hub_name.model
    shape = (int(weight.shape[0]), int(weight.shape[1])) if weight.ndim == 2 else (0, 0)
    tok_len = None if tokenizer is True else _registry_tokenizer_len(model, shape)
    if tok_len is None and tokenizer is not False and (tokenizer or model is None):
        tok_len = _remote_tokenizer_len(client, head, force=bool(tokenizer))
    meta = HeadMetadata(
        source=name,
        source_kind="hub",
        family=choice.family or (model.family if model else None),
        tensor_name=choice.key,
        tied=choice.tied,
        d_model=choice.d_model,
        tokenizer_len=tok_len,
        stored_dtype=str(weight.dtype).removeprefix("torch."),
        file=location.file,
        sha256=tensor_sha256(weight),
        repo_id=hub_name.repo_id,
        revision=hub_name.revision,
        commit_sha=sha,
        extra={
            "head_rule": choice.rule,
            "format": location.fmt,
            "hub": {
                "endpoint": settings.endpoint,
                "alias": hub_name.alias,
                "file_size": location.file_size,
                "byte_range": list(location.byte_range) if location.byte_range else None,
                "requests": client.stats.requests,
                "bytes_transferred": client.stats.bytes + whole_file,
                "whole_file_downloaded": bool(whole_file),
                "cache": "miss",
            },
        },
    )
    unembedding = Unembedding(weight, meta)
    cache.store(sha, weight, meta, location, auto=tensor is None)
    return unembedding


def _as_hit(
    hit: Unembedding, name: str, hub_name: HubName, requests: int = 0, nbytes: int = 0
) -> Unembedding:
    """A cached head, relabelled with this call's name and revision."""
    hit.meta.source = name
    hit.meta.revision = hub_name.revision
    hub = dict(hit.meta.extra.get("hub") or {})
    hub.update(
        {
            "cache": "hit",
            "requests": requests,
            "bytes_transferred": nbytes,
            "whole_file_downloaded": False,
        }
    )
    hit.meta.extra["hub"] = hub
    return hit


def cached_hub_location(
    name: str, *, revision: str | None = None, tensor: str | None = None
) -> dict[str, Any] | None:
    """The recorded location of a cached head (what ``inspect`` shows offline), else None.

    Example:
        >>> cached_hub_location("org/never-downloaded") is None
        True
    """
    hub_name = resolve_name(name, revision)
    cache = HeadCache(hub_settings(), hub_name.repo_id)
    ref = cache.get_ref(hub_name.revision)
    if ref is None:
        return None
    side = cache.sidecar(ref.sha, tensor)
    if side is None:
        return None
    return {"commit_sha": ref.sha, "location": side.get("location"), "meta": side.get("meta")}
