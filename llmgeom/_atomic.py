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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot write into {target.parent}: it is not a directory") from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
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
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"{path}: not a readable {what} ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
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
