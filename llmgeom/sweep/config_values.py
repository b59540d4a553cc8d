"""The checks every value of a sweep config goes through: known keys, strings, lists of strings,
and local paths resolved against the config file's folder (Hub ids and ``hf:`` specs as given).

Each failure is a one-line :class:`~llmgeom.errors.ConfigError` naming the key where it sits
(``models[0].source``, ``[loss] corpora``).

Example:
    >>> as_str_list("gpt2", "models")
    ['gpt2']
    >>> resolve_path("hf:allenai/c4:en:train", Path("/data"))
    'hf:allenai/c4:en:train'
    >>> resolve_path("./ckpt", Path("/data"))
    '/data/ckpt'
    >>> check_keys({"modles": 1}, ("models", "out"), None)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: sweep config: unknown key 'modles' (known: models, out)
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def where(section: str | None, key: str) -> str:
    """How a message names ``key`` of ``section`` (``models[0].source``; a top key alone)."""
    return f"{section}.{key}" if section else key


def check_keys(table: dict[str, Any], known: Collection[str], section: str | None) -> None:
    """A ConfigError naming the first key of ``table`` that is not in ``known``."""
    for key in table:
        if key not in known:
            place = f"[{section}]" if section else "sweep config"
            raise ConfigError(f"{place}: unknown key {key!r} (known: {', '.join(sorted(known))})")


def as_str(value: Any, key: str, section: str | None = None) -> str:
    """``value`` when it is a non-empty string, else a ConfigError naming ``key``."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where(section, key)} must be a non-empty string, got {value!r}")
    return value


def as_str_list(value: Any, key: str, section: str | None = None) -> list[str]:
    """``value`` as a non-empty list of non-empty strings (one string is a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where(section, key)} must be a non-empty list of strings")
    return [as_str(v, key, section) for v in value]


def is_local(text: str, base: Path) -> bool:
    """Whether ``text`` names a local path: it starts like one or exists under ``base``."""
    return text.startswith((".", "/", "~")) or (base / text).expanduser().exists()


def resolve_path(text: str, base: Path) -> str:
    """``text`` as an absolute path when it is a local path, else unchanged (Hub id, hf:)."""
    if text.startswith("hf:") or not is_local(text, base):
        return text
    return str((base / Path(text).expanduser()).resolve())


def read_toml(text: str, path: Path | None) -> dict[str, Any]:
    """The parsed TOML ``text`` (invalid TOML: a ConfigError naming ``path``)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        place = path or "sweep config"
        raise ConfigError(f"{place}: invalid TOML: {err}") from None
