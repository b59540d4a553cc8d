"""Single weight files: ``.safetensors``, ``.bin``/``.pt``/``.pth``, ``.npy`` and ``.gguf``.

The tensor is picked by name (``tensor=``), else by the config.json beside the file, else by
well-known head names, else as the only 2-D tensor with more rows than columns; otherwise a
clear error lists the candidates.

Example:
    >>> import tempfile, numpy as np
    >>> path = tempfile.mktemp(suffix=".npy")
    >>> np.save(path, np.eye(5, 3, dtype=np.float32))
    >>> load_file(path).shape
    (5, 3)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, CorruptCheckpointError, SourceNotFoundError
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from .gguf_file import load_gguf, locate_gguf
from .head_key import choose_head_key
from .local import (
    local_tokenizer_length,
    location_in_file,
    read_local_config,
    read_located_tensor,
    shapes_of,
)
from .location import HeadLocation
from .tensor_digest import tensor_sha256


def _npy_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise CorruptCheckpointError(f"{path}: unreadable .npy file ({err})") from None


def _locate_npy(path: Path, tensor: str | None) -> HeadLocation:
    if tensor is not None:
        raise ConfigError(f"{path}: a .npy file holds one array; --tensor does not apply")
    array = _npy_array(path)
    offset = getattr(array, "offset", None)
    return HeadLocation(
        source=str(path), file=str(path), key="array", fmt="npy", dtype=str(array.dtype),
        shape=tuple(array.shape),
        byte_range=(offset, offset + array.nbytes) if offset is not None else None,
        file_size=path.stat().st_size,
    )


SUFFIX_FORMATS = {
    ".safetensors": "safetensors",
    ".bin": "bin",
    ".pt": "bin",
    ".pth": "bin",
    ".npy": "npy",
    ".gguf": "gguf",
}


def file_format(path: Path) -> str:
    """The weight format of a file, from its suffix (error for unknown suffixes)."""
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIX_FORMATS))
        raise ConfigError(f"{path}: unknown file type {path.suffix!r} (known: {known})")
    return fmt


def locate_file(path: str | os.PathLike[str], tensor: str | None = None) -> HeadLocation:
    """Find the head tensor in one weight file, reading only headers and metadata."""
    path = Path(path)
    if not path.is_file():
        raise SourceNotFoundError(f"no such file: {path}")
    fmt = file_format(path)
    if fmt == "gguf":
        return locate_gguf(path, tensor)
    if fmt == "npy":
        return _locate_npy(path, tensor)
    shapes, entries = shapes_of(path, fmt)
    config = read_local_config(path.parent)
    choice = choose_head_key(config, shapes, tensor=tensor, shapes=shapes, source=str(path))
    return location_in_file(str(path), path, fmt, choice, shapes, entries, config)


def load_file(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Load the output embedding stored in one file (format chosen by suffix)."""
    path = Path(path)
    location = locate_file(path, tensor)
    if location.fmt == "gguf":
        return load_gguf(path, tensor)
    if location.fmt == "npy":
        array = _npy_array(path)
        ensure_fits(array.nbytes, path.name)
        weight = torch.from_numpy(np.array(array))
    else:
        weight = read_located_tensor(location)
    choice = location.choice
    meta = HeadMetadata(
        source=str(path),
        source_kind="file",
        family=getattr(choice, "family", None),
        tensor_name=location.key,
        tied=getattr(choice, "tied", None),
        d_model=getattr(choice, "d_model", None),
        tokenizer_len=local_tokenizer_length(path.parent),
        file=path.name,
        sha256=tensor_sha256(weight),
        extra={"format": location.fmt, "head_rule": getattr(choice, "rule", "array")},
    )
    return Unembedding(weight, meta)
