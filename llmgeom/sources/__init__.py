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

import numpy as np
import torch

from ..unembedding import Unembedding
from .base import (
    FunctionSource,
    Source,
    find_source,
    register_source,
    registered_sources,
    unregister_source,
)
from .files import SUFFIX_FORMATS, load_file, locate_file
from .in_memory import from_array, from_module
from .local import load_from_directory, locate_in_directory
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


def _path(obj: Any) -> Path | None:
    return Path(obj).expanduser() if isinstance(obj, str | os.PathLike) else None


def _hub_load(name: Any, tensor: str | None, revision: str | None) -> Unembedding:
    from .hub import load_hub_unembedding  # imported on use: huggingface_hub is slow to import

    return load_hub_unembedding(str(name), revision=revision, tensor=tensor)


def _hub_locate(name: Any, tensor: str | None, revision: str | None) -> HeadLocation:
    from .hub import locate_hub_head

    return locate_hub_head(str(name), revision=revision, tensor=tensor).location


for _source in (
    FunctionSource("unembedding", lambda o: isinstance(o, Unembedding), lambda o, t, r: o),
    FunctionSource(
        "array", lambda o: isinstance(o, torch.Tensor | np.ndarray), lambda o, t, r: from_array(o)
    ),
    FunctionSource(
        "module", lambda o: isinstance(o, torch.nn.Module), lambda o, t, r: from_module(o)
    ),
    FunctionSource(  # an existing directory: a Hugging Face checkpoint
        "local-dir",
        lambda o: _path(o) is not None and _path(o).is_dir(),
        lambda o, t, r: load_from_directory(_path(o), t),
        lambda o, t, r: locate_in_directory(_path(o), t),
    ),
    FunctionSource(  # an existing file, in a registered format (.files)
        "local-file",
        lambda o: _path(o) is not None and _path(o).is_file(),
        lambda o, t, r: load_file(_path(o), t),
        lambda o, t, r: locate_file(_path(o), t),
    ),
    FunctionSource(  # a Hub id or paper alias: any other string that does not look like a path
        "hub",
        lambda o: isinstance(o, str | os.PathLike) and not looks_like_path(str(o)),
        _hub_load,
        _hub_locate,
    ),
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
        >>> import tempfile, safetensors.torch as st
        >>> path = tempfile.mktemp(suffix=".safetensors")
        >>> st.save_file({"lm_head.weight": torch.ones(7, 2)}, path)
        >>> location = locate_head(path)
        >>> location.key, location.shape, location.nbytes
        ('lm_head.weight', (7, 2), 56)
    """
    return find_source(source).locate(source, tensor=tensor, revision=revision)


__all__ = [
    "FunctionSource",
    "HeadLocation",
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
