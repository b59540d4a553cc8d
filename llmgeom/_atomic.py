"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or an error half-way never leaves a half-written result or cache entry.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "x.txt").read_text()
    'done'
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ConfigError

# Like tempfile's: a new file only (never an existing one or a symlink's target), binary on Windows
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)
_ATTEMPTS = 100


_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{8}\.tmp$")


def interrupted_write(name: str) -> str | None:
    """The file whose write a temporary file named ``name`` was (``.NAME.RANDOM.tmp``, made by
    :func:`atomic_path`); None for any other name. Such a file outlives only a write cut short
    (the process killed): the target was never replaced, the file may be deleted.

    Example:
        >>> interrupted_write(".w8.raw.json.1a2b3c4d.tmp"), interrupted_write("w8.raw.json")
        ('w8.raw.json', None)
    """
    match = _TEMP_NAME.match(name)
    return match.group("target") if match else None


def _create_beside(target: Path) -> Path:
    """A new empty file ``.NAME.RANDOM.tmp`` in ``target``'s folder, of mode ``0o666 & ~umask``
    like any file ``open`` creates: the process umask applies, and is never changed (changing
    it, even for a moment, would race with files other threads create)."""
    for _ in range(_ATTEMPTS):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{target.parent}: no free temporary name after {_ATTEMPTS} attempts")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot write into {target.parent}: it is not a directory") from None
    tmp = _create_beside(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(target: str | os.PathLike[str], payload: Any) -> Path:
    """Serialise ``payload`` as indented JSON to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return Path(target)


def ensure_writable_dir(folder: str | os.PathLike[str]) -> Path:
    """Prove that files can be written into ``folder`` (created later if missing); else
    ConfigError.

    Called before long work so that an unwritable ``--out`` fails in a second, not after the
    computation. Nothing is left behind: the probe file goes into ``folder`` or, while it does
    not exist yet, into its nearest existing parent, and is removed at once.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "new" / "results"
        >>> ensure_writable_dir(d) == d, d.exists()
        (True, False)
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot write into {folder}: {existing} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".llmgeom-write-check.", dir=existing)
    except OSError as err:
        raise ConfigError(f"cannot write into {folder}: {err.strerror or err}") from None
    os.close(fd)
    os.unlink(probe)
    return folder


#: The most digits an integer of a JSON record may have: beyond a float's range (1.8e308) no
#: number of a record can be computed with, and beyond 4300 :func:`int` refuses the text.
MAX_INT_DIGITS = 308


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def parse_json(text: str) -> Any:
    """``json.loads(text)``, with every way it can fail a :class:`ValueError`: malformed JSON,
    an integer of more than :data:`MAX_INT_DIGITS` digits, arrays or objects nested deeper than
    the parser follows (a :class:`RecursionError` otherwise).

    Example:
        >>> parse_json('{"a": [1, NaN]}')
        {'a': [1, nan]}
        >>> parse_json("[" * 100000)
        Traceback (most recent call last):
        ...
        ValueError: arrays or objects nested too deeply
    """
    try:
        return json.loads(text, parse_int=_int)
    except RecursionError:
        raise ValueError("arrays or objects nested too deeply") from None


def read_json(path: str | os.PathLike[str], what: str, error: type[Exception] = ConfigError) -> Any:
    """The JSON in ``path``; an unreadable or malformed file is one ``error`` line naming it.

    Example:
        >>> _ = Path("bad.json").write_text("{")
        >>> read_json("bad.json", "loss record")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: bad.json: not a readable loss record (Expecting ...)
    """
    try:
        return parse_json(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"{path}: not a readable {what} ({err.strerror})") from None
    except ValueError as err:  # malformed JSON, not UTF-8, too deep, a number too long
        raise error(f"{path}: not a readable {what} ({err})") from None


def read_schema_json(
    path: str | os.PathLike[str], schema: str, what: str, error: type[Exception] = ConfigError
) -> dict[str, Any]:
    """:func:`read_json` of a JSON object whose ``schema`` field must be ``schema``.

    Example:
        >>> _ = Path("r.json").write_text('{"schema": "x/1"}')
        >>> read_schema_json("r.json", "x/1", "x record")
        {'schema': 'x/1'}
        >>> read_schema_json("r.json", "y/1", "y record")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: r.json: not an llmgeom y record (schema y/1 expected)
    """
    doc = read_json(path, what, error)
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        raise error(f"{path}: not an llmgeom {what} (schema {schema} expected)")
    return doc
