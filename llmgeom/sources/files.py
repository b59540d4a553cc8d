"""Single weight files: ``.safetensors``, ``.bin``/``.pt``/``.pth``, ``.npy`` and ``.gguf``.

Each format is a :class:`FileFormat` (suffixes, ``locate``, ``load``) in a small registry keyed
by suffix (:func:`register_file_format` adds one), served by the ``local-file`` source. The
tensor is picked by name (``tensor=``), else by the config.json beside the file, else by
well-known head names, else as the only 2-D tensor with more rows than columns; otherwise a
clear error lists the candidates.

Example:
    >>> import tempfile, numpy as np
    >>> path = tempfile.mktemp(suffix=".npy")
    >>> np.save(path, np.eye(5, 3, dtype=np.float32))
    >>> load_file(path).shape
    (5, 3)
    >>> sorted(SUFFIX_FORMATS)
    ['.bin', '.gguf', '.npy', '.pt', '.pth', '.safetensors']
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import (
    ConfigError,
    CorruptCheckpointError,
    InvalidMatrixError,
    SourceNotFoundError,
)
from ..memory import ensure_fits
from ..unembedding import Unembedding
from ._reasons import short_reason
from .gguf_file import load_gguf, locate_gguf
from .head_key import HeadChoice, choose_head_key
from .location import HeadLocation
from .torch_bin import BARE_TENSOR_KEY, BareTensor, load_state_dict, tensor_shapes
from .weight_file import head_location, read_head, read_local_config, tensor_table, unembedding_at

_NPY_VERSIONS = ((1, 0), (2, 0), (3, 0))


def _npy_array(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file (never unpickling), with one-line errors for bad files."""
    size = path.stat().st_size
    if size == 0:
        raise CorruptCheckpointError(f"{path}: empty file (0 bytes), not a .npy array")
    with path.open("rb") as fh:
        prefix = fh.read(8)
    magic = np.lib.format.MAGIC_PREFIX
    if not prefix.startswith(magic[: len(prefix)]) or len(prefix) < len(magic):
        raise CorruptCheckpointError(f"{path}: not a .npy file (no .npy magic string at the start)")
    if len(prefix) < 8:
        raise CorruptCheckpointError(f"{path}: truncated .npy file ({size} bytes)")
    version = (prefix[6], prefix[7])
    if version not in _NPY_VERSIONS:
        raise CorruptCheckpointError(
            f"{path}: corrupt .npy file (format version {version[0]}.{version[1]}; "
            "known: 1.0, 2.0, 3.0)"
        )
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as err:
        if err.filename is not None:  # a filesystem error about the path: already names it
            raise
        reason = short_reason(err)
        raise CorruptCheckpointError(f"{path}: unreadable .npy file ({reason})") from None
    except (ValueError, EOFError) as err:
        text = str(err)
        if "object" in text.lower() or "pickle" in text.lower():
            raise CorruptCheckpointError(
                f"{path}: the array holds Python objects (dtype object); only numeric arrays "
                "are read, pickled data never is"
            ) from None
        if text.startswith("EOF") or isinstance(err, EOFError):
            raise CorruptCheckpointError(
                f"{path}: truncated .npy file ({size} bytes; the header ends early)"
            ) from None
        if "mmap length" in text:
            raise CorruptCheckpointError(
                f"{path}: truncated .npy file ({size} bytes; the array data ends early)"
            ) from None
        raise CorruptCheckpointError(f"{path}: corrupt .npy header ({short_reason(err)})") from None
    if array.dtype.kind not in "biufc":
        raise InvalidMatrixError(f"{path}: the array's dtype {array.dtype} is not numeric")
    if array.ndim != 2:
        raise InvalidMatrixError(
            f"{path}: the array has shape {list(array.shape)}; an output embedding must be "
            "2-D [n_rows, m]"
        )
    return array


def _npy_head(path: Path, tensor: str | None) -> tuple[HeadLocation, np.ndarray]:
    """The location of a ``.npy`` file's array, and the (memory-mapped) array."""
    if tensor is not None:
        raise ConfigError(f"{path}: a .npy file holds one array; --tensor does not apply")
    array = _npy_array(path)
    offset = getattr(array, "offset", None)
    location = HeadLocation(
        source=str(path),
        file=str(path),
        key="array",
        fmt="npy",
        dtype=str(array.dtype),
        shape=tuple(array.shape),
        byte_range=(offset, offset + array.nbytes) if offset is not None else None,
        file_size=path.stat().st_size,
    )
    return location, array


def _locate_npy(path: Path, tensor: str | None) -> HeadLocation:
    return _npy_head(path, tensor)[0]


def _locate_bare_tensor(path: Path, tensor: str | None, weight: torch.Tensor) -> HeadLocation:
    """A ``torch.save(tensor)`` file: the one tensor is the head when it is 2-D."""
    if tensor is not None:
        raise ConfigError(f"{path}: the file holds one bare tensor; --tensor does not apply")
    if weight.ndim != 2:
        raise InvalidMatrixError(
            f"{path}: the file holds one tensor of shape {list(weight.shape)}; an output "
            "embedding must be 2-D [n_rows, m]"
        )
    return HeadLocation(
        source=str(path),
        file=str(path),
        key=BARE_TENSOR_KEY,
        fmt="bin",
        dtype=str(weight.dtype).removeprefix("torch."),
        shape=tuple(weight.shape),
        file_size=path.stat().st_size,
        choice=HeadChoice(BARE_TENSOR_KEY, None, None, "bare-tensor"),
    )


def _locate_checkpoint_file(path: Path, fmt: str, tensor: str | None) -> HeadLocation:
    """A safetensors or ``.bin`` file: the head chosen with the config.json beside it."""
    if fmt == "bin":
        state = load_state_dict(path)
        if isinstance(state, BareTensor):
            return _locate_bare_tensor(path, tensor, state[BARE_TENSOR_KEY])
        shapes, entries = tensor_shapes(state), {}
    else:
        shapes, entries = tensor_table(path, fmt)
    config = read_local_config(path.parent)
    choice = choose_head_key(config, shapes, tensor=tensor, shapes=shapes, source=str(path))
    return head_location(str(path), path, fmt, choice, shapes, entries, config)


def _load_located(location: HeadLocation, weight: torch.Tensor) -> Unembedding:
    path = Path(location.file)
    return unembedding_at(
        location, weight, source_kind="file", file=path.name, tokenizer_dir=path.parent
    )


def _load_checkpoint_file(path: Path, fmt: str, tensor: str | None) -> Unembedding:
    location = _locate_checkpoint_file(path, fmt, tensor)
    return _load_located(location, read_head(location))


def _load_npy(path: Path, tensor: str | None) -> Unembedding:
    location, array = _npy_head(path, tensor)
    ensure_fits(array.nbytes, path.name)
    return _load_located(location, torch.from_numpy(np.array(array)))


@dataclass(frozen=True)
class FileFormat:
    """A weight-file format: its name, file suffixes, and how to locate and load its head."""

    name: str
    suffixes: tuple[str, ...]
    locate: Callable[[Path, str | None], HeadLocation]
    load: Callable[[Path, str | None], Unembedding]


FILE_FORMATS: dict[str, FileFormat] = {}  # by name
SUFFIX_FORMATS: dict[str, str] = {}  # suffix (lower case, with the dot) -> format name


def register_file_format(fmt: FileFormat) -> None:
    """Serve files with ``fmt.suffixes`` by ``fmt`` (a suffix already taken is an error)."""
    taken = [s for s in fmt.suffixes if s.lower() in SUFFIX_FORMATS]
    if taken or fmt.name in FILE_FORMATS:
        raise ConfigError(f"file format {fmt.name!r} or suffixes {taken} already registered")
    FILE_FORMATS[fmt.name] = fmt
    SUFFIX_FORMATS.update(dict.fromkeys((s.lower() for s in fmt.suffixes), fmt.name))


for _fmt in ("safetensors", "bin"):
    register_file_format(
        FileFormat(
            _fmt,
            (".safetensors",) if _fmt == "safetensors" else (".bin", ".pt", ".pth"),
            lambda path, tensor, _f=_fmt: _locate_checkpoint_file(path, _f, tensor),
            lambda path, tensor, _f=_fmt: _load_checkpoint_file(path, _f, tensor),
        )
    )
register_file_format(FileFormat("npy", (".npy",), _locate_npy, _load_npy))
register_file_format(FileFormat("gguf", (".gguf",), locate_gguf, load_gguf))


def file_format(path: Path) -> str:
    """The weight format of a file, from its suffix (error for unknown suffixes)."""
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIX_FORMATS))
        raise ConfigError(f"{path}: unknown file type {path.suffix!r} (known: {known})")
    return fmt


def _existing(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SourceNotFoundError(f"no such file: {path}")
    return path


def locate_file(path: str | os.PathLike[str], tensor: str | None = None) -> HeadLocation:
    """Find the head tensor in one weight file, reading only headers and metadata."""
    path = _existing(path)
    return FILE_FORMATS[file_format(path)].locate(path, tensor)


def load_file(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Load the output embedding stored in one file (format chosen by suffix)."""
    path = _existing(path)
    return FILE_FORMATS[file_format(path)].load(path, tensor)
