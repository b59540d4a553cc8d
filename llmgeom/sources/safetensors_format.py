"""A small, strict reader of the safetensors format that reads ONE tensor's bytes.

The format: 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``), then the
data; offsets are relative to the end of the header. Only the requested byte range is read, so
a 2 GB head is read from a 60 GB shard without touching the rest (locally or, in
:mod:`llmgeom.sources.hub`, over HTTP range requests).

Example:
    >>> import tempfile, torch, safetensors.torch as st
    >>> path = tempfile.mktemp(suffix=".safetensors")
    >>> st.save_file({"wte.weight": torch.ones(4, 2)}, path)
    >>> read_tensor(path, "wte.weight").shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CorruptCheckpointError, TensorNotFoundError
from ..progress import progress_bar

READ_PIECE_BYTES = 64 * 2**20

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the reference implementation's own limit

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
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
        """The corresponding torch dtype."""
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


def header_length(prefix: bytes, source: str = "file") -> int:
    """Decode the 8-byte header length at the start of a safetensors file."""
    if len(prefix) < 8:
        raise CorruptCheckpointError(f"{source}: too short to be a safetensors file")
    (length,) = struct.unpack("<Q", prefix[:8])
    if length == 0 or length > MAX_HEADER_BYTES:
        raise CorruptCheckpointError(f"{source}: invalid safetensors header length {length}")
    return length


def parse_header(raw: bytes, source: str = "file") -> tuple[dict[str, TensorEntry], dict]:
    """Parse the JSON header (without its 8-byte length prefix) into entries and metadata."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptCheckpointError(f"{source}: malformed safetensors header ({err})") from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{source}: safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + len(raw)
    entries = {}
    for name, info in header.items():
        try:
            dtype, shape = info["dtype"], tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CorruptCheckpointError(f"{source}: bad header entry for {name!r}") from None
        if dtype not in DTYPES:
            raise CorruptCheckpointError(f"{source}: unsupported dtype {dtype!r} for {name!r}")
        expected = math.prod(shape) * DTYPES[dtype].itemsize
        if end < begin or end - begin != expected:
            raise CorruptCheckpointError(
                f"{source}: {name!r} has {end - begin} bytes, expected {expected} for "
                f"{dtype}{list(shape)}"
            )
        entries[name] = TensorEntry(name, dtype, shape, data_start + begin, data_start + end)
    return entries, metadata


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, TensorEntry], dict]:
    """Read and validate the header of a local safetensors file."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        length = header_length(fh.read(8), str(path))
        raw = fh.read(length)
    if len(raw) != length:
        raise CorruptCheckpointError(f"{path}: truncated safetensors header")
    entries, metadata = parse_header(raw, str(path))
    for entry in entries.values():
        if entry.stop > size:
            raise CorruptCheckpointError(
                f"{path}: truncated file ({size} bytes) but tensor {entry.name!r} ends at "
                f"byte {entry.stop}"
            )
    return entries, metadata


def tensor_from_bytes(buffer: bytearray | bytes, entry: TensorEntry) -> torch.Tensor:
    """Build a tensor from the raw little-endian bytes of ``entry`` (no copy for bytearray)."""
    if len(buffer) != entry.nbytes:
        raise CorruptCheckpointError(
            f"{entry.name}: got {len(buffer)} bytes, expected {entry.nbytes} (truncated data?)"
        )
    if isinstance(buffer, bytes):
        buffer = bytearray(buffer)
    if entry.nbytes == 0:
        return torch.empty(entry.shape, dtype=entry.torch_dtype)
    return torch.frombuffer(buffer, dtype=entry.torch_dtype).reshape(entry.shape)


def require_entry(entries: dict[str, TensorEntry], name: str, source: str) -> TensorEntry:
    """The entry called ``name``, or a TensorNotFoundError listing what is there."""
    if name not in entries:
        listing = ", ".join(sorted(entries)[:12]) + (" ..." if len(entries) > 12 else "")
        raise TensorNotFoundError(f"{source}: no tensor named {name!r} (has: {listing})")
    return entries[name]


def read_entry(path: str | os.PathLike[str], entry: TensorEntry) -> torch.Tensor:
    """Read the bytes of an already-parsed header ``entry`` from a local safetensors file."""
    buffer = bytearray(entry.nbytes)
    view, got = memoryview(buffer), 0
    with Path(path).open("rb") as fh, progress_bar(entry.nbytes, "reading head", unit="B") as bar:
        fh.seek(entry.start)
        while got < entry.nbytes:  # 64 MiB pieces: a progress bar for multi-GB heads
            count = fh.readinto(view[got : got + READ_PIECE_BYTES])
            if not count:
                break
            got += count
            bar.update(count)
    if got != entry.nbytes:
        raise CorruptCheckpointError(f"{path}: truncated data for tensor {entry.name!r}")
    return tensor_from_bytes(buffer, entry)


def read_tensor(path: str | os.PathLike[str], name: str) -> torch.Tensor:
    """Read only the bytes of tensor ``name`` from a local safetensors file."""
    entries, _ = read_header(path)
    return read_entry(path, require_entry(entries, name, str(path)))
