"""Locate and read ONE tensor of a zip-format PyTorch ``.bin`` file without reading the rest.

``torch.save`` (since torch 1.6) writes a ZIP archive whose entries are STORED (uncompressed):
``<root>/data.pkl`` (a pickle of the state dict; its tensors name their storages by key through
persistent ids ``('storage', storage_type, key, location, numel)``) and ``<root>/data/<key>``
(the raw little-endian bytes of each storage). So one tensor costs: the zip central directory
(end of file), ``data.pkl`` (start of file, small), the storage's local file header, and the
tensor's own bytes. This module is pure logic over a seekable binary file object; the Hub source
(:mod:`.hub`) gives it a :class:`~.range_file.RangeFile` whose reads are HTTP range requests.

Dtypes, shapes, strides and storage offsets come from ``torch.load(fileobj, map_location="meta",
weights_only=True)``: no code runs (a pickle naming any other global is refused with
:class:`~llmgeom.errors.CorruptCheckpointError`) and no tensor data is read; torch (2.5 and
later) records on each meta storage the absolute file offset of its bytes
(``_checkpoint_offset``, the one private name of this path, probed once). The storage's entry
is found in the central directory, and the entry's local header (a hand-decoded 30-byte record,
APPNOTE 4.3.7: :mod:`zipfile` does not expose data offsets) must agree with that offset.

The older planner is the fallback: it parses ``data.pkl`` with torch's private ``weights_only``
unpickler (``torch._weights_only_unpickler.Unpickler``, ``UntypedStorage._cdata``,
``TypedStorage(_internal=True)``). It serves a torch that records no offsets; archives without
``.format_version`` (torch would read every storage's local header: one request each on the
Hub); tiny archives whose last 4 KiB (what torch's reader scans for the end record) hold tensor
data rather than the central directory; and re-packed zips whose headers disagree with torch's
offsets. A torch without those private names gives :class:`ZipLayoutError`.

Anything this reader does not handle (a legacy non-zip pickle, a compressed storage entry, a
non-contiguous tensor, a big-endian file, a malformed archive) raises :class:`ZipLayoutError`:
the caller falls back to reading the whole file with ``torch.load``.

Example:
    >>> import io, torch
    >>> buf = io.BytesIO()
    >>> torch.save({"wte.weight": torch.arange(6.0).reshape(3, 2)}, buf)
    >>> plan = plan_zip_tensor(buf, "wte.weight")
    >>> plan.shape, plan.dtype, plan.nbytes
    ((3, 2), torch.float32, 24)
    >>> read_zip_tensor(buf, plan)[2].tolist()
    [4.0, 5.0]
"""

from __future__ import annotations

import bisect
import io
import math
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

import torch

from ..errors import CorruptCheckpointError, LlmgeomError
from ._reasons import short_reason
from .safetensors_format import require_entry
from .torch_bin import refused_error

_EOCD_SCAN_BYTES = 4096  # miniz's backward search window for the end-of-central-dir record
MAX_PICKLE_BYTES = 64 * 2**20  # a data.pkl larger than this is not a state dict of weights
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes; see APPNOTE.TXT 4.3.7
_LOCAL_MAGIC = b"PK\x03\x04"


class ZipLayoutError(LlmgeomError, ValueError):
    """A ``.bin`` file this reader cannot plan (legacy pickle, compressed entry, non-contiguous
    tensor, malformed archive...): read the whole file instead.

    Never raised for an unsafe pickle (that is a :class:`CorruptCheckpointError`) nor for a
    network failure (those keep their own types).
    """


# --------------------------------------------------------------------------------------------
# the plan of one tensor
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZipTensorInfo:
    """What ``data.pkl`` says of one tensor: storage key, dtype, shape, stride, offset."""

    name: str
    key: str  # storage key: the data lives in <root>/data/<key>
    dtype: torch.dtype
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage_offset: int  # in elements
    storage_numel: int  # elements of the whole storage
    data_offset: int | None = None  # where torch says the storage's bytes start (meta path)

    @property
    def numel(self) -> int:
        """Number of elements of the tensor."""
        return math.prod(self.shape)

    @property
    def contiguous(self) -> bool:
        """True when the tensor is one row-major run of its storage."""
        expected, ok = 1, True
        for dim, stride in zip(reversed(self.shape), reversed(self.stride), strict=True):
            if dim != 1 and stride != expected:
                ok = False
            expected *= dim
        return ok


@dataclass(frozen=True)
class ZipTensorPlan:
    """Where the bytes of one tensor are in the file: ``[start, stop)``, absolute offsets."""

    name: str
    key: str
    record: str  # zip member holding the storage
    dtype: torch.dtype
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage_offset: int
    data_start: int  # absolute offset of the storage's first byte
    start: int  # absolute offset of the tensor's first byte
    stop: int  # one past its last byte

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
    """An indexed zip ``.bin``: its archive and the tensors its ``data.pkl`` describes.

    Build it with :func:`index_zip_checkpoint`; :meth:`plan` locates one tensor's bytes (one
    more small read: the storage's local file header).
    """

    fileobj: IO[bytes]
    archive: zipfile.ZipFile
    root: str
    tensors: dict[str, ZipTensorInfo]
    source: str = "file"
    skipped: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Tensor name -> shape (what :func:`~.head_key.choose_head_key` needs)."""
        out = {name: shape for name, (shape, _) in self.skipped.items()}
        out.update((name, info.shape) for name, info in self.tensors.items())
        return out

    def use_planner(self) -> None:
        """Describe the tensors from ``data.pkl`` parsed by llmgeom's planner (the fallback)."""
        try:
            data = self.archive.read(f"{self.root}/data.pkl")
        except Exception as err:
            raise _zip_error(err, self.fileobj, self.source) from None
        obj, owners = _parse_pickle(data, self.source)

        def storage_of(value: torch.Tensor) -> tuple[str, int, None] | None:
            owner = owners.get(value.untyped_storage()._cdata)
            return (owner[0], owner[2], None) if owner and owner[1] == value.dtype else None

        self.tensors, self.skipped = _tensor_infos(obj, self.source, storage_of)

    def plan(self, name: str) -> ZipTensorPlan:
        """The absolute byte range of tensor ``name`` (TensorNotFoundError if absent).

        Raises :class:`ZipLayoutError` when the tensor is not one contiguous run of a STORED
        entry.
        """
        if name in self.skipped:
            raise ZipLayoutError(f"{self.source}: tensor {name!r} {self.skipped[name][1]}")
        info = require_entry(self.tensors, name, self.source)
        if not info.contiguous:
            raise ZipLayoutError(
                f"{self.source}: tensor {name!r} is not contiguous "
                f"(shape {info.shape}, stride {info.stride})"
            )
        record = f"{self.root}/data/{info.key}"
        try:
            zinfo = self.archive.getinfo(record)
        except KeyError:
            raise ZipLayoutError(f"{self.source}: no entry {record} for {name!r}") from None
        if zinfo.compress_type != zipfile.ZIP_STORED:
            raise ZipLayoutError(
                f"{self.source}: entry {record} is compressed (method {zinfo.compress_type})"
            )
        itemsize = info.dtype.itemsize
        if zinfo.file_size < info.storage_numel * itemsize:
            raise ZipLayoutError(
                f"{self.source}: entry {record} has {zinfo.file_size} bytes, "
                f"its storage needs {info.storage_numel * itemsize}"
            )
        data_start = _local_data_offset(self.fileobj, zinfo, self.source)
        if info.data_offset is not None and info.data_offset != data_start:
            # torch derived the offset for its own zip writer; this archive was written by
            # another (a re-packed file): its local headers are the truth, so use the planner
            self.use_planner()
            return self.plan(name)
        begin = info.storage_offset * itemsize
        end = begin + info.numel * itemsize
        if end > zinfo.file_size:
            raise ZipLayoutError(
                f"{self.source}: tensor {name!r} ends at byte {end} of a "
                f"{zinfo.file_size}-byte storage"
            )
        return ZipTensorPlan(
            name,
            info.key,
            record,
            info.dtype,
            info.shape,
            info.stride,
            info.storage_offset,
            data_start,
            data_start + begin,
            data_start + end,
        )


def _local_data_offset(fileobj: IO[bytes], zinfo: zipfile.ZipInfo, source: str) -> int:
    """Absolute offset of an entry's data: after ITS local header (whose extra field, the
    alignment padding torch writes, differs from the central directory's)."""
    fileobj.seek(zinfo.header_offset)
    raw = fileobj.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size:
        raise ZipLayoutError(f"{source}: truncated local header of {zinfo.filename}")
    fields = _LOCAL_HEADER.unpack(raw)
    if fields[0] != _LOCAL_MAGIC:
        raise ZipLayoutError(f"{source}: bad local header magic for {zinfo.filename}")
    name_len, extra_len = fields[9], fields[10]
    fileobj.seek(zinfo.header_offset + _LOCAL_HEADER.size)
    if fileobj.read(name_len) != zinfo.filename.encode("utf-8"):
        raise ZipLayoutError(f"{source}: local header of {zinfo.filename} names another file")
    return zinfo.header_offset + _LOCAL_HEADER.size + name_len + extra_len


# --------------------------------------------------------------------------------------------
# data.pkl without running code, storages on the meta device
# --------------------------------------------------------------------------------------------
def _ascii(value: Any) -> Any:
    """A persistent id's field as text (torch.save wrote bytes under Python 2)."""
    return value.decode("ascii") if isinstance(value, bytes) else value


def _unpickler_class() -> type:
    """torch's private weights_only unpickler (ZipLayoutError when this torch has none)."""
    try:
        from torch._weights_only_unpickler import Unpickler
    except ImportError as err:
        raise ZipLayoutError(f"torch has no weights_only unpickler ({err})") from None
    if not hasattr(torch.UntypedStorage, "_cdata"):  # pragma: no cover - a future torch
        raise ZipLayoutError("torch storages have no _cdata: cannot plan without torch.load")
    return Unpickler


def _storage_dtype(storage_type: Any) -> torch.dtype:
    """The dtype a persistent id's storage type stands for."""
    if storage_type is torch.UntypedStorage:
        return torch.uint8
    dtype = getattr(storage_type, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(storage_type, torch.dtype):
        return storage_type
    raise ZipLayoutError(f"unknown storage type {storage_type!r}")


def _parse_pickle(data: bytes, source: str) -> tuple[Any, dict[int, tuple[str, torch.dtype, int]]]:
    """Unpickle ``data.pkl`` with meta storages; return the object and storage id -> key."""
    storages: dict[str, torch.storage.TypedStorage] = {}
    owners: dict[int, tuple[str, torch.dtype, int]] = {}

    def persistent_load(pid: Any) -> torch.storage.TypedStorage:
        if not (isinstance(pid, tuple) and len(pid) == 5):
            raise ZipLayoutError(f"{source}: unexpected persistent id {pid!r:.80}")
        typename, storage_type, key, _location, numel = pid
        if _ascii(typename) != "storage":
            raise ZipLayoutError(f"{source}: persistent id of type {typename!r}")
        key = str(_ascii(key))
        dtype = _storage_dtype(storage_type)
        if not isinstance(numel, int) or numel < 0:
            raise ZipLayoutError(f"{source}: bad storage size {numel!r} for key {key!r}")
        if key not in storages:
            untyped = torch.UntypedStorage(numel * dtype.itemsize, device="meta")
            owners[untyped._cdata] = (key, dtype, numel)
            storages[key] = torch.storage.TypedStorage(
                wrap_storage=untyped, dtype=dtype, _internal=True
            )
        elif storages[key].dtype != dtype:
            raise ZipLayoutError(f"{source}: storage {key!r} used with two dtypes")
        return storages[key]

    unpickler = _unpickler_class()(io.BytesIO(data), encoding="utf-8")
    unpickler.persistent_load = persistent_load
    try:
        obj = unpickler.load()
    except pickle.UnpicklingError as err:
        raise refused_error(err, source) from None
    except LlmgeomError:
        raise
    except Exception as err:  # malformed pickle (EOF, bad arguments), a torch without _internal
        raise ZipLayoutError(
            f"{source}: cannot parse data.pkl ({type(err).__name__}: {str(err)[:200]})"
        ) from None
    return obj, owners


@lru_cache(maxsize=1)
def meta_offsets_supported() -> bool:
    """Whether ``torch.load(map_location="meta")`` records storage offsets without reading data.

    Probed once on a tiny in-memory checkpoint: torch 2.5+ sets ``_checkpoint_offset`` on the
    meta storages it builds; older versions read the data, so the planner is used instead.

    Example:
        >>> meta_offsets_supported()   # torch 2.13
        True
    """
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, map_location="meta", weights_only=True)
    except Exception:  # pragma: no cover - a torch that cannot load onto the meta device
        return False
    return isinstance(getattr(state["w"].untyped_storage(), "_checkpoint_offset", None), int)


def _state_dict(obj: Any, source: str) -> Mapping:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CorruptCheckpointError(f"{source}: not a state dict (got {type(obj).__name__})")
    return obj


def _meta_infos(
    fileobj: IO[bytes], archive: zipfile.ZipFile, root: str, source: str
) -> tuple[dict[str, ZipTensorInfo], dict[str, tuple[tuple[int, ...], str]]] | None:
    """Tensor infos from ``torch.load(map_location="meta")``; None when torch's offsets do not
    fit the central directory (an archive not written by torch: use the planner)."""
    fileobj.seek(0)
    try:
        obj = torch.load(fileobj, map_location="meta", weights_only=True)
    except pickle.UnpicklingError as err:
        raise refused_error(err, source) from None
    except LlmgeomError:
        raise
    except Exception as err:  # a malformed archive or pickle
        failure = getattr(fileobj, "failure", None)
        if failure is not None:  # a RangeFile's network error, hidden by torch's reader
            raise failure from None
        raise ZipLayoutError(f"{source}: torch.load failed ({short_reason(err)})") from None
    # each storage entry's [first possible data byte, next entry's header) from the central dir
    entries = sorted(
        (i for i in archive.infolist() if i.filename.startswith(f"{root}/data/")),
        key=lambda i: i.header_offset,
    )
    starts = [i.header_offset + 30 + len(i.filename.encode()) for i in entries]

    def storage_of(value: torch.Tensor) -> tuple[str, int, int]:
        storage = value.untyped_storage()
        offset = getattr(storage, "_checkpoint_offset", None)
        at = bisect.bisect_right(starts, offset) - 1 if isinstance(offset, int) else -1
        if at < 0:
            raise _NotTorchLayout
        stop = entries[at + 1].header_offset if at + 1 < len(entries) else archive.start_dir
        if entries[at].file_size != storage.nbytes() or offset + storage.nbytes() > stop:
            raise _NotTorchLayout
        key = entries[at].filename.rsplit("/", 1)[1]
        return key, storage.nbytes() // value.element_size(), offset

    try:
        return _tensor_infos(obj, source, storage_of)
    except _NotTorchLayout:
        return None


class _NotTorchLayout(Exception):
    """torch's storage offsets do not fit this archive's central directory."""


def _tensor_infos(
    obj: Any, source: str, storage_of: Callable[[torch.Tensor], tuple[str, int, int | None] | None]
) -> tuple[dict[str, ZipTensorInfo], dict[str, tuple[tuple[int, ...], str]]]:
    """The plain tensors of a state dict; ``storage_of(tensor)`` gives (storage key, storage
    numel, data offset or None), None for a tensor that is no plain view of a stored storage."""
    infos: dict[str, ZipTensorInfo] = {}
    skipped: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, value in _state_dict(obj, source).items():
        if not isinstance(value, torch.Tensor) or not isinstance(name, str):
            continue
        shape = tuple(value.shape)
        if value.layout != torch.strided or type(value) is not torch.Tensor:
            skipped[name] = (shape, f"has layout {value.layout} / type {type(value).__name__}")
            continue
        found = storage_of(value)
        if found is None:
            skipped[name] = (shape, "is not a plain view of one stored storage")
            continue
        key, numel, at = found
        stride, offset = tuple(value.stride()), int(value.storage_offset())
        infos[name] = ZipTensorInfo(name, key, value.dtype, shape, stride, offset, numel, at)
    return infos, skipped


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def index_zip_checkpoint(fileobj: IO[bytes], source: str = "file") -> ZipCheckpoint:
    """Read the central directory and ``data.pkl`` of a zip ``.bin`` file (no tensor data).

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO()
        >>> torch.save({"a": torch.zeros(2, 3, dtype=torch.float16)}, buf)
        >>> index_zip_checkpoint(buf).shapes
        {'a': (2, 3)}
    """
    try:
        archive = zipfile.ZipFile(fileobj)
        names = archive.namelist()
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ZipLayoutError(
                f"{source}: a zip file but not a torch.save archive "
                f"({len(pickles)} data.pkl entries)"
            )
        root = pickles[0].split("/", 1)[0]
        order = f"{root}/byteorder"
        if order in names and archive.read(order).strip() != b"little":
            raise ZipLayoutError(f"{source}: big-endian checkpoint")
        if archive.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
            raise ZipLayoutError(f"{source}: data.pkl is larger than {MAX_PICKLE_BYTES} bytes")
        version = f"{root}/.format_version"  # >= 1: torch derives offsets, no per-storage read
        size = fileobj.seek(0, io.SEEK_END)
        by_torch = (
            version in names
            and archive.read(version).strip() >= b"1"
            # torch's zip reader (miniz) scans the last 4 KiB for the end record: use it when
            # they are central directory, read already, not other tensors' data (tiny files)
            and archive.start_dir <= size - _EOCD_SCAN_BYTES
        )
    except Exception as err:
        raise _zip_error(err, fileobj, source) from None
    index = ZipCheckpoint(fileobj, archive, root, {}, source)
    use_torch = by_torch and meta_offsets_supported()  # else torch.load would read the data
    found = _meta_infos(fileobj, archive, root, source) if use_torch else None
    if found is not None:
        index.tensors, index.skipped = found
    else:
        index.use_planner()
    return index


def _zip_error(err: Exception, fileobj: IO[bytes], source: str) -> Exception:
    """What a failure while reading the archive means: the reader's own error, or a fallback."""
    if isinstance(err, LlmgeomError):
        return err
    failure = getattr(fileobj, "failure", None)
    if failure is not None:  # zipfile turns an OSError (NetworkError...) into BadZipFile
        return failure
    if isinstance(err, zipfile.BadZipFile) and "not a zip file" in str(err):
        return ZipLayoutError(f"{source}: not a zip archive (a legacy torch.save pickle?)")
    if isinstance(
        err,
        zipfile.BadZipFile
        | zipfile.LargeZipFile
        | OSError
        | EOFError
        | ValueError
        | KeyError
        | NotImplementedError
        | struct.error
        | RuntimeError,
    ):
        return ZipLayoutError(
            f"{source}: not a readable zip archive ({type(err).__name__}: {str(err)[:200]})"
        )
    return err


def plan_zip_tensor(fileobj: IO[bytes], name: str, source: str = "file") -> ZipTensorPlan:
    """Locate tensor ``name`` in a zip ``.bin`` file: storage key, dtype, shape, byte range.

    Raises :class:`ZipLayoutError` (read the whole file instead), ``TensorNotFoundError`` or
    ``CorruptCheckpointError`` (an unsafe pickle).

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO()
        >>> torch.save({"w": torch.ones(4, 2, dtype=torch.bfloat16)}, buf)
        >>> p = plan_zip_tensor(buf, "w")
        >>> p.key, p.dtype, p.nbytes, buf.getvalue()[p.start:p.stop] == b"\\x80\\x3f" * 8
        ('0', torch.bfloat16, 16, True)
    """
    return index_zip_checkpoint(fileobj, source).plan(name)


def tensor_from_plan(buffer: bytearray | bytes, plan: ZipTensorPlan) -> torch.Tensor:
    """Build the tensor from exactly its ``plan.nbytes`` bytes (no copy for a bytearray).

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO()
        >>> torch.save({"w": torch.arange(4, dtype=torch.int16)}, buf)
        >>> p = plan_zip_tensor(buf, "w")
        >>> tensor_from_plan(buf.getvalue()[p.start:p.stop], p).tolist()
        [0, 1, 2, 3]
    """
    if len(buffer) != plan.nbytes:
        raise CorruptCheckpointError(
            f"{plan.name}: got {len(buffer)} bytes, expected {plan.nbytes} (truncated data?)"
        )
    if plan.nbytes == 0:
        return torch.empty(plan.shape, dtype=plan.dtype)
    if isinstance(buffer, bytes):
        buffer = bytearray(buffer)
    return torch.frombuffer(buffer, dtype=plan.dtype).reshape(plan.shape)


def read_zip_tensor(fileobj: IO[bytes], plan: ZipTensorPlan) -> torch.Tensor:
    """Read exactly the tensor's bytes from ``fileobj`` (file, BytesIO, RangeFile).

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO()
        >>> torch.save({"w": torch.full((2, 2), 3.0)}, buf)
        >>> read_zip_tensor(buf, plan_zip_tensor(buf, "w")).sum().item()
        12.0
    """
    buffer = bytearray(plan.nbytes)
    fileobj.seek(plan.start)
    view, done = memoryview(buffer), 0
    while done < plan.nbytes:
        got = fileobj.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise CorruptCheckpointError(
                f"{plan.name}: file ends {plan.nbytes - done} bytes before the tensor's last byte"
            )
        done += got
    return tensor_from_plan(buffer, plan)
