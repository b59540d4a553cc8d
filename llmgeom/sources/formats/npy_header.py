"""The header of a stranger's ``.npy`` array (a file, or a member of a ``.npz``), read before its
data: what numpy's header parser raises on a malformed one, and how many bytes it announces.

numpy documents ``ValueError`` for a bad header, but a malformed one also escapes as a
``tokenize.TokenError`` (the Python 2 header filter), a ``RecursionError`` (a literal nested too
deep for ``ast``), a ``SyntaxError`` (a descr such as ``',f4'``, which numpy reads with ``ast``),
an ``OverflowError`` or ``TypeError`` (a shape entry beyond a C long, or a bool) and
``EOFError``: :data:`HEADER_ERRORS` lists them for the callers' one-line errors. A
header announcing 10^15 elements would make numpy allocate them before reading a member of a
``.npz`` (:func:`announced_nbytes` lets the caller compare with what the member holds first).

Example:
    >>> import io, numpy as np
    >>> buffer = io.BytesIO()
    >>> np.save(buffer, np.zeros((3, 2), dtype=np.float32))
    >>> _ = buffer.seek(0)
    >>> announced_nbytes(buffer), buffer.tell()
    (24, 128)
"""

from __future__ import annotations

import math
import tokenize
from typing import IO

import numpy as np

HEADER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    EOFError,
    OverflowError,
    TypeError,
    RecursionError,
    SyntaxError,
    tokenize.TokenError,
)

# format 3.0 is 2.0 with a UTF-8 header; numpy has no public reader of its own for it
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
    (3, 0): np.lib.format.read_array_header_2_0,
}


def announced_nbytes(fp: IO[bytes]) -> int:
    """Bytes of array data the ``.npy`` header at ``fp`` announces (``fp`` is left at the data).

    Raises one of :data:`HEADER_ERRORS` for a malformed header or an unknown format version.

    Example:
        >>> import io
        >>> announced_nbytes(io.BytesIO(b"\\x93NUMPY\\x09\\x00"))
        Traceback (most recent call last):
        ...
        ValueError: unknown .npy format version 9.0
    """
    version = np.lib.format.read_magic(fp)
    if version not in _HEADER_READERS:
        raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
    shape, _fortran_order, dtype = _HEADER_READERS[version](fp)
    return math.prod(shape) * dtype.itemsize
