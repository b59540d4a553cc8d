"""Single weight files: ``.safetensors``, ``.bin``/``.pt``/``.pth``, ``.npy`` and ``.gguf``.

Each format is a :class:`FileFormat` in a registry keyed by suffix (:func:`register_file_format`
adds one). The head is chosen as in a checkpoint (:mod:`.head_key`, with the config.json beside
the file); in GGUF it is ``output.weight`` (untied) else ``token_embd.weight``, dequantised to
float32 with the ``gguf`` package. ``.npy`` files are memory-mapped, never unpickled.

Example:
    >>> import tempfile, numpy as np
    >>> path = f"{tempfile.mkdtemp()}/head.npy"
    >>> np.save(path, np.eye(5, 3, dtype=np.float32))
    >>> load_file(path).shape, locate_file(path).byte_range
    ((5, 3), (128, 188))
    >>> sorted(SUFFIX_FORMATS)
    ['.bin', '.gguf', '.npy', '.pt', '.pth', '.safetensors']
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import (
    ConfigError,
    CorruptCheckpointError,
    InvalidMatrixError,
    SourceNotFoundError,
    TensorNotFoundError,
)
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from ._reasons import short_reason
from .families import family_label, gguf_model_type
from .formats.gguf_header import metadata_problem
from .formats.npy_header import HEADER_ERRORS as NPY_HEADER_ERRORS
from .head_key import HeadChoice
from .local import load_located, locate_weight_file
from .location import HeadLocation
from .tensor_digest import tensor_sha256

_NPY_ERRORS = {  # numpy's own messages advise loading pickles: ours name the problem instead
    ("object", "pickle"): "the array holds Python objects (dtype object); only numeric arrays "
    "are read, pickled data never is",
    ("eof",): "truncated .npy file ({size} bytes; the header ends early)",
    ("mmap length",): "truncated .npy file ({size} bytes; the array data ends early)",
}


def _in_file(path: Path, key, fmt, dtype, shape, byte_range, choice=None) -> HeadLocation:
    """The :class:`HeadLocation` of a head in the file ``path``, its own source."""
    file, size = str(path), path.stat().st_size
    return HeadLocation(file, file, key, fmt, dtype, tuple(shape), byte_range, size, choice)


def _npy_head(path: Path, tensor: str | None) -> tuple[HeadLocation, np.ndarray]:
    """The location of a ``.npy`` file's array and the array, memory-mapped, never unpickled."""
    if tensor is not None:
        raise ConfigError(
            f"{path}: a .npy file holds one array; tensor={tensor!r} does not apply",
            parameter="tensor",
        )
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
        except NPY_HEADER_ERRORS as err:  # numpy's, on a malformed header or shape
            text = f"{type(err).__name__} {err}".lower()
            found = (v for keys, v in _NPY_ERRORS.items() if any(k in text for k in keys))
            template = next(found, None)  # ours only: the header's own text may hold braces
            problem = (
                template.format(size=size)
                if template
                else f"corrupt .npy header ({short_reason(err)})"
            )
    if problem:
        raise CorruptCheckpointError(f"{path}: {problem}")
    if array.dtype.kind not in "biufc":
        raise InvalidMatrixError(f"{path}: the array's dtype {array.dtype} is not numeric")
    if array.ndim != 2:
        raise InvalidMatrixError(
            f"{path}: the array has shape {list(array.shape)}; an output embedding must be "
            "2-D [n_rows, m]"
        )
    byte_range = (array.offset, array.offset + array.nbytes)
    return _in_file(path, "array", "npy", str(array.dtype), array.shape, byte_range), array


def _load_npy(path: Path, tensor: str | None) -> Unembedding:
    location, array = _npy_head(path, tensor)
    ensure_fits(array.nbytes, path.name)
    native = array.dtype.newbyteorder("=")  # torch reads only the machine's byte order
    try:
        weight = torch.from_numpy(np.array(array, dtype=native))
    except TypeError:  # a dtype torch has no tensor of (float128, complex256)
        raise InvalidMatrixError(
            f"{path}: the array's dtype {array.dtype} cannot be held in a torch tensor"
        ) from None
    return load_located(location, weight)


_GGUF_HEADS = ("output.weight", "token_embd.weight")  # untied head first, tied embedding second


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    try:
        return field.contents() if field is not None else None
    except Exception:  # pragma: no cover - malformed metadata is not fatal
        return None


def _gguf_metadata_problem(path: Path) -> str | None:
    """What the key-value section of ``path`` cannot be (:mod:`.formats.gguf_header`), read
    through a memory map: a count the reader would loop over forever is refused first."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return metadata_problem(data)


def _gguf_reader(path: Path) -> Any:
    """A ``gguf.GGUFReader`` of ``path``; a one-line error for anything that is not a whole GGUF."""
    import gguf

    size = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
    if size and not b"GGUF".startswith(prefix[:4]):
        raise CorruptCheckpointError(f"{path}: not a GGUF file (no GGUF magic number at the start)")
    versions = getattr(gguf.gguf_reader, "READER_SUPPORTED_VERSIONS", (2, 3))
    version = int.from_bytes(prefix[4:], "little")
    problem = None
    if size == 0:
        problem = "empty"
    elif len(prefix) < 8:
        problem = "the header ends early"
    elif version not in versions and int.from_bytes(prefix[4:], "big") not in versions:
        problem = f"format version {version}; readable: {', '.join(map(str, versions))}"
    elif (problem := _gguf_metadata_problem(path)) is None:
        try:
            reader = gguf.GGUFReader(path)
        except OSError as err:
            if err.filename is not None:  # a filesystem error about the path: already names it
                raise
            problem = short_reason(err)
        except Exception:  # gguf reports a cut-short file with numpy's reshape/view errors
            problem = "the metadata, tensor table or tensor data end early or are malformed"
    if problem:
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt GGUF file ({size} bytes; {problem})"
        )
    return reader


def _gguf_head(path: Path, tensor: str | None) -> tuple[Any, Any, HeadChoice]:
    """The reader, the head's tensor entry and how it was chosen (from the GGUF metadata)."""
    reader = _gguf_reader(path)
    tensors = {t.name: t for t in reader.tensors}
    usual = next((n for n in _GGUF_HEADS if n in tensors), None)
    name = usual if tensor is None else (tensor if tensor in tensors else None)
    if name is None:
        listing = ", ".join(f"{t.name} {t.shape.tolist()[::-1]}" for t in reader.tensors[:8])
        wanted = tensor or " or ".join(_GGUF_HEADS)
        raise TensorNotFoundError(f"{path}: no tensor {wanted} (has: {listing})")
    arch = _field(reader, "general.architecture")
    d_model = _field(reader, f"{arch}.embedding_length") if arch else None
    choice = HeadChoice(
        key=name,
        # as for safetensors: an explicit tensor is described as tied only if it is the head
        tied=usual == _GGUF_HEADS[1] if name == usual else None,
        family=family_label(gguf_model_type(arch)),  # the rule of `loss` and config.json's
        rule="explicit" if tensor is not None else "gguf-names",
        d_model=int(d_model) if d_model else None,
    )
    return reader, tensors[name], choice


def _locate_gguf(path: Path, tensor: str | None) -> HeadLocation:
    """Where the head is in a GGUF file (name, quantisation, logical shape, byte range)."""
    _, entry, choice = _gguf_head(path, tensor)
    dtype, shape = f"gguf:{entry.tensor_type.name}", entry.shape.tolist()[::-1]
    start = int(entry.data_offset)
    return _in_file(
        path, entry.name, "gguf", dtype, shape, (start, start + int(entry.n_bytes)), choice
    )


def _load_gguf(path: Path, tensor: str | None) -> Unembedding:
    """Read (and dequantise) the output embedding from a GGUF file."""
    import gguf

    reader, entry, choice = _gguf_head(path, tensor)
    name, qtype, arch = entry.name, entry.tensor_type, _field(reader, "general.architecture")
    ensure_fits(int(entry.n_elements) * 4, f"tensor {name!r} dequantised to float32")
    try:
        # a private, writable float32 copy (F32 tensors would otherwise alias the read-only mmap)
        data = np.array(gguf.dequantize(entry.data, qtype), dtype=np.float32, copy=True)
    except NotImplementedError:
        raise CorruptCheckpointError(
            f"{path}: {name} is stored as {qtype.name}, which the installed gguf package "
            "cannot dequantise"
        ) from None
    except (ValueError, TypeError) as err:  # a size that does not fit its blocks (numpy's)
        raise CorruptCheckpointError(
            f"{path}: cannot dequantise {name} ({qtype.name}: {short_reason(err)})"
        ) from None
    if data.ndim != 2:
        raise InvalidMatrixError(
            f"{path}: {name} has shape {list(data.shape)}; an output embedding must be "
            "2-D [n_rows, m]"
        )
    meta = HeadMetadata(
        source=str(path),
        source_kind="file",
        family=choice.family,
        tensor_name=name,
        tied=choice.tied,
        d_model=choice.d_model,
        stored_dtype=f"gguf:{qtype.name}",
        file=path.name,
        sha256=tensor_sha256(np.asarray(entry.data)),
        extra={"format": "gguf", "gguf_architecture": arch, "head_rule": choice.rule},
    )
    return Unembedding(torch.from_numpy(data), meta)


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


# safetensors and .bin files: the head chosen with the config.json beside them (.local)
_WEIGHTS = (
    lambda path, tensor: locate_weight_file(path, tensor, path),
    lambda path, tensor: load_located(locate_weight_file(path, tensor, path)),
)
for _fmt in (
    FileFormat("safetensors", (".safetensors",), *_WEIGHTS),
    FileFormat("bin", (".bin", ".pt", ".pth"), *_WEIGHTS),
    FileFormat("npy", (".npy",), lambda path, tensor: _npy_head(path, tensor)[0], _load_npy),
    FileFormat("gguf", (".gguf",), _locate_gguf, _load_gguf),
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
