"""Structure-aware inputs for the weight-file fuzz targets (tests/fuzz_targets_files.py).

Blind bytes rarely get past a format's first check, so each format here has a few valid *bases*
(written as the format's own writer writes them) and *edits* of its structure: a field of the
``.npy`` header dict, a zip entry's name, method, CRC or sizes, a safetensors header field or
its length prefix, a GGUF count, string length, dimension, type code or offset. An input is
named ``"base ; edit ; edit"``: :meth:`Structured.build` turns the name back into the bytes, so
a name is plain data that replays (a campaign's kept input is a name plus byte operations).
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SEP = " ; "


@dataclass(frozen=True)
class Structured:
    """Bases (name -> bytes builder), edits (text) and how one edit changes a base's structure."""

    bases: dict[str, Callable[[], object]]
    edits: tuple[str, ...]
    apply: Callable[[object, str], object]
    render: Callable[[object], bytes]

    def build(self, name: str) -> bytes:
        """The bytes of ``"base ; edit ; ..."``."""
        base, *edits = name.split(SEP)
        value = self.bases[base]()
        for edit in edits:
            try:
                value = self.apply(value, edit)
            except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError):
                pass  # an edit that no longer applies (its field edited away): skipped
        return self.render(value)

    def names(self, single_on: tuple[str, ...], pairs: int = 150, seed: int = 0) -> list[str]:
        """Every base, every edit on the bases ``single_on``, and ``pairs`` random edit pairs."""
        out = list(self.bases)
        out += [f"{b}{SEP}{e}" for b in single_on for e in self.edits]
        rng = random.Random(seed)
        bases = sorted(self.bases)
        out += [
            SEP.join([rng.choice(bases), rng.choice(self.edits), rng.choice(self.edits)])
            for _ in range(pairs)
        ]
        return list(dict.fromkeys(out))

    def seeds(self, single_on: tuple[str, ...], pairs: int = 150) -> dict[str, bytes]:
        return {name: self.build(name) for name in self.names(single_on, pairs)}

    def strategy(self) -> object:
        """A Hypothesis strategy of names: a base and up to three edits."""
        from hypothesis import strategies as st

        return st.builds(
            lambda b, e: SEP.join([b, *e]),
            st.sampled_from(sorted(self.bases)),
            st.lists(st.sampled_from(self.edits), max_size=3),
        )


def _split(edit: str) -> tuple[str, str]:
    key, _, value = edit.partition("=")
    return key, value


# --------------------------------------------------------------------------- .npy


@dataclass
class Npy:
    """A ``.npy`` file as its parts: version bytes, header dict (key -> literal text), data."""

    version: tuple[int, int]
    header: dict[str, str]
    data: bytes
    header_length: int | None = None  # None: the true length
    raw: str | None = None  # the whole header text instead of the dict
    pad: bool = True


def npy_of(array: np.ndarray, version: tuple[int, int] = (1, 0), fortran: bool = False) -> Npy:
    header = {
        "descr": repr(np.lib.format.dtype_to_descr(array.dtype)),
        "fortran_order": repr(fortran),
        "shape": repr(array.shape),
    }
    data = (np.asfortranarray(array) if fortran else array).tobytes(order="F" if fortran else "C")
    return Npy(version, header, data)


def render_npy(npy: Npy) -> bytes:
    text = (
        npy.raw
        if npy.raw is not None
        else "{" + "".join(f"'{k}': {v}, " for k, v in npy.header.items()) + "}"
    )
    wide = npy.version not in ((1, 0),)
    encoded = text.encode("utf-8" if npy.version == (3, 0) else "latin-1", "replace")
    head = 6 + 2 + (4 if wide else 2)
    if npy.pad:
        encoded += b" " * (-(head + len(encoded) + 1) % 64) + b"\n"
    length = len(encoded) if npy.header_length is None else npy.header_length
    prefix = b"\x93NUMPY" + bytes(npy.version)
    prefix += struct.pack("<I" if wide else "<H", length % (2**32 if wide else 2**16))
    return prefix + encoded + npy.data


def edit_npy(npy: Npy, edit: str) -> Npy:
    key, value = _split(edit)
    npy = Npy(npy.version, dict(npy.header), npy.data, npy.header_length, npy.raw, npy.pad)
    if key == "del":
        npy.header.pop(value, None)
    elif key == "hlen":
        npy.header_length = int(value)
    elif key == "ver":
        major, minor = value.split(".")
        npy.version = (int(major), int(minor))
    elif key == "raw":
        npy.raw = value
    elif key == "nopad":
        npy.pad = False
    elif key == "cut":
        npy.data = npy.data[: max(0, len(npy.data) - int(value))]
    elif key == "add":
        npy.data += b"\x01" * int(value)
    else:  # a header key (known or not) set to a literal's text
        npy.header[key] = value
    return npy


# fmt: off
_NPY_EDITS = (
    *(
        f"descr={d}"
        for d in (
            "'<f4'", "'<f8'", "'<f2'", "'>f4'", "'>f8'", "'|u1'", "'|i1'", "'<i8'", "'<u8'",
            "'<u2'", "'<u4'", "'|b1'", "'|O'", "'<c8'", "'<c16'", "'<f16'", "'<g'", "'<m8[s]'",
            "'<M8[D]'", "'|S4'", "'<U1'", "'|V4'", "'|V0'", "'<f0'", "'<f3'", "'<i0'", "'zz'",
            "''", "5", "None", "[]", "[('a', '<f4')]", "[('a', '<f4'), ('b', '<f4')]",
            "[('a', '<f4', (2,))]", "[('', '<f4')]", "[('a', '|O')]", "('<f4', (2,))",
            "{'names': ['a'], 'formats': ['<f4']}", "'<f4' 'x'",
        )
    ),
    *(
        f"shape={s}"
        for s in (
            "()", "(24,)", "(6, 4)", "(4, 6)", "(3, 8)", "(2, 4)", "(0, 4)", "(6, 0)", "(0, 0)",
            "(-1, 4)", "(6, -4)", "(-6, -4)", "(1000000000000000, 4)", "(4, 1000000000000000)",
            "(9223372036854775807, 1)", "(9223372036854775808, 1)", "(18446744073709551616, 1)",
            "(4294967296, 4294967296)", "(65536, 65536)", "(6.0, 4)", "(6, 4, 1)", "(1, 6, 4)",
            "[6, 4]", "(True, 4)", "None", "'x'", "(6, 4", "(6L, 4L)", "(6, 4L)",
            "(" * 300 + ")" * 300, "-" * 3000 + "1", "(" + "1, " * 40 + ")",
        )
    ),
    *(f"fortran_order={v}" for v in ("True", "False", "1", "0", "None", "'False'", "[]")),
    "del=descr", "del=shape", "del=fortran_order", "extra=1", "descr =1",
    *(f"hlen={n}" for n in (0, 1, 10, 63, 65, 117, 119, 10001, 65535, 2**31, 2**32 - 1)),
    *(f"ver={v}" for v in ("1.0", "2.0", "3.0", "0.0", "4.0", "1.1", "255.255")),
    *(
        f"raw={r}"
        for r in (
            "{}", "[]", "0", "'\\x00'", "{'descr': '<f4', 'fortran_order': False, 'shape': "
            "(6, 4), 'descr': '<f8'}", "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 4)}"
            " 1", "{1: 2}", "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 4), **{}}",
            "\"\"\"", "{'descr': '\u00e9', 'fortran_order': False, 'shape': (6, 4)}",
            "[" * 2000, "{" + "'a': 1, " * 2000 + "}",
        )
    ),
    "nopad=1", "cut=1", "cut=4", "cut=100000", "add=1", "add=4",
)
# fmt: on


def npy_bases() -> dict[str, Callable[[], Npy]]:
    rng = np.random.default_rng(19)
    f32 = rng.standard_normal((6, 4)).astype(np.float32)
    nan = f32.copy()
    nan[2] = np.nan
    arrays = {
        "f32": lambda: npy_of(f32),
        "f64-v2": lambda: npy_of(rng.standard_normal((3, 5)), (2, 0)),
        "f32-v3": lambda: npy_of(f32, (3, 0)),
        "f16-fortran": lambda: npy_of(f32.astype(np.float16), fortran=True),
        "f32-be": lambda: npy_of(f32.astype(">f4")),
        "i32": lambda: npy_of(np.arange(12, dtype=np.int32).reshape(3, 4)),
        "u8": lambda: npy_of(np.arange(12, dtype=np.uint8).reshape(4, 3)),
        "c64": lambda: npy_of(f32.astype(np.complex64)),
        "f128": lambda: npy_of(f32.astype(np.longdouble)),  # no torch dtype holds it
        "f32-1d": lambda: npy_of(f32.ravel()),
        "f32-nan-row": lambda: npy_of(nan),
        "f32-empty": lambda: npy_of(np.zeros((0, 4), np.float32)),
    }
    return arrays


NPY = Structured(npy_bases(), _NPY_EDITS, edit_npy, render_npy)


# --------------------------------------------------------------------------- counts .npz


@dataclass
class Npz:
    """A ``.npz`` as its members (name, npy) and the zip fields to patch after writing."""

    members: list[tuple[str, Npy]]
    method: int = zipfile.ZIP_STORED
    patches: tuple[tuple[str, int], ...] = ()


_ZIP_FIELDS = {  # field -> (offset in the local header, offset in the central header, format)
    "flags": (6, 8, "<H"),
    "method": (8, 10, "<H"),
    "crc": (14, 16, "<I"),
    "csize": (18, 20, "<I"),
    "usize": (22, 24, "<I"),
    "namelen": (26, 28, "<H"),
    "extralen": (28, 30, "<H"),
}
_EOCD_FIELDS = {"entries": (10, "<H"), "cdsize": (12, "<I"), "cdoffset": (16, "<I")}


def render_npz(npz: Npz) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=npz.method) as archive:
        for name, npy in npz.members:
            with archive.open(zipfile.ZipInfo(name), "w") as fh:
                fh.write(render_npy(npy))
    buf = bytearray(out.getvalue())
    eocd = buf.rfind(b"PK\x05\x06")
    (cd_offset,) = struct.unpack_from("<I", buf, eocd + 16)
    for field, value in npz.patches:  # "local0.crc", "central0.usize", "eocd.entries", ...
        where, _, name = field.partition(".")
        if where == "eocd":
            offset, fmt = _EOCD_FIELDS[name]
            pos = eocd + offset
        else:
            index = int(where.lstrip("alocentr"))
            cd = cd_offset
            for _ in range(index):  # walk the central directory to entry `index`
                n, m, k = struct.unpack_from("<HHH", buf, cd + 28)
                cd += 46 + n + m + k
            local, central, fmt = _ZIP_FIELDS[name]
            if where.startswith("local"):
                (header,) = struct.unpack_from("<I", buf, cd + 42)
                pos = header + local
            else:
                pos = cd + central
        struct.pack_into(fmt, buf, pos, value % 2 ** (8 * struct.calcsize(fmt)))
    return bytes(buf)


def edit_npz(npz: Npz, edit: str) -> Npz:
    key, value = _split(edit)
    members = list(npz.members)
    if key.startswith("npy:"):  # an edit of the counts array's own .npy
        members[0] = (members[0][0], edit_npy(members[0][1], edit[4:]))
    elif key == "name":
        members[0] = (value, members[0][1])
    elif key == "dup":  # a second member of the same name (other values)
        members.append((members[0][0], npy_of(np.arange(int(value), dtype=np.int64))))
    elif key == "method":
        return Npz(members, int(value), npz.patches)
    else:  # a zip field: local0.crc=123, both0.usize=..., eocd.entries=...
        if key.startswith("both"):
            rest = key[4:]
            fields = ((f"local{rest}", int(value)), (f"central{rest}", int(value)))
        else:
            fields = ((key, int(value)),)
        return Npz(members, npz.method, (*npz.patches, *fields))
    return Npz(members, npz.method, npz.patches)


# fmt: off
_NPZ_EDITS = (
    *(f"npy:{e}" for e in _NPY_EDITS),
    *(
        f"name={n}"
        for n in ("count.npy", "counts", "COUNTS.npy", "counts.npy/", "../counts.npy",
                  "dir/counts.npy", "counts.npy.npy", "")
    ),
    "dup=3", "dup=0",
    *(f"method={m}" for m in (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)),
    *(
        f"{where}0.{field}={v}"
        for where in ("both", "local", "central")
        for field, values in (
            ("flags", (1, 8, 0x41, 0x800, 65535)),
            ("method", (0, 1, 8, 12, 14, 99, 65535)),
            ("crc", (0, 1, 2**32 - 1)),
            ("csize", (0, 1, 100, 2**31, 2**32 - 1)),
            ("usize", (0, 1, 100, 2**31, 2**32 - 1)),
            ("namelen", (0, 1, 200, 65535)),
            ("extralen", (1, 4, 65535)),
        )
        for v in values
    ),
    *(f"eocd.{f}={v}" for f in ("entries", "cdsize", "cdoffset") for v in (0, 2, 65535, 2**32 - 1)),
)
# fmt: on


def npz_bases() -> dict[str, Callable[[], Npz]]:
    rng = np.random.default_rng(19)
    counts = rng.integers(0, 50, 10)
    return {
        "i64": lambda: Npz([("counts.npy", npy_of(counts))]),
        "f64-deflate": lambda: Npz(
            [("counts.npy", npy_of(counts.astype(np.float64)))], zipfile.ZIP_DEFLATED
        ),
        "u32-two": lambda: Npz(
            [("counts.npy", npy_of(counts.astype(np.uint32))), ("ids.npy", npy_of(counts[:3]))]
        ),
        "f32-v2": lambda: Npz([("counts.npy", npy_of(counts.astype(np.float32), (2, 0)))]),
    }


NPZ = Structured(npz_bases(), _NPZ_EDITS, edit_npz, render_npz)


# --------------------------------------------------------------------------- safetensors


@dataclass
class Safetensors:
    """A safetensors file: header (dict, or raw text), data, and length-prefix and size edits."""

    header: dict
    data: bytes
    raw: str | None = None
    length: int | None = None  # None: the true length
    cut: int = 0


def safetensors_of(tensors: dict, metadata: dict | None = None) -> Safetensors:
    import safetensors.torch

    blob = safetensors.torch.save(tensors, metadata=metadata)
    (n,) = struct.unpack("<Q", blob[:8])
    return Safetensors(json.loads(blob[8 : 8 + n]), blob[8 + n :])


def render_safetensors(st: Safetensors) -> bytes:
    text = (st.raw if st.raw is not None else json.dumps(st.header)).encode("utf-8", "replace")
    length = len(text) if st.length is None else st.length
    blob = struct.pack("<Q", length % 2**64) + text + st.data
    return blob[: len(blob) - st.cut] if st.cut else blob


def _tensor_names(header: dict) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def edit_safetensors(st: Safetensors, edit: str) -> Safetensors:
    key, value = _split(edit)
    header = json.loads(json.dumps(st.header))
    out = Safetensors(header, st.data, st.raw, st.length, st.cut)
    if key.startswith("t") and ":" in key:  # t0:dtype=..., t1:begin=-4, t0:rename=...
        index, _, field = key.partition(":")
        names = _tensor_names(header)
        name = names[int(index[1:]) % len(names)]
        entry = header[name]
        if field in ("begin", "end"):
            slot = 0 if field == "begin" else 1
            entry["data_offsets"][slot] += int(value)
        elif field == "reverse":
            entry["data_offsets"] = entry["data_offsets"][::-1]
        elif field == "del":
            entry.pop(value, None)
        elif field == "rename":
            header[json.loads(value)] = header.pop(name)
        elif field == "dupkey":  # the raw text with the key twice (the second one wins in json)
            text = json.dumps(header)
            twin = json.dumps({name: {**entry, **json.loads(value)}})[1:-1]
            out.raw = text[:-1] + ", " + twin + "}"
        else:
            entry[field] = json.loads(value)
    elif key == "meta":
        header["__metadata__"] = json.loads(value)
    elif key == "raw":
        out.raw = value
    elif key == "hlen":
        out.length = int(value)
    elif key == "hlen+":
        text = st.raw if st.raw is not None else json.dumps(st.header)
        out.length = len(text.encode()) + int(value)
    elif key == "pad":
        out.raw = (st.raw if st.raw is not None else json.dumps(header)) + " " * int(value)
    elif key == "cut":
        out.cut = int(value)
    elif key == "add":
        out.data = st.data + b"\x00" * int(value)
    return out


_BIG = (2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**15)
# fmt: off
_ST_EDITS = (
    *(
        f"t{t}:dtype={json.dumps(d)}"
        for t in (0, 1)
        for d in (
            "F32", "F16", "BF16", "F64", "I8", "U8", "BOOL", "I16", "U16", "I32", "U32", "I64",
            "U64", "C64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "f32", "", "X", 5,
            None, ["F32"],
        )
    ),
    *(
        f"t{t}:shape={s}"
        for t in (0, 1)
        for s in (
            "[]", "[24]", "[4, 6]", "[6, 4]", "[6, 4, 1]", "[-6, -4]", "[-1, -24]", "[6.0, 4]",
            "[true, 24]", "[1e15, 1]", "[0, 4]", "\"6,4\"", "null", "[[6], [4]]", "[1e400, 1]",
            *(f"[{n}, 1]" for n in _BIG), *(f"[{n}, {n}]" for n in _BIG), "[-9223372036854775808]",
        )
    ),
    *(
        f"t{t}:{f}={d}"
        for t in (0, 1)
        for f in ("begin", "end")
        for d in (-8, -4, -1, 1, 4, 8, 1000)
    ),
    *(
        f"t{t}:data_offsets={v}"
        for t in (0, 1)
        for v in (
            "[0, 0]", "[-1, 95]", "[0]", "[0, 96, 1]", "\"0-96\"", "null", "[0.0, 96.0]",
            "[0, 1e400]", "[0, 18446744073709551615]", "[0, 18446744073709551616]",
            "[18446744073709551615, 18446744073709551615]", "[9223372036854775807, 0]",
        )
    ),
    "t0:reverse=1", "t1:reverse=1", "t0:del=dtype", "t0:del=shape", "t0:del=data_offsets",
    "t0:extra=1", "t0:rename=\"\"", "t0:rename=\"__metadata__\"", "t0:rename=\"lm_head.weight\"",
    "t0:rename=\"output.weight\"", "t1:rename=\"lm_head.weight\"", "t0:rename=\"\\ud800\"",
    "t0:rename=\"\\u00e9\"", "t0:dtype=\"F32\\ud800\"", "meta={\"format\": \"\\udc00\"}",
    "t0:dupkey={\"dtype\": \"F16\"}", "t0:dupkey={\"shape\": [1, 1]}",
    *(
        f"meta={m}"
        for m in ("{}", "null", "[]", "1", "\"pt\"", "{\"format\": 1}", "{\"format\": null}",
                  "{\"a\": {\"b\": \"c\"}}", "{\"format\": \"pt\", \"x\": [1]}")
    ),
    *(
        f"raw={r}"
        for r in ("{}", "[]", "null", "1", "\"x\"", "{", "{\"a\": 1}", "{\"a\": []}",
                  "[" * 5000 + "]" * 5000, "{\"a\":" * 3000 + "1" + "}" * 3000,
                  "{\"\\ud800\": 1}", "\ufeff{}")
    ),
    *(f"hlen={n}" for n in (0, 1, 7, 8, 100 * 2**20, 100 * 2**20 + 1, *_BIG, 2**64 - 1)),
    *(f"hlen+={d}" for d in (-8, -1, 1, 8)),
    *(f"pad={n}" for n in (1, 3)),
    *(f"cut={n}" for n in (1, 2, 4, 24, 96, 10000)),
    "add=1", "add=8",
)
# fmt: on


def safetensors_bases() -> dict[str, Callable[[], Safetensors]]:
    import torch

    gen = torch.Generator().manual_seed(19)
    f32 = torch.randn(6, 4, generator=gen)
    return {
        "f32": lambda: safetensors_of({"lm_head.weight": f32}, {"format": "pt"}),
        "f16-two": lambda: safetensors_of(
            {"lm_head.weight": f32.half(), "model.norm.weight": f32[0].half()}
        ),
        "bf16": lambda: safetensors_of({"lm_head.weight": f32.bfloat16()}),
        "gpt2-tied": lambda: safetensors_of({"wte.weight": f32, "wpe.weight": f32[:3].clone()}),
        "i64-extra": lambda: safetensors_of(
            {"ids": torch.arange(3), "lm_head.weight": f32.double()}, {"format": "pt"}
        ),
    }


SAFETENSORS = Structured(safetensors_bases(), _ST_EDITS, edit_safetensors, render_safetensors)


# --------------------------------------------------------------------------- GGUF


class _GgufWriter:
    """A GGUF file written field by field, each field's position kept under a label."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.fields: dict[str, tuple[int, str]] = {}

    def put(self, label: str, fmt: str, value: object) -> None:
        self.fields[label] = (len(self.buf), fmt)
        self.buf += struct.pack(fmt, value)

    def string(self, label: str, text: str) -> None:
        raw = text.encode()
        self.put(f"{label}.len", "<Q", len(raw))
        self.buf += raw


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                 10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip


@dataclass
class Gguf:
    """A GGUF file's content (key-values and tensors) and the field patches to apply."""

    kvs: list[tuple[str, int, object]]  # key, value type, value (type 9: (item type, items))
    tensors: list[tuple[str, int, tuple[int, ...], bytes]]  # name, ggml type, dims (ne0..), data
    version: int = 3
    alignment: int = 32
    patches: tuple[tuple[str, int], ...] = ()


def _kv_value(w: _GgufWriter, label: str, vtype: int, value: object) -> None:
    if vtype == 8:
        w.string(label, str(value))
    elif vtype == 9:
        item_type, items = value
        w.put(f"{label}.arrtype", "<I", item_type)
        w.put(f"{label}.arrlen", "<Q", len(items))
        for j, item in enumerate(items):
            _kv_value(w, f"{label}.item{j}", item_type, item)
    else:
        w.put(label, _GGUF_SCALARS[vtype], value)


def render_gguf(g: Gguf) -> bytes:
    w = _GgufWriter()
    w.buf += b"GGUF"
    w.put("version", "<I", g.version)
    w.put("n_tensors", "<Q", len(g.tensors))
    w.put("n_kv", "<Q", len(g.kvs))
    for k, (key, vtype, value) in enumerate(g.kvs):
        w.string(f"kv{k}.key", key)
        w.put(f"kv{k}.type", "<I", vtype)
        _kv_value(w, f"kv{k}.value", vtype, value)
    offset = 0
    for t, (name, ggml_type, dims, data) in enumerate(g.tensors):
        w.string(f"t{t}.name", name)
        w.put(f"t{t}.ndims", "<I", len(dims))
        for i, d in enumerate(dims):
            w.put(f"t{t}.dim{i}", "<Q", d)
        w.put(f"t{t}.type", "<I", ggml_type)
        w.put(f"t{t}.offset", "<Q", offset)
        offset += len(data) + (-len(data) % g.alignment)
    w.buf += b"\0" * (-len(w.buf) % g.alignment)
    for _, _, _, data in g.tensors:
        w.buf += data + b"\0" * (-len(data) % g.alignment)
    cuts = [value for label, value in g.patches if label == "cut"]
    for label, value in g.patches:  # fields first, then the cuts (positions stay valid)
        if label in w.fields:
            pos, fmt = w.fields[label]
            bits = 8 * struct.calcsize(fmt)
            value %= 2**bits
            if fmt[1].islower() and value >= 2 ** (bits - 1):
                value -= 2**bits
            struct.pack_into(fmt, w.buf, pos, float(value) if fmt[1] in "fd" else value)
    for value in cuts:
        del w.buf[max(0, len(w.buf) - value) :]
    return bytes(w.buf)


def edit_gguf(g: Gguf, edit: str) -> Gguf:
    key, value = _split(edit)
    if key == "align":  # the general.alignment value, kept consistent with the layout
        kvs = [(k, t, int(value) if k == "general.alignment" else v) for k, t, v in g.kvs]
        return Gguf(kvs, g.tensors, g.version, g.alignment, g.patches)
    if key == "version":
        return Gguf(g.kvs, g.tensors, int(value), g.alignment, g.patches)
    return Gguf(g.kvs, g.tensors, g.version, g.alignment, (*g.patches, (key, int(value))))


_COUNTS = (0, 1, 2, 3, 5, 100, 2**31 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 10**15, -1)
# fmt: off
_GGUF_EDITS = (
    *(f"version={v}" for v in (0, 1, 2, 4, 2**31, 2**32 - 1, 0x03000000)),
    *(f"n_tensors={v}" for v in _COUNTS),
    *(f"n_kv={v}" for v in _COUNTS),
    *(f"kv{k}.key.len={v}" for k in (0, 1) for v in (0, 1, 1000, 2**32, 2**63, 2**64 - 1)),
    *(f"kv{k}.type={v}" for k in (0, 1, 2, 3) for v in (0, 4, 6, 7, 8, 9, 10, 12, 13, 255, 2**31)),
    *(f"kv0.value.len={v}" for v in (0, 1, 6, 100, 2**32, 2**63, 2**64 - 1)),
    *(f"kv2.value.arrtype={v}" for v in (0, 4, 8, 9, 13, 2**32 - 1)),
    *(f"kv2.value.arrlen={v}" for v in (0, 1, 3, 4, 1000, 2**32, 2**63, 2**64 - 1)),
    *(f"kv2.value.item0.len={v}" for v in (0, 2, 1000, 2**63, 2**64 - 1)),
    *(f"kv3.value={v}" for v in (0, 1, 3, 16, 64, 2**31, 2**32 - 1)),
    *(f"t{t}.name.len={v}" for t in (0, 1) for v in (0, 1, 100, 2**32, 2**64 - 1)),
    *(f"t{t}.ndims={v}" for t in (0, 1) for v in (0, 1, 3, 4, 5, 100, 2**31, 2**32 - 1)),
    *(
        f"t{t}.dim{i}={v}"
        for t in (0, 1)
        for i in (0, 1)
        for v in (0, 1, 2, 3, 31, 33, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 10**15)
    ),
    *(
        f"t{t}.type={v}"
        for t in (0, 1)
        for v in (0, 1, 2, 4, 5, 8, 10, 14, 24, 27, 28, 30, 31, 36, 39, 41, 42, 255, 2**31)
    ),
    *(f"t{t}.offset={v}" for t in (0, 1) for v in (0, 1, 31, 32, 64, 128, 2**31, 2**63, 2**64 - 1)),
    *(f"align={v}" for v in (0, 1, 3, 16, 64, 2**31)),
    *(f"cut={n}" for n in (1, 4, 32, 128, 256, 100000)),
)
# fmt: on


def gguf_bases() -> dict[str, Callable[[], Gguf]]:
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    rng = np.random.default_rng(19)
    head = rng.standard_normal((8, 4)).astype(np.float32)
    wide = rng.standard_normal((4, 32)).astype(np.float32)

    def meta(*extra: tuple[str, int, object]) -> list[tuple[str, int, object]]:
        return [
            ("general.architecture", 8, "llama"),
            ("llama.embedding_length", 4, 4),
            ("tokenizer.ggml.tokens", 9, (8, ["a", "bb", "<s>"])),
            ("general.alignment", 4, 32),
            *extra,
        ]

    def q8(array: np.ndarray) -> bytes:
        return bytes(quants.quantize(array, Q.Q8_0))

    return {
        "untied": lambda: Gguf(
            meta(),
            [
                ("output.weight", Q.F32, (4, 8), head.tobytes()),
                ("token_embd.weight", Q.F16, (4, 8), head.astype(np.float16).tobytes()),
                ("output_norm.weight", Q.F32, (4,), head[0].tobytes()),
            ],
        ),
        "tied-q8": lambda: Gguf(
            meta(),
            [
                ("token_embd.weight", Q.Q8_0, (32, 4), q8(wide)),
                ("output_norm.weight", Q.F32, (32,), wide[0].tobytes()),
            ],
        ),
        "f16-v2": lambda: Gguf(
            meta(("llama.block_count", 4, 1)),
            [
                ("output.weight", Q.F16, (4, 8), head.astype(np.float16).tobytes()),
                ("blk.0.attn_q.weight", Q.F32, (4, 4), head[:4].tobytes()),
            ],
            version=2,
        ),
        "align64-f64": lambda: edit_gguf(
            Gguf(
                meta(),
                [
                    ("output.weight", Q.F64, (4, 8), head.astype(np.float64).tobytes()),
                    ("x", Q.I8, (3,), b"\1\2\3"),
                ],
                alignment=64,
            ),
            "align=64",
        ),
    }


GGUF = Structured(gguf_bases(), _GGUF_EDITS, edit_gguf, render_gguf)
