"""Where an output-embedding matrix comes from: one entry point, :func:`load_unembedding`.

Dispatch (first match wins): an :class:`Unembedding` as is; a tensor or array; an
``nn.Module``; an existing local directory (checkpoint) or file (safetensors, bin, npy, gguf);
otherwise a Hugging Face Hub repository id or a paper-model alias (:mod:`.hub`).

Example:
    >>> import torch
    >>> load_unembedding(torch.ones(3, 2)).meta.source_kind
    'array'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import SourceNotFoundError
from ..unembedding import Unembedding
from .files import SUFFIX_FORMATS, load_file
from .in_memory import from_array, from_module
from .local import load_from_directory

_FILE_SUFFIXES = (*SUFFIX_FORMATS, ".json")


def looks_like_path(text: str) -> bool:
    """True for strings that can only be paths (never a Hub id ``org/name`` or an alias)."""
    return (
        text.startswith((".", "/", "~"))
        or "\\" in text
        or text.count("/") > 1
        or text.lower().endswith(_FILE_SUFFIXES)
    )


def load_unembedding(
    source: Any, *, tensor: str | None = None, revision: str | None = None
) -> Unembedding:
    """Load the output embedding (LM head) of ``source`` with its metadata.

    ``source``: a path (checkpoint directory or weight file), a Hub id or alias (``gpt2``,
    ``EleutherAI/pythia-410m``), an ``nn.Module``, a tensor or an array. ``tensor`` forces the
    tensor name; ``revision`` selects a Hub branch, tag or commit.
    """
    if isinstance(source, Unembedding):
        return source
    if isinstance(source, torch.Tensor | np.ndarray):
        return from_array(source)
    if isinstance(source, torch.nn.Module):
        return from_module(source)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"cannot load an output embedding from {type(source).__name__}")
    path = Path(source).expanduser()
    if path.is_dir():
        return load_from_directory(path, tensor)
    if path.is_file():
        return load_file(path, tensor)
    if looks_like_path(str(source)):
        raise SourceNotFoundError(f"no such file or directory: {source}")
    from .hub import load_hub_unembedding

    return load_hub_unembedding(str(source), revision=revision, tensor=tensor)


__all__ = ["Unembedding", "load_unembedding"]
