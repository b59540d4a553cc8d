"""Short, one-line reasons for error messages built around third-party exceptions.

Library errors name the file once (``f"{path}: ..."``); the reason in parentheses must then not
repeat it, must fit on one line, and must not carry a library's advice that does not apply to
llmgeom (numpy's "load it unsafely", torch's paragraph about miniz).

Example:
    >>> short_reason(RuntimeError("PytorchStreamReader failed: bad zip. If you are seeing this, "
    ...                           "the file is corrupted."))
    'PytorchStreamReader failed: bad zip'
    >>> short_reason(OSError(13, "Permission denied", "/tmp/x.bin"))
    'Permission denied'
"""

from __future__ import annotations

import re

_MAX_CHARS = 200


def short_reason(err: BaseException, max_chars: int = _MAX_CHARS) -> str:
    """The first sentence of ``err`` on one line, without a file name (OS errors: strerror)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = " ".join(str(err).split())
    first = re.split(r"(?<=[a-z0-9)\]])\. (?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    if len(first) > max_chars:
        first = first[: max_chars - 3].rstrip() + "..."
    return first or type(err).__name__
