"""A read-only, seekable file whose bytes come from a range-read callable (HTTP range requests).

``zipfile`` and ``torch.load`` want a seekable file; the Hub serves byte ranges. This adapter turns
the many small reads those readers make into a few aligned block fetches, and counts them.

Example:
    >>> data = bytes(range(10))
    >>> RangeFile(len(data), lambda a, b: data[a:b], block_bytes=4).read(3)
    b'\\x00\\x01\\x02'
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..errors import LlmgeomError
from .torch_zip import ZipLayoutError

BLOCK_BYTES = 64 * 1024  # RangeFile fetches aligned blocks of this size (tests shrink it)
MAX_CACHED_BLOCKS = 64  # at most 4 MiB of cached blocks per RangeFile


class RangeFile(io.RawIOBase):
    """A read-only, seekable file of ``size`` bytes whose bytes come from ``read_range``.

    ``read_range(start, stop)`` must return exactly the bytes ``[start, stop)``. Reads are served
    from aligned blocks of ``block_bytes`` (the missing blocks of one read are fetched with ONE
    call), so the many small reads ``zipfile`` makes become a few range requests. Reads of four
    blocks or more bypass the cache unless it holds all their blocks. ``calls`` and
    ``bytes_fetched`` count what was asked.

    Example:
        >>> data = bytes(range(256)) * 4
        >>> f = RangeFile(len(data), lambda a, b: data[a:b], block_bytes=100)
        >>> _ = f.seek(150); f.read(4) == data[150:154], f.calls, f.bytes_fetched
        (True, 1, 100)
        >>> _ = f.seek(-2, io.SEEK_END); f.read(), f.calls
        (b'\\xfe\\xff', 2)
    """

    def __init__(
        self,
        size: int,
        read_range: Callable[[int, int], bytes],
        *,
        block_bytes: int | None = None,
        max_blocks: int = MAX_CACHED_BLOCKS,
    ) -> None:
        super().__init__()
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self._read_range = read_range
        self.block_bytes = int(block_bytes or BLOCK_BYTES)
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.calls = 0
        self.bytes_fetched = 0
        self.failure: LlmgeomError | None = None  # the first error read_range raised

    # -- io.RawIOBase -------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        pos = base + offset
        if pos < 0:
            raise OSError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.size - self._pos))
        if n:
            view[:n] = self.pread(self._pos, n)
            self._pos += n
        return n

    # -- reads ----------------------------------------------------------------------------------
    def _fetch(self, start: int, stop: int) -> bytes:
        try:
            data = self._read_range(start, stop)
        except LlmgeomError as err:  # kept: zipfile would hide an OSError as "not a zip file"
            self.failure = err
            raise
        self.calls += 1
        self.bytes_fetched += len(data)
        if len(data) != stop - start:
            raise ZipLayoutError(f"short read: asked bytes [{start}, {stop}), got {len(data)}")
        return bytes(data)

    def cached(self, start: int, stop: int) -> bytes | None:
        """Bytes ``[start, stop)`` if the cached blocks hold all of them (no fetch), else None.

        Example:
            >>> f = RangeFile(10, lambda a, b: b"0123456789"[a:b], block_bytes=4)
            >>> f.cached(0, 3), f.pread(0, 2), f.cached(1, 3), f.calls
            (None, b'01', b'12', 1)
        """
        stop = min(stop, self.size)
        if stop <= start:
            return b""
        size = self.block_bytes
        first, last = start // size, (stop - 1) // size
        if any(b not in self._blocks for b in range(first, last + 1)):
            return None
        joined = b"".join(self._blocks[b] for b in range(first, last + 1))
        return joined[start - first * size : stop - first * size]

    def pread(self, start: int, n: int) -> bytes:
        """``n`` bytes from ``start`` (clipped at the end of the file), cached by block."""
        stop = min(self.size, start + n)
        if stop <= start:
            return b""
        size = self.block_bytes
        first, last = start // size, (stop - 1) // size
        if last - first + 1 >= 4:  # big read: from the cache if all there, else straight through
            hit = self.cached(start, stop)
            return hit if hit is not None else self._fetch(start, stop)
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if missing:  # one call for the run from the first to the last missing block
            lo, hi = missing[0] * size, min(self.size, (missing[-1] + 1) * size)
            data = self._fetch(lo, hi)
            for b in range(missing[0], missing[-1] + 1):
                self._blocks[b] = data[b * size - lo : (b + 1) * size - lo]
        parts = []
        for b in range(first, last + 1):
            self._blocks.move_to_end(b)
            parts.append(self._blocks[b])
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)
        joined = b"".join(parts)
        return joined[start - first * size : stop - first * size]
