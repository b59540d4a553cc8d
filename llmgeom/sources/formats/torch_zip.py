"""Locate ONE tensor of a zip-format PyTorch ``.bin`` file without reading the rest.

``torch.save`` writes a ZIP archive of STORED entries: ``<root>/data.pkl`` (the state dict, whose
tensors name their storages by key) and ``<root>/data/<key>`` (raw little-endian bytes). A plan
reads the central directory, ``data.pkl`` and one local header: through a :class:`.RangeFile`, a
few range requests whatever the number of storages.

Why hand-written: no public torch API gives a tensor's storage key and offset without reading
data, and ``torch.load(map_location="meta")`` reads every storage's local header on archives
without ``.format_version`` (torch < 2.6: every OPT checkpoint on the Hub), one request each.
``data.pkl`` is parsed by an allow-list unpickler that builds only containers and llmgeom's
records; a global outside the list is refused as unsafe (``CorruptCheckpointError``). What the
planner does not handle (legacy pickle, known but unplanned global, compressed entry,
non-contiguous tensor, big-endian file) raises :class:`ZipLayoutError`: the caller reads the
whole file with ``torch.load(weights_only=True)``.

Example:
    >>> import io, torch
    >>> buf = io.BytesIO()
    >>> torch.save({"wte.weight": torch.arange(6.0).reshape(3, 2)}, buf)
    >>> plan = index_zip_checkpoint(buf).plan("wte.weight")
    >>> plan.shape, plan.dtype, plan.nbytes
    ((3, 2), torch.float32, 24)
    >>> tensor_from_plan(buf.getvalue()[plan.start : plan.stop], plan)[2].tolist()
    [4.0, 5.0]
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
import struct
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, NamedTuple, TypeAlias

import torch

from ...errors import CorruptCheckpointError, LlmgeomError
from .._reasons import short_reason
from .safetensors_format import require_entry, tensor_from_bytes

MAX_PICKLE_BYTES = 64 * 2**20  # a data.pkl larger than this is not a state dict of weights
# globals torch.load(weights_only=True) accepts but the planner does not read (other
# torch._utils._rebuild_* functions too): ZipLayoutError, and torch.load decides
_UNPLANNED = set(
    "torch.Size torch.device torch.Tensor torch.nn.parameter.Parameter collections.Counter"
    " torch._tensor._rebuild_from_type_v2 torch.serialization._get_layout builtins.set"
    " builtins.bytearray builtins.complex _codecs.encode".split()
)
#: A seekable binary file: an open file, or a raw stream such as :class:`.RangeFile`.
BinaryFile: TypeAlias = IO[bytes] | io.RawIOBase


def refused_error(err: Exception, source: str) -> CorruptCheckpointError:
    """The error for a pickle that ``weights_only`` loading refused, naming what it refused."""
    text = str(err)
    match = re.search(r"(unsupported global|unsupported operand|global [\w.]+ )[^\n]*", text, re.I)
    reason = match.group(0) if match else (text.strip().splitlines() or [type(err).__name__])[0]
    return CorruptCheckpointError(
        f"{source}: refused to load: the pickle is not plain weights ({reason.strip()[:200]})"
    )


class ZipLayoutError(LlmgeomError, ValueError):
    """A ``.bin`` file this reader cannot plan: read it whole (never an unsafe pickle's or a
    network failure's error: those keep their own types)."""


class _Storage(NamedTuple):
    key: str  # the bytes are in <root>/data/<key>
    dtype: torch.dtype
    nbytes: int


class _Tensor(NamedTuple):
    storage: _Storage
    dtype: torch.dtype
    offset: int  # in elements
    shape: tuple[int, ...]
    contiguous: bool


class _Unpickler(pickle._Unpickler):
    """``data.pkl`` -> dicts of :class:`_Tensor` records; runs nothing the pickle names.

    Python's pure unpickler, as torch.load's ``weights_only`` one: its memo is a dict, where the C
    unpickler's is an array grown to the largest index a ``LONG_BINPUT`` names (4 bytes: a
    16 GiB allocation from a five-byte opcode)."""

    def __init__(self, data: bytes, source: str, *, scan: bool = False) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.source = source
        self.scan = scan  # only list the storages: an unplanned global builds a placeholder
        self.storages: list[_Storage] = []  # every persistent id, in order

    def find_class(self, module: str, name: str) -> Any:
        path = f"{'builtins' if module == '__builtin__' else module}.{name}"
        if path == "collections.OrderedDict":
            return OrderedDict
        if path in ("torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2"):
            return self._tensor_v2
        if path == "torch._utils._rebuild_tensor_v3":
            return self._tensor_v3
        if path in (
            "torch._utils._rebuild_parameter",
            "torch._utils._rebuild_parameter_with_state",
        ):
            return self._parameter
        if module == "torch" or path == "torch.storage.UntypedStorage":  # storage types, dtypes
            found = vars(torch).get(name)
            if name.endswith("Storage"):  # a legacy class: FloatStorage.dtype warns it is one
                with warnings.catch_warnings(action="ignore"):
                    found = torch.uint8 if name == "UntypedStorage" else getattr(found, "dtype", 0)
            if isinstance(found, torch.dtype):
                return found
        if path in _UNPLANNED or path.startswith("torch._utils._rebuild_"):
            if self.scan:
                return _placeholder
            raise ZipLayoutError(f"{self.source}: data.pkl holds {path}, which is not planned")
        raise refused_error(pickle.UnpicklingError(f"unsupported global {path}"), self.source)

    def persistent_load(self, pid: Any) -> _Storage:
        kind, dtype, key, _location, numel = pid
        if kind != "storage" or not isinstance(dtype, torch.dtype) or not isinstance(numel, int):
            raise ZipLayoutError(f"{self.source}: unexpected persistent id {pid!r:.80}")
        if numel < 0:
            raise ZipLayoutError(f"{self.source}: a storage of {numel} elements")
        self.storages.append(_Storage(str(key), dtype, numel * dtype.itemsize))
        return self.storages[-1]

    def _tensor_v3(self, storage, offset, shape, stride, grad, hooks, dtype, metadata=None):
        plain = isinstance(storage, _Storage) and isinstance(dtype, torch.dtype)
        if not plain or not isinstance(offset, int) or offset < 0 or metadata:  # conj, neg bits
            raise ZipLayoutError(f"{self.source}: a tensor that is no plain view of a storage")
        meta = torch.empty_strided(shape, stride, dtype=dtype, device="meta")  # checks them
        return _Tensor(storage, dtype, offset, tuple(meta.shape), meta.is_contiguous())

    def _tensor_v2(self, storage, offset, shape, stride, grad=False, hooks=None, metadata=None):
        dtype = getattr(storage, "dtype", None)
        return self._tensor_v3(storage, offset, shape, stride, grad, hooks, dtype, metadata)

    def _parameter(self, data: Any, *_args: Any) -> Any:
        return data


def _placeholder(*args: Any, **kwargs: Any) -> None:
    """What a global torch.load accepts but the planner does not read builds when only the
    storages are listed (:func:`storages_mappable`): nothing."""


@dataclass(frozen=True)
class ZipTensorPlan:
    """Where the bytes of one tensor are in the file: ``[start, stop)``, absolute offsets."""

    name: str
    key: str  # storage key
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    stop: int

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's data."""
        return self.stop - self.start

    @property
    def byte_range(self) -> tuple[int, int]:
        """``(start, stop)``."""
        return self.start, self.stop


@dataclass
class ZipCheckpoint:
    """An indexed zip ``.bin`` (see :func:`index_zip_checkpoint`): its plain tensors by name."""

    fileobj: BinaryFile
    archive: zipfile.ZipFile
    root: str
    tensors: dict[str, _Tensor]
    source: str = "file"

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Tensor name -> shape (what :func:`~.head_key.choose_head_key` needs)."""
        return {name: t.shape for name, t in self.tensors.items()}

    def plan(self, name: str) -> ZipTensorPlan:
        """Tensor ``name``'s absolute byte range (one more small read: its local header)."""
        t = require_entry(self.tensors, name, self.source)
        if not t.contiguous:
            raise ZipLayoutError(f"{self.source}: tensor {name!r} is not contiguous")
        record = f"{self.root}/data/{t.storage.key}"
        data = _stored_record(self.fileobj, self.archive, record, t.storage.nbytes, self.source)
        begin = t.offset * t.dtype.itemsize
        end = begin + math.prod(t.shape) * t.dtype.itemsize
        if end > t.storage.nbytes:
            raise ZipLayoutError(f"{self.source}: {name!r} ends past its storage {record}")
        return ZipTensorPlan(name, t.storage.key, t.dtype, t.shape, data + begin, data + end)


def _by_lower_name(archive: zipfile.ZipFile) -> dict[str, list[zipfile.ZipInfo]]:
    """The archive's entries by name in lower case: torch's zip reader (miniz) ignores case."""
    entries: dict[str, list[zipfile.ZipInfo]] = {}
    for info in archive.infolist():
        entries.setdefault(info.filename.lower(), []).append(info)
    return entries


def _stored_record(
    fileobj: BinaryFile,
    archive: zipfile.ZipFile,
    record: str,
    nbytes: int,
    source: str,
    by_name: dict[str, list[zipfile.ZipInfo]] | None = None,
) -> int:
    """Where the bytes of the zip entry ``record`` start, if it holds a storage's ``nbytes``
    bytes as they are: one entry of that name, not compressed, of exactly that size, behind a
    local header that names it, inside the file (what torch.load checks, except memory-mapped)."""
    found = (by_name or _by_lower_name(archive)).get(record.lower(), [])
    if len(found) != 1:
        raise ZipLayoutError(f"{source}: {len(found)} entries {record}, not one")
    info = found[0]
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise ZipLayoutError(f"{source}: entry {record} is compressed")
    if _folder(info):
        raise ZipLayoutError(f"{source}: entry {record} is marked as a folder")
    if info.file_size != nbytes:
        raise ZipLayoutError(f"{source}: {record} has {info.file_size} bytes, not {nbytes}")
    # the data follows the entry's LOCAL header, whose extra field (torch's alignment
    # padding) differs from the central directory's; zipfile does not expose where
    name_bytes = info.filename.encode()
    try:
        size = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(info.header_offset)
        head = fileobj.read(30 + len(name_bytes))
        magic, name_len, extra_len = struct.unpack("<4s22xHH", head[:30])
    except Exception as err:
        raise _zip_error(err, fileobj, source) from None
    if (magic, name_len, head[30:]) != (b"PK\x03\x04", len(name_bytes), name_bytes):
        raise ZipLayoutError(f"{source}: bad local header for {record}")
    data = info.header_offset + len(head) + extra_len
    if data + nbytes > size:  # a local header's extra field pointing past the end
        raise ZipLayoutError(f"{source}: {record} would end past the file's {size} bytes")
    return data


def _unpickled(
    fileobj: BinaryFile, source: str, *, scan: bool = False
) -> tuple[zipfile.ZipFile, str, _Unpickler, Any]:
    """The archive, its root folder, and its ``data.pkl`` unpickled (with the storages named)."""
    try:
        archive = zipfile.ZipFile(fileobj)
        names = archive.namelist()
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ZipLayoutError(f"{source}: a zip file but not a torch.save archive")
        root = pickles[0].split("/")[0]
        orders = [n for n in names if n.lower() == f"{root}/byteorder".lower()]  # as miniz finds
        if any(archive.read(n).strip() != b"little" for n in orders):
            raise ZipLayoutError(f"{source}: big-endian checkpoint")
        if archive.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
            raise ZipLayoutError(f"{source}: data.pkl is larger than {MAX_PICKLE_BYTES} bytes")
        unpickler = _Unpickler(archive.read(pickles[0]), source, scan=scan)
        return archive, root, unpickler, unpickler.load()
    except Exception as err:
        raise _zip_error(err, fileobj, source) from None


_PYTHON_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{0,199}")


def names_odd_global(data: bytes) -> bool:
    r"""Whether the pickles at the start of ``data`` (one, or the legacy format's few in a row)
    name, with a ``GLOBAL`` or ``INST`` opcode, something that is no dotted Python name of at
    most 200 characters (scanned up to the first malformed opcode, nothing built).

    torch.load refuses such a global, but its message about it goes through a regular expression
    that takes time quadratic in the name's length (torch 2.13: 35 s for 40 kB): refuse it first.

    Example:
        >>> names_odd_global(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n.")
        False
        >>> names_odd_global(b"\x80\x02cos\nsystem" + b"a" * 40000 + b"\n.")
        True
    """
    stream = io.BytesIO(data)
    while stream.tell() < len(data) and data[stream.tell() : stream.tell() + 1] == b"\x80":
        while True:
            op = pickletools.code2op.get(  # type: ignore[attr-defined]
                stream.read(1).decode("latin-1")
            )
            if op is None:
                return False  # malformed: torch.load says so at once
            if op.name in ("GLOBAL", "INST"):
                module, name = stream.readline(), stream.readline()
                if not all(_PYTHON_NAME.fullmatch(s.removesuffix(b"\n")) for s in (module, name)):
                    return True
                continue
            try:
                if op.arg is not None:
                    op.arg.reader(stream)
            except Exception:  # pickletools' readers fail variously on a malformed argument
                return False
            if op.name == "STOP":
                break
    return False


def pickle_bytes(fileobj: BinaryFile) -> bytes:
    """The ``data.pkl`` of a zip ``.bin`` as stored (its CRC unchecked: torch.load ignores it),
    else the start of the file (a legacy pickle); ``b""`` where no ``data.pkl`` can be found."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except Exception:  # zipfile fails many ways: no zip directory to read, a legacy pickle?
        fileobj.seek(0)
        return fileobj.read(MAX_PICKLE_BYTES)
    try:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        info = archive.getinfo(pickles[0])
        if info.compress_type != zipfile.ZIP_STORED:
            return archive.read(info)[:MAX_PICKLE_BYTES]
        start = _stored_record(fileobj, archive, info.filename, info.file_size, "file")
        fileobj.seek(start)
        return fileobj.read(min(info.file_size, MAX_PICKLE_BYTES))
    except Exception:  # a damaged archive: torch.load reads what it can and says what it cannot
        return b""


def storages_mappable(fileobj: BinaryFile, source: str = "file") -> bool:
    """Whether every storage ``data.pkl`` names is one uncompressed entry of exactly its size, as
    a memory-mapped ``torch.load`` (which checks none of it) needs to read the right bytes.

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO()
        >>> torch.save({"w": torch.ones(3)}, buf)
        >>> storages_mappable(buf)
        True
    """
    try:
        archive, root, unpickler, _ = _unpickled(fileobj, source, scan=True)
        by_name = _by_lower_name(archive)
        for storage in unpickler.storages:
            record = f"{root}/data/{storage.key}"
            _stored_record(fileobj, archive, record, storage.nbytes, source, by_name)
    except LlmgeomError:  # a layout not planned, a refused pickle: torch.load, unmapped, decides
        return False
    return True


def _folder(info: zipfile.ZipInfo) -> bool:
    """Whether torch's zip reader (miniz) takes the entry for a folder: a name ending in ``/``,
    or the MS-DOS folder attribute."""
    return info.filename.endswith("/") or bool(info.external_attr & 0x10)


def check_storage_records(fileobj: BinaryFile, source: str = "file") -> None:
    """A CorruptCheckpointError unless every storage entry (``<root>/data/<key>``) of a zip
    ``.bin`` is one torch.load reads whole: none marked as a folder, every compressed one
    inflating, with its CRC-32, to exactly its listed size. Else torch.load returns the storage's
    memory uninitialised, as weights. An archive whose directory zipfile cannot read is left to
    torch.load.

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO()
        >>> torch.save({"w": torch.ones(3)}, buf)
        >>> check_storage_records(buf)   # plain entries: nothing to say
    """
    try:
        archive = zipfile.ZipFile(fileobj)
    except Exception:  # zipfile fails many ways on a damaged directory: torch.load decides
        return
    for info in archive.infolist():
        parts = info.filename.lower().split("/")
        if len(parts) != 3 or parts[1] != "data" or not parts[2]:
            continue
        if _folder(info):
            raise CorruptCheckpointError(
                f"{source}: corrupt PyTorch checkpoint (storage {info.filename} is marked as a "
                "folder)"
            )
        if info.compress_type == zipfile.ZIP_STORED:
            continue
        try:
            size, reason = len(archive.read(info)), ""
        except Exception as err:  # zlib, CRC, EOF... errors of a damaged compressed entry
            size, reason = -1, short_reason(err)
        if size != info.file_size:
            reason = reason or f"{size} bytes, not {info.file_size}"
            raise CorruptCheckpointError(
                f"{source}: truncated or corrupt PyTorch checkpoint (compressed {info.filename}: "
                f"{reason})"
            )


def index_zip_checkpoint(fileobj: BinaryFile, source: str = "file") -> ZipCheckpoint:
    """Read the central directory and ``data.pkl`` of a zip ``.bin`` file (no tensor data)."""
    archive, root, _, state = _unpickled(fileobj, source)
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise CorruptCheckpointError(f"{source}: not a state dict (got {type(state).__name__})")
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, _Tensor)}
    return ZipCheckpoint(fileobj, archive, root, tensors, source)


def _zip_error(err: Exception, fileobj: BinaryFile, source: str) -> Exception:
    """What a failure while reading the archive means: the reader's own error, or a fallback."""
    if isinstance(err, LlmgeomError):
        return err
    failure = getattr(fileobj, "failure", None)
    if failure is not None:  # zipfile turns an OSError (NetworkError...) into BadZipFile
        return failure
    if isinstance(err, zipfile.BadZipFile) and "not a zip file" in str(err):
        return ZipLayoutError(f"{source}: not a zip archive (a legacy torch.save pickle?)")
    return ZipLayoutError(f"{source}: not a readable torch.save archive ({short_reason(err)})")


def tensor_from_plan(buffer: bytearray | bytes, plan: ZipTensorPlan) -> torch.Tensor:
    """The tensor from exactly its plan's raw bytes (no copy for a bytearray)."""
    return tensor_from_bytes(buffer, plan.name, plan.dtype, plan.shape)
