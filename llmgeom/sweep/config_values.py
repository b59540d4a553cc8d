"""The checks of the sweep's own values (those no option type declares): strings, lists of
strings, and local paths resolved against the config file's folder (Hub ids and ``hf:`` specs
as given). Each failure is a one-line :class:`~llmgeom.errors.ConfigError` naming the key as the
config writes it (``[loss] corpora``, ``revisions[0].models``).

Example:
    >>> as_str_list("gpt2", "models")
    ['gpt2']
    >>> as_str_list([], "[loss] corpora")
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: [loss] corpora must be a non-empty list of strings
    >>> resolve_path("hf:allenai/c4:en:train", Path("/data"))
    'hf:allenai/c4:en:train'
    >>> resolve_path("./ckpt", Path("/data"))
    '/data/ckpt'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..configs import is_a, parse_toml
from ..errors import ConfigError


def as_str(value: Any, name: str) -> str:
    """``value`` when it is a non-empty string, else a ConfigError naming the key ``name``."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def as_str_list(value: Any, name: str) -> list[str]:
    """``value`` as a non-empty list of non-empty strings (one string is a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{name} must be a non-empty list of strings")
    return [as_str(v, name) for v in value]


def is_local(text: str, base: Path) -> bool:
    """Whether ``text`` names a local path: it starts like one or exists under ``base``."""
    return text.startswith((".", "/", "~")) or is_a(base / text, "exists")


def resolve_path(text: str, base: Path) -> str:
    """``text`` as an absolute path when it is a local path, else unchanged (Hub id, hf:)."""
    if text.startswith("hf:") or not is_local(text, base):
        return text
    try:
        expanded = Path(text).expanduser()
    except RuntimeError:  # ~name of no user here
        raise ConfigError(f"cannot expand {text!r:.200}: no home folder for that user") from None
    return str((base / expanded).resolve())


def read_toml(text: str, path: Path | None) -> dict[str, Any]:
    """The parsed TOML ``text`` (invalid TOML: a ConfigError naming ``path``)."""
    return parse_toml(text, path or "sweep config")
