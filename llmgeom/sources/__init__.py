"""Where an output-embedding matrix comes from: one entry point, :func:`load_unembedding`.

The sources are a registry (:mod:`.base`), asked in order, first match wins: an
:class:`Unembedding` as is; a tensor or array; an ``nn.Module``; an existing local directory
(checkpoint) or file (safetensors, bin, npy, gguf: :mod:`.files`); otherwise a Hugging Face Hub
repository id or a paper-model alias (:mod:`.hub`). :func:`register_source` adds your own.

Example:
    >>> import torch
    >>> load_unembedding(torch.ones(3, 2)).meta.source_kind
    'array'
    >>> [s.name for s in registered_sources()]
    ['unembedding', 'array', 'module', 'local-dir', 'local-file', 'hub']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..unembedding import Unembedding
from .base import Source, find_source, register_source, registered_sources, unregister_source
from .files import SUFFIX_FORMATS, FileSource
from .in_memory import ArraySource, ModuleSource, UnembeddingSource
from .local import DirectorySource
from .location import HeadLocation

_FILE_SUFFIXES = (*SUFFIX_FORMATS, ".json")


def looks_like_path(text: str) -> bool:
    """True for strings that can only be paths (never a Hub id ``org/name`` or an alias).

    Example:
        >>> looks_like_path("gpt2"), looks_like_path("org/model"), looks_like_path("./model")
        (False, False, True)
    """
    return (
        text.startswith((".", "/", "~"))
        or "\\" in text
        or text.count("/") > 1
        or text.lower().endswith(_FILE_SUFFIXES)
    )


class HubSource:
    """A Hugging Face Hub repository id or a paper-model alias (any string that is no path)."""

    name = "hub"

    def can_load(self, obj: Any) -> bool:
        """True for a string (or path object) that does not look like a path."""
        return isinstance(obj, str | os.PathLike) and not looks_like_path(str(obj))

    def locate(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> HeadLocation:
        """The head's file and byte range in the repository (headers only)."""
        from .hub import locate_hub_head

        return locate_hub_head(str(obj), revision=revision, tensor=tensor).location

    def load(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> Unembedding:
        """:func:`llmgeom.sources.hub.load_hub_unembedding` (only the head's bytes are fetched)."""
        from .hub import load_hub_unembedding

        return load_hub_unembedding(str(obj), revision=revision, tensor=tensor)


for _source in (
    UnembeddingSource(),
    ArraySource(),
    ModuleSource(),
    DirectorySource(),
    FileSource(),
    HubSource(),
):
    register_source(_source)


def load_unembedding(
    source: Any, *, tensor: str | None = None, revision: str | None = None
) -> Unembedding:
    """Load the output embedding (LM head) of ``source`` with its metadata.

    ``source``: a path (checkpoint directory or weight file), a Hub id or alias (``gpt2``,
    ``EleutherAI/pythia-410m``), an ``nn.Module``, a tensor or an array, or anything a
    registered :class:`Source` accepts. ``tensor`` forces the tensor name; ``revision`` selects
    a Hub branch, tag or commit.
    """
    return find_source(source).load(source, tensor=tensor, revision=revision)


def locate_head(
    source: str | os.PathLike[str], *, tensor: str | None = None, revision: str | None = None
) -> HeadLocation:
    """Where the head of ``source`` is, reading headers only (what ``llmgeom inspect`` shows).

    Example:
        >>> import tempfile, numpy as np
        >>> path = tempfile.mktemp(suffix=".npy")
        >>> np.save(path, np.eye(5, 3, dtype=np.float32))
        >>> locate_head(path).shape
        (5, 3)
    """
    return find_source(Path(source) if isinstance(source, os.PathLike) else source).locate(
        source, tensor=tensor, revision=revision
    )


__all__ = [
    "HeadLocation",
    "HubSource",
    "Source",
    "Unembedding",
    "find_source",
    "load_unembedding",
    "locate_head",
    "looks_like_path",
    "register_source",
    "registered_sources",
    "unregister_source",
]
