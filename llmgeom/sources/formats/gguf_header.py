"""The key-value section of a stranger's GGUF header, checked before ``gguf.GGUFReader`` reads it.

The reader loops once per element of an array value and, past the end of the file, reads empty
views without failing: an array of scalars announcing 2**63 elements never ends. The walk here
follows the same layout (magic, version, tensor and key-value counts; per key a string, a type
code and a value; strings and arrays prefixed by 64-bit lengths) and says what cannot be:
a length or count that runs past the end of the file, an unknown type code, arrays nested
deeper than any metadata needs.

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

import struct

# value type code -> bytes (GGUF's UINT8 .. FLOAT64 scalars); 8: string, 9: array
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
MAX_ARRAY_DEPTH = 8


class _Invalid(Exception):
    pass


class _Walk:
    def __init__(self, data: bytes | memoryview, order: str) -> None:
        self.data, self.order, self.at = data, order, 0

    def take(self, n: int, what: str) -> int:
        if n > len(self.data) - self.at:
            raise _Invalid(f"{what} runs past the end of the file")
        start, self.at = self.at, self.at + n
        return start

    def integer(self, fmt: str, what: str) -> int:
        return struct.unpack_from(
            self.order + fmt, self.data, self.take(struct.calcsize(fmt), what)
        )[0]

    def value(self, vtype: int, depth: int = 0) -> None:
        if vtype in _SCALAR_BYTES:
            self.take(_SCALAR_BYTES[vtype], "a value")
        elif vtype == _STRING:
            self.take(self.integer("Q", "a string length"), "a string")
        elif vtype == _ARRAY:
            if depth >= MAX_ARRAY_DEPTH:
                raise _Invalid(f"arrays nested more than {MAX_ARRAY_DEPTH} deep")
            item_type = self.integer("I", "an array's type")
            length = self.integer("Q", "an array's length")
            if item_type in _SCALAR_BYTES:  # all at once: the reader would loop `length` times
                size = _SCALAR_BYTES[item_type]
                what = f"an array of {length} {'one-byte' if size == 1 else f'{size}-byte'} values"
                self.take(length * size, what)
            else:  # strings and arrays take 8 bytes or more each: the walk ends with the file
                for _ in range(length):
                    self.value(item_type, depth + 1)
        else:
            raise _Invalid(f"unknown value type {vtype}")


def metadata_problem(data: bytes | memoryview) -> str | None:
    """Why the key-value section of the GGUF file ``data`` cannot be read, or None.

    The byte order is the reader's guess: a version whose low 16 bits are zero when read little
    endian is a big-endian file.
    """
    walk = _Walk(data, "<")
    try:
        walk.take(4, "the magic number")
        if walk.integer("I", "the version") & 0xFFFF == 0:
            walk.order = ">"
        walk.integer("Q", "the tensor count")
        kv_count = walk.integer("Q", "the key-value count")
        for k in range(kv_count):  # each key takes 12 bytes or more: ends with the file
            try:
                walk.take(walk.integer("Q", "a key's length"), "a key")
                walk.value(walk.integer("I", "a value's type"))
            except _Invalid as err:
                raise _Invalid(f"key {k}: {err}") from None
    except _Invalid as err:
        return str(err)
    return None
