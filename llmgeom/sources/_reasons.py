"""One-line reasons for our errors around third-party exceptions (``f"{path}: ... ({reason})"``):
no file name again, no library advice that does not apply (numpy's "load it unsafely").

Example:
    >>> short_reason(RuntimeError("PytorchStreamReader failed: bad zip. If you are seeing this, "
    ...                           "the file is corrupted."))
    'PytorchStreamReader failed: bad zip'
    >>> short_reason(OSError(13, "Permission denied", "/tmp/x.bin"))
    'Permission denied'
"""

from __future__ import annotations

import re

from ..errors import one_line

_MAX_CHARS = 200


def short_reason(err: BaseException, max_chars: int = _MAX_CHARS) -> str:
    """The first sentence of ``err`` on one line, without a file name (OS errors: strerror)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = one_line(str(err))
    first = re.split(r"(?<=[a-z0-9)\]])\. (?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    if len(first) > max_chars:
        first = first[: max_chars - 3].rstrip() + "..."
    return first or type(err).__name__
