"""The key-value section of a stranger's GGUF header, checked before ``gguf.GGUFReader`` reads it.

The reader loops once per element of an array value and, past the end of the file, reads empty
views without failing: an array of scalars announcing 2**63 elements never ends. The walk here
follows the same layout (magic, version, tensor and key-value counts; per key a string, a type
code and a value; strings and arrays prefixed by 64-bit lengths) and names what the reader would
not get through: such an array, or arrays nested deeper than any metadata needs. A field that
ends early or an unknown type code stops the walk: the reader fails on those itself.

Example:
    >>> import struct
    >>> header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    >>> key = struct.pack("<Q", 1) + b"k" + struct.pack("<I", 9)    # an array value
    >>> metadata_problem(header + key + struct.pack("<IQ", 0, 2**63) + b"\\0" * 8)
    'key 0: an array of 9223372036854775808 one-byte values runs past the end of the file'
    >>> metadata_problem(header + key + struct.pack("<IQ", 0, 8) + b"\\0" * 8) is None
    True
"""

from __future__ import annotations

import mmap
import struct

# value type code -> bytes (GGUF's UINT8 .. FLOAT64 scalars); 8: string, 9: array
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
MAX_ARRAY_DEPTH = 8


class _Invalid(Exception):
    pass


class _EndsEarly(Exception):
    pass


class _Walk:
    def __init__(self, data: bytes | memoryview | mmap.mmap, order: str) -> None:
        self.data, self.order, self.at = data, order, 0

    def take(self, n: int) -> int:
        if n > len(self.data) - self.at:
            raise _EndsEarly
        start, self.at = self.at, self.at + n
        return start

    def integer(self, fmt: str) -> int:
        return struct.unpack_from(self.order + fmt, self.data, self.take(struct.calcsize(fmt)))[0]

    def value(self, vtype: int, depth: int = 0) -> None:
        if vtype in _SCALAR_BYTES:
            self.take(_SCALAR_BYTES[vtype])
        elif vtype == _STRING:
            self.take(self.integer("Q"))
        elif vtype == _ARRAY:
            if depth >= MAX_ARRAY_DEPTH:
                raise _Invalid(f"arrays nested more than {MAX_ARRAY_DEPTH} deep")
            item_type, length = self.integer("I"), self.integer("Q")
            if item_type in _SCALAR_BYTES:  # the reader loops `length` times, past the end too
                size = _SCALAR_BYTES[item_type]
                if length * size > len(self.data) - self.at:
                    unit = "one-byte" if size == 1 else f"{size}-byte"
                    raise _Invalid(
                        f"an array of {length} {unit} values runs past the end of the file"
                    )
                self.take(length * size)
            else:  # strings and arrays take 8 bytes or more each: the walk ends with the file
                for _ in range(length):
                    self.value(item_type, depth + 1)
        else:
            raise _EndsEarly  # an unknown type code: the reader refuses it itself


def metadata_problem(data: bytes | memoryview | mmap.mmap) -> str | None:
    """Why ``gguf.GGUFReader`` would not get through the key-value section of the GGUF file
    ``data``, or None (it will, or it fails on its own: a field that ends early, an unknown
    type code).

    The byte order is the reader's guess: a version whose low 16 bits are zero when read little
    endian is a big-endian file.
    """
    walk = _Walk(data, "<")
    try:
        walk.take(4)  # the magic number
        if walk.integer("I") & 0xFFFF == 0:
            walk.order = ">"
        _tensor_count, kv_count = walk.integer("Q"), walk.integer("Q")
        for k in range(kv_count):  # each key takes 12 bytes or more: ends with the file
            try:
                walk.take(walk.integer("Q"))  # the key
                walk.value(walk.integer("I"))
            except _Invalid as err:
                raise _Invalid(f"key {k}: {err}") from None
    except _Invalid as err:
        return str(err)
    except _EndsEarly:
        return None
    return None
