"""safetensors files: local ones through ``safetensors.safe_open``, remote headers by hand.

Local files use the reference reader (errors: one-line ``CorruptCheckpointError``). The Hub
source fetches headers by HTTP range; the library parses none from bytes, so :func:`parse_header`
does (8-byte little-endian length, JSON, data) with the reference validator's checks.

Example:
    >>> import tempfile, torch, safetensors.torch as st
    >>> path = f"{tempfile.mkdtemp()}/model.safetensors"
    >>> st.save_file({"wte.weight": torch.ones(4, 2), "ids": torch.zeros(3, dtype=torch.uint32)},
    ...              path)
    >>> entries = local_entries(path)
    >>> entries["wte.weight"].dtype, entries["wte.weight"].shape, entries["ids"].nbytes
    ('F32', (4, 2), 12)
    >>> read_tensor(path, "wte.weight").sum().item()
    8.0
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import safetensors
import torch

from ...errors import CorruptCheckpointError, TensorNotFoundError
from .._reasons import short_reason

_T = TypeVar("_T")

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the reference implementation's own limit

# every dtype code the reference implementation knows: (code, bits per element, torch name or
# None); uint16/32/64 and float8 exist in recent torch versions only
_CODES = (
    ("BOOL", 8, "bool"),
    ("U8", 8, "uint8"),
    ("I8", 8, "int8"),
    ("F8_E5M2", 8, "float8_e5m2"),
    ("F8_E4M3", 8, "float8_e4m3fn"),
    ("F8_E8M0", 8, None),
    ("F8_E4M3FNUZ", 8, None),
    ("F8_E5M2FNUZ", 8, None),
    ("I16", 16, "int16"),
    ("U16", 16, "uint16"),
    ("F16", 16, "float16"),
    ("BF16", 16, "bfloat16"),
    ("I32", 32, "int32"),
    ("U32", 32, "uint32"),
    ("F32", 32, "float32"),
    ("I64", 64, "int64"),
    ("U64", 64, "uint64"),
    ("F64", 64, "float64"),
    ("C64", 64, "complex64"),
    ("F4", 4, None),
    ("F6_E2M3", 6, None),
    ("F6_E3M2", 6, None),
)
DTYPE_BITS = {code: bits for code, bits, _ in _CODES}
DTYPES: dict[str, torch.dtype] = {
    code: getattr(torch, name) for code, _, name in _CODES if name and hasattr(torch, name)
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's header entry: dtype code, shape and absolute byte range in the file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute offset of the first byte in the file
    stop: int  # absolute offset one past the last byte

    @property
    def nbytes(self) -> int:
        """Size of the tensor's data in bytes."""
        return self.stop - self.start

    @property
    def torch_dtype(self) -> torch.dtype:
        """The corresponding torch dtype (CorruptCheckpointError if torch has none)."""
        if self.dtype not in DTYPES:
            raise CorruptCheckpointError(
                f"{self.name}: dtype {self.dtype} cannot be read as a torch tensor"
            )
        return DTYPES[self.dtype]


def dtype_itemsize(name: str | None, default: int = 2) -> int:
    """Bytes per element of a dtype named the safetensors way (``F32``) or torch's (``float32``).

    Example:
        >>> dtype_itemsize("BF16"), dtype_itemsize("torch.float32"), dtype_itemsize(None)
        (2, 4, 2)
    """
    text = str(name).removeprefix("torch.")
    dtype = DTYPES.get(text.upper()) or getattr(torch, text.lower(), None)
    return dtype.itemsize if isinstance(dtype, torch.dtype) else default


def _usizes(value: object) -> bool:
    """A JSON list of what the reference implementation reads as ``usize``: integers in
    [0, 2**64), no float, bool or string."""
    return isinstance(value, list) and all(type(x) is int and 0 <= x < 2**64 for x in value)


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * DTYPE_BITS[dtype] // 8


def header_length(prefix: bytes, source: str = "file") -> int:
    """Decode the 8-byte header length at the start of a safetensors file."""
    if len(prefix) < 8:
        raise CorruptCheckpointError(f"{source}: too short to be a safetensors file")
    (length,) = struct.unpack("<Q", prefix[:8])
    if length == 0 or length > MAX_HEADER_BYTES:
        raise CorruptCheckpointError(f"{source}: invalid safetensors header length {length}")
    return length


class _JsonObject(dict):
    """A JSON object as the reference parser (serde) reads it: the last of a repeated key counts
    (``repeated``; the ``earlier`` values are kept: each must still parse as its field)."""

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        last = {k: i for i, (k, _) in enumerate(pairs)}
        self.repeated = {k for i, (k, _) in enumerate(pairs) if last[k] != i}
        self.earlier = [(k, v) for i, (k, v) in enumerate(pairs) if last[k] != i]


_ENTRY_FIELDS = ("dtype", "shape", "data_offsets")


def _entry_fields(name: str, info: object, source: str) -> tuple[str, tuple[int, ...], list]:
    """dtype, shape and data offsets of one header entry, as strict as the reference parser:
    a JSON object with each field once, a known dtype name, 64-bit non-negative integers."""
    try:
        dtype, shape, offsets = (info[k] for k in _ENTRY_FIELDS)  # type: ignore[index]
    except (KeyError, TypeError):
        raise CorruptCheckpointError(f"{source}: bad header entry for {name!r}") from None
    if set(_ENTRY_FIELDS) & getattr(info, "repeated", set()):
        raise CorruptCheckpointError(f"{source}: header entry {name!r} repeats a field")
    if not (_usizes(shape) and _usizes(offsets) and len(offsets) == 2):
        raise CorruptCheckpointError(
            f"{source}: bad header entry for {name!r} (shape and data_offsets must be "
            "non-negative 64-bit integers)"
        )
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise CorruptCheckpointError(f"{source}: unsupported dtype {dtype!r} for {name!r}")
    return dtype, tuple(shape), offsets


def parse_header(raw: bytes, source: str = "file") -> tuple[dict[str, TensorEntry], dict]:
    """Parse the JSON header (without its length prefix) into entries and metadata.

    The reference validator's checks: known dtype, sizes matching dtype and shape, offsets that
    tile the data from byte 0 (whether the data fills the file is for the caller).

    Example:
        >>> parse_header(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}')
        Traceback (most recent call last):
        llmgeom.errors.CorruptCheckpointError: file: tensor 'a' starts at data byte 4, not 0
    """
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_JsonObject)
        json.dumps(header, ensure_ascii=False).encode("utf-8")  # no escaped lone surrogate
    except (UnicodeError, json.JSONDecodeError, RecursionError) as err:
        reason = short_reason(err) if not isinstance(err, RecursionError) else "nested too deep"
        raise CorruptCheckpointError(f"{source}: malformed safetensors header ({reason})") from None
    if not isinstance(header, _JsonObject):
        raise CorruptCheckpointError(f"{source}: safetensors header is not a JSON object")
    if "__metadata__" in header.repeated:
        raise CorruptCheckpointError(f"{source}: safetensors header has __metadata__ twice")
    for name, info in header.earlier:  # a repeated name: the last one counts, each must parse
        _entry_fields(name, info, source)
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptCheckpointError(f"{source}: __metadata__ must map names to strings")
    data_start = 8 + len(raw)
    entries = {}
    for name, info in header.items():
        dtype, shape, (begin, end) = _entry_fields(name, info, source)
        if math.prod(shape) * DTYPE_BITS[dtype] % 8:
            raise CorruptCheckpointError(
                f"{source}: {name!r} of {dtype}{list(shape)} is not a whole number of bytes"
            )
        expected = _nbytes(dtype, shape)
        if math.prod(shape) * DTYPE_BITS[dtype] >= 2**64:  # the reference's usize overflow
            raise CorruptCheckpointError(f"{source}: {name!r} has too many elements {list(shape)}")
        if end < begin or end - begin != expected:
            raise CorruptCheckpointError(
                f"{source}: {name!r} has {end - begin} bytes, expected {expected} for "
                f"{dtype}{list(shape)}"
            )
        entries[name] = TensorEntry(name, dtype, shape, data_start + begin, data_start + end)
    at = data_start
    for entry in sorted(entries.values(), key=lambda e: (e.start, e.stop)):
        if entry.start != at:  # the reference validator's contiguity check
            raise CorruptCheckpointError(
                f"{source}: tensor {entry.name!r} starts at data byte {entry.start - data_start}, "
                f"not {at - data_start}"
            )
        at = entry.stop
    return entries, metadata


def tensor_from_bytes(
    buffer: bytearray | bytes, name: str, dtype: torch.dtype, shape: tuple[int, ...]
) -> torch.Tensor:
    """Tensor ``name`` from exactly its raw little-endian bytes (no copy for a bytearray): a
    safetensors entry's or a zip ``.bin`` plan's (:mod:`.torch_zip`).

    Example:
        >>> tensor_from_bytes(bytes(8), "w", torch.float16, (2, 2)).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """
    nbytes = math.prod(shape) * dtype.itemsize
    if len(buffer) != nbytes:
        raise CorruptCheckpointError(
            f"{name}: got {len(buffer)} bytes, expected {nbytes} (truncated data?)"
        )
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    buffer = bytearray(buffer) if isinstance(buffer, bytes) else buffer
    return torch.frombuffer(buffer, dtype=dtype).reshape(shape)


def require_entry(entries: dict[str, _T], name: str, source: str) -> _T:
    """The entry called ``name``, or a TensorNotFoundError listing what is there."""
    if name not in entries:
        listing = ", ".join(sorted(entries)[:12]) + (" ..." if len(entries) > 12 else "")
        raise TensorNotFoundError(f"{source}: no tensor named {name!r} (has: {listing})")
    return entries[name]


def _open(path: Path, **backend: str):
    """``safe_open(path)``; the library's refusal as a one-line CorruptCheckpointError."""
    try:
        return safetensors.safe_open(str(path), framework="pt", **backend)
    except safetensors.SafetensorError as err:
        reason = short_reason(err).removeprefix("Error while deserializing header: ")
        size = path.stat().st_size
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt safetensors file ({size} bytes; {reason})"
        ) from None


def local_entries(path: str | os.PathLike[str]) -> dict[str, TensorEntry]:
    """Name -> :class:`TensorEntry` of a local file (reads the header only). ``safe_open``
    checked that the tensors tile the data: offsets are running sums (it reports none)."""
    path = Path(path)
    entries: dict[str, TensorEntry] = {}
    with _open(path) as fh:
        with path.open("rb") as raw:
            at = 8 + struct.unpack("<Q", raw.read(8))[0]
        for name in fh.offset_keys():
            piece = fh.get_slice(name)
            dtype, shape = piece.get_dtype(), tuple(piece.get_shape())
            stop = at + _nbytes(dtype, shape)
            entries[name] = TensorEntry(name, dtype, shape, at, stop)
            at = stop
    return entries


def read_tensor(path: str | os.PathLike[str], name: str) -> torch.Tensor:
    """Tensor ``name`` of a local safetensors file, in memory of its own (its bytes only).

    ``backend="pread"`` (safetensors 0.8) reads just its bytes; a memory-mapped tensor (older
    safetensors) is copied: a file rewritten in place later would pull its pages (SIGBUS).
    """
    path = Path(path)
    try:
        opened, copy = _open(path, backend="pread"), False
    except TypeError:  # safetensors < 0.8: no backend argument
        opened, copy = _open(path), True
    with opened as fh:
        require_entry(dict.fromkeys(fh.keys()), name, str(path))
        try:
            tensor = fh.get_tensor(name)
            return tensor.clone() if copy else tensor
        except (safetensors.SafetensorError, TypeError, ValueError) as err:
            raise CorruptCheckpointError(
                f"{path}: cannot read tensor {name!r} ({short_reason(err)})"
            ) from None
