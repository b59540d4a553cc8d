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
from .gguf_file import load_gguf
from .head_key import choose_head_key
from .local import local_tokenizer_length, read_local_config
from .safetensors_format import read_header, read_tensor
from .tensor_digest import tensor_sha256
from .torch_bin import bin_shapes, read_bin_tensor


def _load_npy(path: Path, tensor: str | None) -> tuple[torch.Tensor, str]:
    if tensor is not None:
        raise ConfigError(f"{path}: a .npy file holds one array; --tensor does not apply")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise CorruptCheckpointError(f"{path}: unreadable .npy file ({err})") from None
    ensure_fits(array.nbytes, f"{path.name}")
    return torch.from_numpy(np.array(array)), "array"


def _load_keyed(path: Path, tensor: str | None, fmt: str) -> tuple[torch.Tensor, str, object]:
    if fmt == "safetensors":
        entries, _ = read_header(path)
        shapes = {k: e.shape for k, e in entries.items()}
    else:
        shapes = bin_shapes(path)
    config = read_local_config(path.parent)
    choice = choose_head_key(config, shapes, tensor=tensor, shapes=shapes, source=str(path))
    if fmt == "safetensors":
        ensure_fits(entries[choice.key].nbytes, f"tensor {choice.key!r}")
        return read_tensor(path, choice.key), choice.key, choice
    return read_bin_tensor(path, choice.key), choice.key, choice


_SUFFIX_FORMATS = {
    ".safetensors": "safetensors",
    ".bin": "bin",
    ".pt": "bin",
    ".pth": "bin",
    ".npy": "npy",
    ".gguf": "gguf",
}


def load_file(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Load the output embedding stored in one file (format chosen by suffix)."""
    path = Path(path)
    if not path.is_file():
        raise SourceNotFoundError(f"no such file: {path}")
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SUFFIX_FORMATS))
        raise ConfigError(f"{path}: unknown file type {path.suffix!r} (known: {known})")
    if fmt == "gguf":
        return load_gguf(path, tensor)
    choice = None
    if fmt == "npy":
        weight, key = _load_npy(path, tensor)
    else:
        weight, key, choice = _load_keyed(path, tensor, fmt)
    meta = HeadMetadata(
        source=str(path),
        source_kind="file",
        family=getattr(choice, "family", None),
        tensor_name=key,
        tied=getattr(choice, "tied", None),
        d_model=getattr(choice, "d_model", None),
        tokenizer_len=local_tokenizer_length(path.parent),
        file=path.name,
        sha256=tensor_sha256(weight),
        extra={"format": fmt, "head_rule": getattr(choice, "rule", "array")},
    )
    return Unembedding(weight, meta)
