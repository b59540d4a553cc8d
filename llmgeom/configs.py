"""Locate the data files shipped in ``configs/`` (model registry, reference tables, presets),
and read a TOML config file (:func:`read_toml_file`: the sweep's and the toy experiments').

In a source checkout or an editable install they live in the repository's ``configs/``; in a
wheel they are packaged as ``llmgeom/_configs``.

Example:
    >>> config_path("models.csv").name
    'models.csv'
    >>> parse_toml("a = [[[1]]]", "x.toml")
    {'a': [[[1]]]}
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError, one_line

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR / "_configs", _PACKAGE_DIR.parent / "configs")


def config_dir() -> Path:
    """The folder holding the shipped configuration files."""
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise ConfigError("llmgeom's configs folder is missing from this installation")


def config_path(name: str) -> Path:
    """Path of the shipped config file ``name`` (error if it does not exist)."""
    path = config_dir() / name
    if not is_a(path, "exists"):
        raise ConfigError(f"no shipped config named {name!r} in {config_dir()}")
    return path


def is_a(path: Path, kind: str) -> bool:
    """``path.exists()``, ``path.is_dir()`` or ``path.is_file()`` (``kind``), after ``~`` is
    expanded; False for a name no file can have (too long, a NUL byte...), not an OSError.

    Example:
        >>> is_a(Path("/"), "is_dir"), is_a(Path("a" * 5000), "exists")
        (True, False)
    """
    try:
        return bool(getattr(path.expanduser(), kind)())
    except (OSError, ValueError, RuntimeError):  # RuntimeError: ~user unknown
        return False


def parse_toml(text: str, place: object) -> dict[str, Any]:
    """The parsed TOML ``text``; anything :mod:`tomllib` refuses (invalid TOML, a nesting deeper
    than it can follow, an integer of more digits than Python converts) is one ConfigError line
    naming ``place``.

    Example:
        >>> parse_toml("a = " + "[" * 5000, "x.toml")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: x.toml: invalid TOML: arrays or tables nested too deeply
    """
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{place}: invalid TOML: arrays or tables nested too deeply") from None
    except ValueError as err:  # TOMLDecodeError, or int() of more than 4300 digits
        raise ConfigError(f"{place}: invalid TOML: {one_line(str(err))}") from None


def read_toml_file(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The parsed TOML file ``path`` read as :func:`tomllib.load` reads it (bytes decoded as
    UTF-8, line ends as written); an unreadable, non-UTF-8 or invalid file is one ConfigError
    line naming the ``what`` (a missing file raises :class:`FileNotFoundError`).

    Example:
        >>> _ = Path("bad.toml").write_bytes(b"a = 1\\r")
        >>> read_toml_file("bad.toml", "toy config")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: bad.toml: invalid TOML: ...
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:  # a folder, no permission, a NUL in the name...
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise ConfigError(f"cannot read the {what} {path}: {reason}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})"
        ) from None
    return parse_toml(text, path)
