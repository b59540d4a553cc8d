"""The cache of extracted heads: one small safetensors file per (repo, commit, tensor).

Layout, in huggingface_hub's *assets* cache (``$HF_HOME/assets`` unless ``HF_ASSETS_CACHE`` is
set), folders made by ``huggingface_hub.cached_assets_path(library_name="llmgeom",
namespace=repo, subfolder=commit)``::

    $HF_HOME/assets/llmgeom/<org>--<name>/<commit sha>/<tensor>.safetensors  the head, as stored
    $HF_HOME/assets/llmgeom/<org>--<name>/<commit sha>/<tensor>.json         metadata sidecar
    $HF_HOME/assets/llmgeom/<org>--<name>/<commit sha>/auto.json             head chosen by default
    $HF_HOME/assets/llmgeom/<org>--<name>/<commit sha>/<tensor>.lock         download lock
    $HF_HOME/assets/llmgeom/<org>--<name>/refs/<revision>.json               branch/tag -> commit

Every file is written to a temporary name and renamed; the tensor file is written and checked
(read back with ``safetensors.safe_open``) before its sidecar, and an entry counts only when its
sidecar exists and the tensor file has the recorded size, so an interrupted write never yields a
corrupt entry. Processes that miss the same entry at once take turns through a file lock
(``huggingface_hub.utils.WeakFileLock``): the first downloads, the others find it cached.

A branch or tag name is resolved to a commit with one small API request; the answer is kept
in ``refs/`` and reused without any request for ``LLMGEOM_HUB_REF_TTL`` seconds (default one
day; ``0`` always asks the Hub). A full 40-hex commit sha never needs the Hub once cached, and
with ``HF_HUB_OFFLINE=1`` any cached resolution is used, whatever its age.

Example:
    >>> import tempfile, torch
    >>> from llmgeom.unembedding import HeadMetadata
    >>> from llmgeom.sources.hub_http import HubSettings
    >>> root = Path(tempfile.mkdtemp())
    >>> cache = HeadCache(HubSettings("http://x", False, None, root, root), "org/tiny")
    >>> sha = "0" * 40
    >>> meta = HeadMetadata(source="org/tiny", source_kind="hub", tensor_name="wte.weight")
    >>> _ = cache.store(sha, torch.ones(4, 2), meta, location=None, auto=True)
    >>> cache.load(sha, None).meta.tensor_name
    'wte.weight'
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import safetensors
import safetensors.torch
import torch
from huggingface_hub import cached_assets_path
from huggingface_hub.utils import WeakFileLock

from .._atomic import atomic_path, write_json_atomic
from ..errors import ConfigError, CorruptCheckpointError
from ..unembedding import HeadMetadata, Unembedding
from .hub_http import HubSettings
from .location import HeadLocation

CACHE_FORMAT = 1
FULL_SHA = re.compile(r"[0-9a-f]{40}")
DEFAULT_REF_TTL_S = 24 * 3600.0


def ref_ttl_seconds() -> float:
    """How long a cached branch/tag resolution is trusted (``LLMGEOM_HUB_REF_TTL``, seconds)."""
    raw = os.environ.get("LLMGEOM_HUB_REF_TTL")
    if raw is None or raw.strip() == "":
        return DEFAULT_REF_TTL_S
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ConfigError(f"LLMGEOM_HUB_REF_TTL={raw!r} is not a number of seconds") from None


def _safe(part: str) -> str:
    """A file name from a tensor name (as cached_assets_path makes folder names)."""
    for bad in (" ", "/", "\\"):
        part = part.replace(bad, "--")
    return part


def _read_single(path: Path, name: str, *, shape_only: bool = False) -> Any:
    """The one tensor ``name`` of a cache file (or only its shape), by ``safetensors.safe_open``."""
    with safetensors.safe_open(str(path), framework="pt") as fh:
        if list(fh.keys()) != [name]:
            raise CorruptCheckpointError(f"{path}: holds {list(fh.keys())}, not [{name!r}]")
        return tuple(fh.get_slice(name).get_shape()) if shape_only else fh.get_tensor(name)


@dataclass(frozen=True)
class CachedRef:
    """A cached branch/tag -> commit resolution."""

    sha: str
    resolved_at: float

    @property
    def age_s(self) -> float:
        """Seconds since the Hub was last asked."""
        return max(0.0, time.time() - self.resolved_at)


class HeadCache:
    """Cached heads of one repository (see the module docstring for the layout)."""

    def __init__(self, settings: HubSettings, repo_id: str) -> None:
        self.settings = settings
        self.repo_id = repo_id
        self.repo_dir = self._folder("refs").parent

    def _folder(self, subfolder: str) -> Path:
        """``cached_assets_path``'s folder for this repository (created), or a ConfigError."""
        try:
            return cached_assets_path(
                "llmgeom", self.repo_id, subfolder, assets_dir=self.settings.assets_dir
            )
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"cannot create the llmgeom cache folder in {self.settings.assets_dir} ({err}); "
                "set HF_ASSETS_CACHE (or HF_HOME) to a writable folder"
            ) from None

    # -- refs ------------------------------------------------------------------------------
    def _ref_path(self, revision: str) -> Path:
        return self.repo_dir / "refs" / (quote(revision, safe="") + ".json")

    def get_ref(self, revision: str) -> CachedRef | None:
        """The cached commit of branch/tag ``revision``, if any (a full sha maps to itself)."""
        if FULL_SHA.fullmatch(revision):
            return CachedRef(revision, time.time())
        try:
            data = json.loads(self._ref_path(revision).read_text())
            return CachedRef(str(data["sha"]), float(data["resolved_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put_ref(self, revision: str, sha: str) -> None:
        """Remember that ``revision`` resolved to ``sha`` now."""
        if FULL_SHA.fullmatch(revision):
            return
        write_json_atomic(
            self._ref_path(revision),
            {
                "revision": revision,
                "sha": sha,
                "resolved_at": time.time(),
                "endpoint": self.settings.endpoint,
            },
        )

    def usable_commit(self, revision: str) -> str | None:
        """The commit to use without asking the Hub: full sha, fresh ref, or any ref offline."""
        ref = self.get_ref(revision)
        if ref is None:
            return None
        if FULL_SHA.fullmatch(revision) or self.settings.offline or ref.age_s < ref_ttl_seconds():
            return ref.sha
        return None

    # -- heads -----------------------------------------------------------------------------
    def commit_dir(self, sha: str) -> Path:
        """Folder of the cached heads of commit ``sha`` (created)."""
        return self._folder(sha)

    @contextmanager
    def lock(self, sha: str, tensor: str | None) -> Iterator[None]:
        """Hold the download lock of one entry (``tensor=None``: the default head)."""
        with WeakFileLock(self.commit_dir(sha) / f"{_safe(tensor or 'auto')}.lock"):
            yield

    def paths(self, sha: str, tensor: str) -> tuple[Path, Path]:
        """(tensor file, sidecar) of one entry."""
        base = self.commit_dir(sha) / _safe(tensor)
        return base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")

    def default_tensor(self, sha: str) -> str | None:
        """The head chosen automatically at commit ``sha`` (recorded on the first download)."""
        try:
            return str(json.loads((self.commit_dir(sha) / "auto.json").read_text())["tensor"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def sidecar(self, sha: str, tensor: str | None) -> dict[str, Any] | None:
        """The sidecar of a complete entry, or None (missing, partial or inconsistent)."""
        tensor = tensor or self.default_tensor(sha)
        if tensor is None:
            return None
        data_path, side_path = self.paths(sha, tensor)
        try:
            side = json.loads(side_path.read_text())
            if side.get("format") != CACHE_FORMAT or data_path.stat().st_size != side["file_bytes"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return side

    def load(self, sha: str, tensor: str | None) -> Unembedding | None:
        """The cached head of commit ``sha`` (``tensor=None``: the default head), else None."""
        side = self.sidecar(sha, tensor)
        if side is None:
            return None
        meta_dict = dict(side["meta"])
        extra = dict(meta_dict.pop("extra", {}) or {})
        meta_dict.pop("n_rows", None)
        meta_dict.pop("head_width", None)
        meta = HeadMetadata(**meta_dict, extra=extra)
        data_path, _ = self.paths(sha, meta.tensor_name or "")
        try:
            weight = _read_single(data_path, meta.tensor_name or "")
        except (CorruptCheckpointError, OSError, safetensors.SafetensorError):
            return None  # damaged behind our back: treat as a miss and download again
        return Unembedding(weight, meta)

    def store(
        self,
        sha: str,
        weight: torch.Tensor,
        meta: HeadMetadata,
        location: HeadLocation | None,
        *,
        auto: bool,
    ) -> Path:
        """Write one entry atomically (tensor file, checked, then sidecar) and return its path."""
        tensor = meta.tensor_name or "head"
        data_path, side_path = self.paths(sha, tensor)
        with atomic_path(data_path) as tmp:
            safetensors.torch.save_file(
                {tensor: weight.contiguous()},
                str(tmp),
                metadata={"repo_id": self.repo_id, "commit_sha": sha, "sha256": meta.sha256 or ""},
            )
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
        return data_path
