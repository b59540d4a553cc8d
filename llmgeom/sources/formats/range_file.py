"""A read-only, seekable file whose bytes come by HTTP range requests (a range-read callable).

``zipfile`` wants a seekable file, the Hub serves byte ranges: this adapter turns its many small
reads into a few aligned block fetches, and counts them (example: :class:`RangeFile`).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ...errors import LlmgeomError
from .torch_zip import ZipLayoutError

BLOCK_BYTES = 64 * 1024  # RangeFile fetches aligned blocks of this size (tests shrink it)
MAX_CACHED_BLOCKS = 64  # at most 4 MiB of cached blocks per RangeFile


class RangeFile(io.RawIOBase):
    """A read-only, seekable file of ``size`` bytes; ``read_range(start, stop)`` gives them.

    Reads are served from aligned blocks of ``block_bytes`` (the missing blocks of one read come
    in ONE call); reads of four blocks or more bypass the cache unless it holds them all.
    ``calls`` and ``bytes_fetched`` count what was asked; ``failure`` keeps the last error of
    ``read_range`` (zipfile would hide it as "not a zip file").

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
        self.failure: LlmgeomError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

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

    def _fetch(self, start: int, stop: int) -> bytes:
        try:
            data = self._read_range(start, stop)
        except LlmgeomError as err:
            self.failure = err
            raise
        self.calls += 1
        self.bytes_fetched += len(data)
        if len(data) != stop - start:
            raise ZipLayoutError(f"short read: asked bytes [{start}, {stop}), got {len(data)}")
        return bytes(data)

    def _blocks_of(self, start: int, stop: int) -> range:
        return range(start // self.block_bytes, (stop - 1) // self.block_bytes + 1)

    def _join(self, blocks: range, start: int, stop: int) -> bytes:
        first = blocks[0] * self.block_bytes
        return b"".join(self._blocks[b] for b in blocks)[start - first : stop - first]

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
        blocks = self._blocks_of(start, stop)
        return self._join(blocks, start, stop) if set(blocks) <= self._blocks.keys() else None

    def pread(self, start: int, n: int) -> bytes:
        """``n`` bytes from ``start`` (clipped at the end of the file), cached by block."""
        stop = min(self.size, start + n)
        if stop <= start:
            return b""
        blocks, size = self._blocks_of(start, stop), self.block_bytes
        if len(blocks) >= 4:  # big read: from the cache if all there, else straight through
            hit = self.cached(start, stop)
            return hit if hit is not None else self._fetch(start, stop)
        missing = [b for b in blocks if b not in self._blocks]
        if missing:  # one call for the run from the first to the last missing block
            lo, hi = missing[0] * size, min(self.size, (missing[-1] + 1) * size)
            data = self._fetch(lo, hi)
            for b in range(missing[0], missing[-1] + 1):
                self._blocks[b] = data[b * size - lo : (b + 1) * size - lo]
        for b in blocks:
            self._blocks.move_to_end(b)
        joined = self._join(blocks, start, stop)
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)
        return joined
