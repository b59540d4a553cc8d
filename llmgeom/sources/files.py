"""Single weight files: ``.safetensors``, ``.bin``/``.pt``/``.pth``, ``.npy`` and ``.gguf``.

Each format is a :class:`FileFormat` in a small registry keyed by suffix
(:func:`register_file_format` adds one), served by the ``local-file`` source. The tensor is
picked by name (``tensor=``), else by the config.json beside the file, else by well-known head
names, else as the only 2-D tensor with more rows than columns; otherwise a clear error lists
the candidates.

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

from ..errors import ConfigError, CorruptCheckpointError, InvalidMatrixError, SourceNotFoundError
from ..memory import ensure_fits
from ..unembedding import Unembedding
from ._reasons import short_reason
from .gguf_file import load_gguf, locate_gguf
from .local import load_located, locate_weight_file, read_local_config
from .location import HeadLocation

# numpy's own messages advise loading pickles: ours name the problem instead
_OBJECTS = "the array holds Python objects (dtype object); only numeric arrays are read, pickled "
_NPY_ERRORS = {
    "object": _OBJECTS + "data never is",
    "pickle": _OBJECTS + "data never is",
    "eof": "truncated .npy file ({size} bytes; the header ends early)",
    "mmap length": "truncated .npy file ({size} bytes; the array data ends early)",
}


def _npy_head(path: Path, tensor: str | None) -> tuple[HeadLocation, np.ndarray]:
    """The location of a ``.npy`` file's array and the array, memory-mapped, never unpickled."""
    if tensor is not None:
        raise ConfigError(f"{path}: a .npy file holds one array; --tensor does not apply")
    size = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
    problem = None
    if size == 0:
        problem = "empty file (0 bytes), not a .npy array"
    elif len(prefix) < 6 or not prefix.startswith(np.lib.format.MAGIC_PREFIX):
        problem = "not a .npy file (no .npy magic string at the start)"
    elif len(prefix) < 8:
        problem = f"truncated .npy file ({size} bytes)"
    elif prefix[6:] not in (b"\1\0", b"\2\0", b"\3\0"):
        problem = (
            f"corrupt .npy file (format version {prefix[6]}.{prefix[7]}; known: 1.0, 2.0, 3.0)"
        )
    else:
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except OSError as err:
            if err.filename is not None:  # a filesystem error about the path: already names it
                raise
            problem = f"unreadable .npy file ({short_reason(err)})"
        except (ValueError, EOFError) as err:
            text = f"{type(err).__name__} {err}".lower()
            found = (v for k, v in _NPY_ERRORS.items() if k in text)
            problem = next(found, f"corrupt .npy header ({short_reason(err)})").format(size=size)
    if problem:
        raise CorruptCheckpointError(f"{path}: {problem}")
    if array.dtype.kind not in "biufc":
        raise InvalidMatrixError(f"{path}: the array's dtype {array.dtype} is not numeric")
    if array.ndim != 2:
        raise InvalidMatrixError(
            f"{path}: the array has shape {list(array.shape)}; an output embedding must be "
            "2-D [n_rows, m]"
        )
    location = HeadLocation(
        source=str(path),
        file=str(path),
        key="array",
        fmt="npy",
        dtype=str(array.dtype),
        shape=tuple(array.shape),
        byte_range=(array.offset, array.offset + array.nbytes),
        file_size=size,
    )
    return location, array


def _load_npy(path: Path, tensor: str | None) -> Unembedding:
    location, array = _npy_head(path, tensor)
    ensure_fits(array.nbytes, path.name)
    return load_located(location, torch.from_numpy(np.array(array)))


def _locate_weights(path: Path, tensor: str | None) -> HeadLocation:
    """A safetensors or ``.bin`` file: the head chosen with the config.json beside it."""
    fmt = SUFFIX_FORMATS[path.suffix.lower()]
    return locate_weight_file(path, fmt, tensor, read_local_config(path.parent), str(path))


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


def _load_weights(path: Path, tensor: str | None) -> Unembedding:
    return load_located(_locate_weights(path, tensor))


for _fmt in (
    FileFormat("safetensors", (".safetensors",), _locate_weights, _load_weights),
    FileFormat("bin", (".bin", ".pt", ".pth"), _locate_weights, _load_weights),
    FileFormat("npy", (".npy",), lambda path, tensor: _npy_head(path, tensor)[0], _load_npy),
    FileFormat("gguf", (".gguf",), locate_gguf, load_gguf),
):
    register_file_format(_fmt)


def _format(path: str | os.PathLike[str]) -> tuple[Path, FileFormat]:
    """An existing file and its format, from its suffix (errors for missing or unknown)."""
    path = Path(path)
    if not path.is_file():
        raise SourceNotFoundError(f"no such file: {path}")
    name = SUFFIX_FORMATS.get(path.suffix.lower())
    if name is None:
        known = ", ".join(sorted(SUFFIX_FORMATS))
        raise ConfigError(f"{path}: unknown file type {path.suffix!r} (known: {known})")
    return path, FILE_FORMATS[name]


def locate_file(path: str | os.PathLike[str], tensor: str | None = None) -> HeadLocation:
    """Find the head tensor in one weight file, reading only headers and metadata."""
    path, fmt = _format(path)
    return fmt.locate(path, tensor)


def load_file(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Load the output embedding stored in one file (format chosen by suffix)."""
    path, fmt = _format(path)
    return fmt.load(path, tensor)
