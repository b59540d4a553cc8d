"""What every chunked pass of the engine shares: row blocks (with a progress bar on long steps)
and float32 products at full precision (TF32 off).

Example:
    >>> import torch
    >>> with full_precision():
    ...     torch.backends.cuda.matmul.allow_tf32
    False
    >>> list(chunks(5, 2))
    [(0, 2), (2, 4), (4, 5)]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..progress import progress_bar


@contextmanager
def full_precision() -> Iterator[None]:
    """Disable TF32 (and reduced-precision float32 matmuls) inside the block."""
    cuda_tf32 = torch.backends.cuda.matmul.allow_tf32
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = cuda_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.set_float32_matmul_precision(precision)


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of ``size`` rows out of ``n``.

    Example:
        >>> list(chunks(5, 2))
        [(0, 2), (2, 4), (4, 5)]
    """
    for start in range(0, n, size):
        yield start, min(n, start + size)


def progress_chunks(
    n: int, size: int, desc: str | None, progress: bool | None
) -> Iterator[tuple[int, int]]:
    """:func:`chunks` with a row-count progress bar that appears only on long steps."""
    if desc is None or progress is False:
        yield from chunks(n, size)
        return
    with progress_bar(n, desc, progress=progress) as bar:
        for start, stop in chunks(n, size):
            yield start, stop
            bar.update(stop - start)
