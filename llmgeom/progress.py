"""Progress bars with ETA for long steps, quiet for short ones.

A bar appears only once its step has lasted :data:`DELAY_S` seconds, and only on a terminal
unless asked for. ``progress=True``/``False`` forces it on or off; ``None`` follows the
setting of the enclosing :func:`progress_setting` block (``llmgeom.measure(progress=...)``
opens one, so loaders deep inside obey ``--no-progress`` too), else the terminal rule.

Example:
    >>> with progress_setting(False):
    ...     bar = progress_bar(10, "reading")
    >>> bar.disable
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm.auto import tqdm

DELAY_S = 2.0  # a bar appears only for steps that last longer than this

_SHOW: ContextVar[bool | None] = ContextVar("llmgeom_progress", default=None)


@contextmanager
def progress_setting(show: bool | None) -> Iterator[None]:
    """Within the block, bars created with ``progress=None`` follow ``show``."""
    token = _SHOW.set(show)
    try:
        yield
    finally:
        _SHOW.reset(token)


def progress_bar(
    total: float | None, desc: str, *, unit: str = "row", progress: bool | None = None
) -> tqdm:
    """A ``tqdm`` bar (use it as a context manager) that shows after :data:`DELAY_S` seconds."""
    show = _SHOW.get() if progress is None else progress
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        leave=False,
        delay=DELAY_S,
        disable=None if show is None else not show,
    )
