"""The cache of extracted heads: one small safetensors file per (repo, commit, tensor).

In huggingface_hub's assets cache (``$HF_HOME/assets`` or ``HF_ASSETS_CACHE``)::

    llmgeom/<org>--<name>/<commit sha>/<tensor>.safetensors|.json|.lock  head, sidecar, lock
    llmgeom/<org>--<name>/<commit sha>/auto.json                         the default head's name
    llmgeom/<org>--<name>/refs/<revision>.json                           branch/tag -> commit

Writes are atomic, the tensor file read back before its sidecar is written; an entry counts only
when the tensor file has the sidecar's size. A ref is reused for ``LLMGEOM_HUB_REF_TTL`` s
(default a day; offline: at any age); processes missing one head take turns (``WeakFileLock``).

Example:
    >>> import tempfile, torch
    >>> root = Path(tempfile.mkdtemp())
    >>> cache = HeadCache(HubSettings("http://x", False, None, root, root), "org/tiny")
    >>> meta = HeadMetadata(source="org/tiny", source_kind="hub", tensor_name="wte.weight")
    >>> cache.store("0" * 40, Unembedding(torch.ones(4, 2), meta), location=None, auto=True)
    >>> cache.load("0" * 40, None).meta.tensor_name
    'wte.weight'
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import safetensors
import safetensors.torch
from huggingface_hub import cached_assets_path
from huggingface_hub.utils import WeakFileLock

from ..._atomic import atomic_path, write_json_atomic
from ...errors import ConfigError, CorruptCheckpointError
from ...unembedding import HeadMetadata, Unembedding
from ..location import HeadLocation
from .http import HubSettings

CACHE_FORMAT = 1
FULL_SHA = re.compile(r"[0-9a-f]{40}")
_UNREADABLE = (OSError, ValueError, KeyError, TypeError)  # a missing or damaged cache file


def ref_ttl_seconds() -> float:
    """How long a cached branch/tag resolution is trusted (``LLMGEOM_HUB_REF_TTL``, seconds)."""
    raw = os.environ.get("LLMGEOM_HUB_REF_TTL", "").strip()
    try:
        return max(0.0, float(raw)) if raw else 24 * 3600.0
    except ValueError:
        raise ConfigError(f"LLMGEOM_HUB_REF_TTL={raw!r} is not a number of seconds") from None


def _read_single(path: Path, name: str, *, shape_only: bool = False) -> Any:
    """The one tensor ``name`` of a cache file (or only its shape)."""
    with safetensors.safe_open(str(path), framework="pt") as fh:
        if list(fh.keys()) != [name]:
            raise CorruptCheckpointError(f"{path}: holds {list(fh.keys())}, not [{name!r}]")
        return tuple(fh.get_slice(name).get_shape()) if shape_only else fh.get_tensor(name)


class HeadCache:
    """Cached heads of one repository (layout in the module docstring)."""

    def __init__(self, settings: HubSettings, repo_id: str) -> None:
        self.settings = settings
        self.repo_id = repo_id
        self.repo_dir = self.commit_dir("refs").parent

    def commit_dir(self, sha: str) -> Path:
        """``cached_assets_path``'s folder of commit ``sha`` (created), or a ConfigError."""
        assets = self.settings.assets_dir
        try:
            return cached_assets_path("llmgeom", self.repo_id, sha, assets_dir=assets)
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"cannot create the llmgeom cache folder in {assets} ({err}); "
                "set HF_ASSETS_CACHE (or HF_HOME) to a writable folder"
            ) from None

    def _ref_path(self, revision: str) -> Path:
        return self.repo_dir / "refs" / f"{quote(revision, safe='')}.json"

    def cached_commit(self, revision: str, *, fresh: bool = False) -> str | None:
        """The cached commit of ``revision`` (a full sha: itself); ``fresh``: only a resolution
        younger than ``LLMGEOM_HUB_REF_TTL`` (offline: any), i.e. one to use without the Hub."""
        if FULL_SHA.fullmatch(revision):
            return revision
        ttl = ref_ttl_seconds() if fresh and not self.settings.offline else math.inf
        try:
            ref = json.loads(self._ref_path(revision).read_text())
            age = max(0.0, time.time() - float(ref["resolved_at"]))
            return str(ref["sha"]) if age < ttl else None
        except _UNREADABLE:
            return None

    def put_ref(self, revision: str, sha: str) -> None:
        """Remember that ``revision`` resolved to ``sha`` now."""
        if not FULL_SHA.fullmatch(revision):
            ref = {"revision": revision, "sha": sha, "resolved_at": time.time()}
            write_json_atomic(self._ref_path(revision), {**ref, "endpoint": self.settings.endpoint})

    @contextmanager
    def lock(self, sha: str, tensor: str | None) -> Iterator[None]:
        """Hold the download lock of one entry (``tensor=None``: the default head)."""
        with WeakFileLock(self.paths(sha, tensor or "auto")[0].with_suffix(".lock")):
            yield

    def paths(self, sha: str, tensor: str) -> tuple[Path, Path]:
        """(tensor file, sidecar) of one entry (file names as ``cached_assets_path`` makes)."""
        base = self.commit_dir(sha) / re.sub(r"[ /\\]", "--", tensor)
        return base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")

    def sidecar(self, sha: str, tensor: str | None) -> dict[str, Any] | None:
        """The sidecar of a complete entry (``tensor=None``: the default head), else None."""
        try:
            auto = self.commit_dir(sha) / "auto.json"
            data_path, side_path = self.paths(sha, tensor or json.loads(auto.read_text())["tensor"])
            side = json.loads(side_path.read_text())
            if side["format"] == CACHE_FORMAT and data_path.stat().st_size == side["file_bytes"]:
                return side
        except _UNREADABLE:
            pass
        return None

    def load(self, sha: str, tensor: str | None) -> Unembedding | None:
        """The cached head of commit ``sha`` (``tensor=None``: the default head), else None."""
        side = self.sidecar(sha, tensor)
        if side is None:
            return None
        derived = ("n_rows", "head_width")  # Unembedding derives them
        meta = HeadMetadata(**{k: v for k, v in side["meta"].items() if k not in derived})
        data_path, _ = self.paths(sha, meta.tensor_name or "")
        try:
            return Unembedding(_read_single(data_path, meta.tensor_name or ""), meta)
        except (CorruptCheckpointError, OSError, safetensors.SafetensorError):
            return None  # damaged behind our back: a miss, downloaded again

    def store(
        self, sha: str, head: Unembedding, location: HeadLocation | None, *, auto: bool
    ) -> None:
        """Write one entry atomically: the tensor file, checked, then its sidecar."""
        weight, meta = head.weight, head.meta
        tensor = meta.tensor_name or "head"
        data_path, side_path = self.paths(sha, tensor)
        with atomic_path(data_path) as tmp:
            stamp = {"repo_id": self.repo_id, "commit_sha": sha, "sha256": meta.sha256 or ""}
            safetensors.torch.save_file({tensor: weight.contiguous()}, str(tmp), metadata=stamp)
            try:
                shape = _read_single(tmp, tensor, shape_only=True)
            except (OSError, safetensors.SafetensorError) as err:
                raise CorruptCheckpointError(f"cache write of {tensor} failed ({err})") from None
            if shape != tuple(weight.shape):
                raise CorruptCheckpointError(f"cache write of {tensor} for {self.repo_id} failed")
            file_bytes = tmp.stat().st_size
        write_json_atomic(
            side_path,
            {
                "format": CACHE_FORMAT,
                "repo_id": self.repo_id,
                "commit_sha": sha,
                "tensor": tensor,
                "file_bytes": file_bytes,
                "meta": meta.to_dict(),
                "location": location.to_dict() if location is not None else None,
                "written_at": time.time(),
            },
        )
        if auto:
            write_json_atomic(self.commit_dir(sha) / "auto.json", {"tensor": tensor})
