"""Structure-aware seeds of the torch ``.bin`` fuzz targets (``tests/fuzz_targets_torch.py``).

A torch ``.bin`` is a zip archive whose ``data.pkl`` names its storages by key; blind byte flips
rarely get past the zip's checks, so the seeds are variants built at the structure's level and
named by what they change: the pickle's opcodes (written by a small assembler, so any global,
opcode or persistent id can be put where torch.save would put a tensor) and the zip's entries
(renamed, duplicated, deflated, truncated, the central directory damaged). Every variant is a
pure function of its name (:func:`torch_seeds`), so a crash replays as ``(seed name, byte ops)``.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable

import torch

HEAD = "transformer.wte.weight"  # a head name chosen without a config.json ("known-names")
ROOT = "archive"

# ------------------------------------------------------------------ a pickle assembler (protocol 2)


def g(module: str, name: str) -> bytes:
    """GLOBAL ``module.name`` (what ``find_class`` is asked for)."""
    return b"c" + f"{module}\n{name}\n".encode()


def stack_global(module: str, name: str) -> bytes:
    """STACK_GLOBAL (protocol 4) of ``module.name``."""
    return s(module) + s(name) + b"\x93"


def s(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def i(n: int) -> bytes:
    if -(2**31) <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def reduce(callable_: bytes, *args: bytes) -> bytes:
    return callable_ + tup(*args) + b"R"


def dict_(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"}(" + b"".join(k + v for k, v in pairs) + b"u"


def program(obj: bytes) -> bytes:
    return b"\x80\x02" + obj + b"."


FALSE, ORDERED_DICT = b"\x89", g("collections", "OrderedDict") + b")R"


def persid(key: str, numel: int, storage: str = "FloatStorage") -> bytes:
    return tup(s("storage"), g("torch", storage), s(key), s("cpu"), i(numel)) + b"Q"


def tensor(
    pid: bytes, offset: int, shape: tuple[int, ...], stride: tuple[int, ...] | None = None
) -> bytes:
    """``torch._utils._rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())``."""
    if stride is None:
        stride = tuple(int(torch.tensor(shape[k + 1 :]).prod()) for k in range(len(shape)))
    args = (pid, i(offset), tup(*map(i, shape)), tup(*map(i, stride)), FALSE, ORDERED_DICT)
    return reduce(g("torch._utils", "_rebuild_tensor_v2"), *args)


# ------------------------------------------------------------------ the base state dict


def base_state() -> dict[str, torch.Tensor]:
    """The tensors every variant starts from (head 8x4 float32, two others)."""
    gen = torch.Generator().manual_seed(19)
    return {
        HEAD: torch.randn(8, 4, generator=gen),
        "transformer.wpe.weight": torch.randn(5, 4, generator=gen),
        "transformer.ln_f.weight": torch.ones(4),
    }


def _storages() -> dict[str, bytes]:
    return {str(k): t.numpy().tobytes() for k, t in enumerate(base_state().values())}


def _entries(head: bytes | None = None, extra: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """The state dict's pickle: ``head`` replaces the head's tensor record."""
    state = base_state()
    pairs = []
    for k, (name, t) in enumerate(state.items()):
        record = tensor(persid(str(k), t.numel()), 0, tuple(t.shape))
        pairs.append((s(name), head if (head is not None and name == HEAD) else record))
    return program(dict_(pairs + (extra or [])))


def archive(
    pkl: bytes,
    storages: dict[str, bytes] | None = None,
    *,
    byteorder: bytes | None = b"little",
    deflate: tuple[str, ...] = (),
    extra_entries: list[tuple[str, bytes]] = (),
) -> bytes:
    """A torch.save-like zip: ``archive/data.pkl``, ``byteorder``, ``data/<key>``, ``version``."""
    storages = _storages() if storages is None else storages
    entries = [("data.pkl", pkl)]
    if byteorder is not None:
        entries.append(("byteorder", byteorder))
    entries += [(f"data/{k}", v) for k, v in storages.items()] + [("version", b"3\n")]
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        warnings.simplefilter("ignore")  # "Duplicate name": wanted here
        for name, data in [*entries, *extra_entries]:
            method = zipfile.ZIP_DEFLATED if name in deflate or "*" in deflate else 0
            z.writestr(zipfile.ZipInfo(f"{ROOT}/{name}", (1980, 1, 1, 0, 0, 0)), data, method)
    return buf.getvalue()


def _saved(obj: object, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


# ------------------------------------------------------------------ zip-level edits


def _find_local(data: bytes, name: str) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.getinfo(f"{ROOT}/{name}").header_offset


def _set_local_extra_len(data: bytes, name: str, value: int) -> bytes:
    at = _find_local(data, name)
    return data[: at + 28] + struct.pack("<H", value) + data[at + 30 :]


def _set_central_size(data: bytes, name: str, size: int) -> bytes:
    """The central directory's compressed and uncompressed size of ``name`` set to ``size``."""
    raw = f"{ROOT}/{name}".encode()
    at = data.rindex(b"PK\x01\x02", 0, data.rindex(raw))
    return data[: at + 20] + struct.pack("<II", size, size) + data[at + 28 :]


def _eocd(data: bytes) -> int:
    return data.rindex(b"PK\x05\x06")


def _shift_cd_offset(data: bytes, by: int) -> bytes:
    at = _eocd(data) + 16
    (offset,) = struct.unpack("<I", data[at : at + 4])
    return data[:at] + struct.pack("<I", (offset + by) % 2**32) + data[at + 4 :]


def _renamed(data: bytes, old: str, new: str) -> bytes:
    """``old`` renamed ``new`` (same length) in local header and central directory."""
    assert len(old) == len(new)
    return data.replace(f"{ROOT}/{old}".encode(), f"{ROOT}/{new}".encode())


# ------------------------------------------------------------------ the variants


def _head_with(record: bytes) -> bytes:
    return archive(_entries(head=record))


def _danger(callable_: bytes, *args: bytes) -> bytes:
    """The state dict with one more value that would run ``callable_(*args)`` if unpickled."""
    return archive(_entries(extra=[(s("payload"), reduce(callable_, *args))]))


def _big_storage_view() -> bytes:
    big = torch.arange(60, dtype=torch.float32)
    return _saved({HEAD: big[8:40].view(8, 4), "transformer.wpe.weight": big[40:60].view(5, 4)})


def _nested(depth: int) -> bytes:
    return archive(_entries(extra=[(s("deep"), b"]" * depth + b"a" * (depth - 1))]))


H = base_state()[HEAD]
_VARIANTS: dict[str, Callable[[], bytes]] = {
    # as torch writes them
    "torch-save": lambda: _saved(base_state()),
    "torch-save-fp16": lambda: _saved({k: v.half() for k, v in base_state().items()}),
    "torch-save-bf16": lambda: _saved({k: v.bfloat16() for k, v in base_state().items()}),
    "legacy-pickle": lambda: _saved(base_state(), _use_new_zipfile_serialization=False),
    "bare-tensor": lambda: _saved(H),
    "nested-state-dict": lambda: _saved({"state_dict": base_state(), "epoch": 3}),
    "parameters": lambda: _saved({k: torch.nn.Parameter(v) for k, v in base_state().items()}),
    "transposed-head": lambda: _saved({HEAD: H.t().contiguous().t(), "x": torch.ones(2)}),
    "shared-storage-offset": _big_storage_view,
    # written by the assembler
    "assembled": lambda: archive(_entries()),
    "rebuild-v3": lambda: _head_with(
        reduce(
            g("torch._utils", "_rebuild_tensor_v3"),
            persid("0", 32),
            i(0),
            tup(i(8), i(4)),
            tup(i(4), i(1)),
            FALSE,
            ORDERED_DICT,
            g("torch", "float32"),
        )
    ),
    "global-os-system": lambda: _danger(g("os", "system"), s("echo fuzz")),
    "global-posix-system": lambda: _danger(g("posix", "system"), s("echo fuzz")),
    "global-builtins-eval": lambda: _danger(g("builtins", "eval"), s("1+1")),
    "global-builtin-exec": lambda: _danger(g("__builtin__", "exec"), s("x=1")),
    "global-subprocess": lambda: _danger(g("subprocess", "check_output"), tup(s("true"))),
    "global-getattr": lambda: _danger(g("builtins", "getattr"), g("os", "path"), s("join")),
    "global-import-module": lambda: _danger(g("importlib", "import_module"), s("ctypes")),
    "stack-global-os-system": lambda: _danger(stack_global("os", "system"), s("echo fuzz")),
    "global-as-dtype": lambda: _head_with(
        tensor(tup(s("storage"), g("os", "system"), s("0"), s("cpu"), i(32)) + b"Q", 0, (8, 4))
    ),
    "global-torch-size": lambda: _danger(g("torch", "Size"), tup(i(8), i(4))),
    "global-rebuild-other": lambda: _danger(g("torch._utils", "_rebuild_qtensor"), i(0)),
    "unknown-opcode": lambda: archive(_entries()[:3] + b"\xff" + _entries()[3:]),
    "nested-lists-deep": lambda: _nested(20000),
    "persid-missing-storage": lambda: _head_with(tensor(persid("9", 32), 0, (8, 4))),
    "persid-short": lambda: _head_with(
        tensor(tup(s("storage"), g("torch", "FloatStorage"), s("0")) + b"Q", 0, (8, 4))
    ),
    "persid-not-tuple": lambda: _head_with(tensor(s("0") + b"Q", 0, (8, 4))),
    "persid-duplicate-dtype": lambda: archive(
        _entries(extra=[(s("dup"), tensor(persid("0", 64, "HalfStorage"), 0, (64,)))])
    ),
    "persid-duplicate-numel": lambda: archive(
        _entries(extra=[(s("dup"), tensor(persid("0", 64), 0, (64,)))])
    ),
    "numel-huge": lambda: _head_with(tensor(persid("0", 2**62), 0, (8, 4))),
    "numel-negative": lambda: _head_with(tensor(persid("0", -1), 0, (8, 4))),
    "numel-short": lambda: _head_with(tensor(persid("0", 16), 0, (8, 4))),
    "offset-2^31": lambda: _head_with(tensor(persid("0", 32), 2**31, (8, 4))),
    "offset-negative": lambda: _head_with(tensor(persid("0", 32), -1, (8, 4))),
    "offset-past-storage": lambda: _head_with(tensor(persid("0", 32), 4, (8, 4))),
    "shape-negative": lambda: _head_with(tensor(persid("0", 32), 0, (-8, 4), (4, 1))),
    "shape-2^31": lambda: _head_with(tensor(persid("0", 32), 0, (2**31, 2**31), (1, 1))),
    "shape-2^63": lambda: _head_with(tensor(persid("0", 32), 0, (2**63, 4), (4, 1))),
    "stride-negative": lambda: _head_with(tensor(persid("0", 32), 0, (8, 4), (-4, 1))),
    "stride-zero": lambda: _head_with(tensor(persid("0", 32), 0, (8, 4), (0, 1))),
    "stride-huge": lambda: _head_with(tensor(persid("0", 32), 0, (8, 4), (2**40, 1))),
    "shape-stride-mismatch": lambda: _head_with(tensor(persid("0", 32), 0, (8, 4), (4,))),
    "shape-not-tuple": lambda: _head_with(
        reduce(
            g("torch._utils", "_rebuild_tensor_v2"),
            persid("0", 32),
            i(0),
            i(8),
            tup(i(4), i(1)),
            FALSE,
            ORDERED_DICT,
        )
    ),
    # zip entries
    "rename-data-entry": lambda: _renamed(archive(_entries()), "data/0", "data/7"),
    "rename-data-pkl": lambda: _renamed(archive(_entries()), "data.pkl", "data.pk1"),
    "duplicate-data-entry": lambda: archive(
        _entries(), extra_entries=[("data/0", bytes(reversed(_storages()["0"])))]
    ),
    "duplicate-data-pkl": lambda: archive(_entries(), extra_entries=[("data.pkl", _entries())]),
    "deflate-data": lambda: archive(_entries(), deflate=("data/0",)),
    "deflate-pkl": lambda: archive(_entries(), deflate=("data.pkl",)),
    "deflate-all": lambda: archive(_entries(), deflate=("*",)),
    "byteorder-big": lambda: archive(_entries(), byteorder=b"big"),
    "no-byteorder": lambda: archive(_entries(), byteorder=None),
    "truncated-data-entry": lambda: archive(
        _entries(), {**_storages(), "0": _storages()["0"][:-4]}
    ),
    "local-extra-beyond-file": lambda: _set_local_extra_len(archive(_entries()), "data/0", 0xFFFF),
    "central-size-lies": lambda: _set_central_size(archive(_entries()), "data/0", 4096),
    "central-directory-shifted": lambda: _shift_cd_offset(archive(_entries()), 3),
    "central-directory-cut": lambda: archive(_entries())[: _eocd(archive(_entries()))],
}


def torch_seeds() -> dict[str, bytes]:
    """Every variant, by name."""
    return {name: build() for name, build in _VARIANTS.items()}


def refresh_crcs(data: bytes) -> bytes:
    """``data`` with the CRC-32 of every stored zip entry recomputed in its local header and the
    central directory (as far as they can be found), so that mutated bytes inside an entry pass
    zipfile's check and reach the unpicklers; anything unreadable is left as it is."""
    buf = bytearray(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos, at = z.infolist(), z.start_dir
    except Exception:  # zipfile fails many ways on a mutated archive: nothing to refresh
        return data
    crcs = {}
    for info in infos:
        head = info.header_offset
        if buf[head : head + 4] != b"PK\x03\x04" or info.compress_type != zipfile.ZIP_STORED:
            continue
        name_len, extra_len = struct.unpack("<HH", buf[head + 26 : head + 30])
        start = head + 30 + name_len + extra_len
        crc = zlib.crc32(buf[start : start + info.compress_size])
        if not buf[head + 6] & 0x08:  # else the local header holds 0 (a data descriptor follows)
            buf[head + 14 : head + 18] = struct.pack("<I", crc)
        crcs[info.header_offset] = crc
    while buf[at : at + 4] == b"PK\x01\x02" and at + 46 <= len(buf):  # the central directory
        n, m, k = struct.unpack("<HHH", buf[at + 28 : at + 34])
        (offset,) = struct.unpack("<I", buf[at + 42 : at + 46])
        if offset in crcs:
            buf[at + 16 : at + 20] = struct.pack("<I", crcs[offset])
        at += 46 + n + m + k
    return bytes(buf)
