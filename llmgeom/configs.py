"""Locate the data files shipped in ``configs/`` (model registry, reference tables, presets).

In a source checkout or an editable install they live in the repository's ``configs/``; in a
wheel they are packaged as ``llmgeom/_configs``.

Example:
    >>> config_path("models.csv").name
    'models.csv'
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

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
    if not path.exists():
        raise ConfigError(f"no shipped config named {name!r} in {config_dir()}")
    return path
