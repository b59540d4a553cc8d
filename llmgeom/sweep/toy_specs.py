"""The toy experiments of a sweep config: ``toy = [files or presets]`` or ``[[toy]]`` tables.

Example:
    >>> from pathlib import Path
    >>> [s.name for s in parse_toy(["quick", {"name": "t", "n": 20, "m": [2]}], Path("."))]
    ['toy-quick', 'toy-t']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config_values import as_str, is_a, is_local, resolve_path


@dataclass(frozen=True)
class ToySpec:
    """One toy experiment: a file or preset (``source``), or an inline table (``table``)."""

    name: str
    source: str | None = None
    table: dict[str, Any] | None = None

    def load(self) -> Any:
        """The :class:`~llmgeom.toy.config.ToyConfig`."""
        from ..toy.config import config_from_dict, load_config

        if self.table is not None:
            return config_from_dict(dict(self.table), source=f"toy {self.name}")
        return load_config(self.source or self.name)

    def check(self) -> None:
        """Load the toy config now (a ConfigError naming this experiment if it is bad)."""
        try:
            self.load()
        except ConfigError as err:
            raise ConfigError(f"toy {self.name}: {err}") from None


def parse_toy(raw: Any, base: Path) -> tuple[ToySpec, ...]:
    """The ``toy`` entries, each checked now, before any unit runs."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            local = is_local(item, base) or item.endswith(".toml")
            source = resolve_path(item, base) if local else item
            if local and not is_a(Path(source), "is_file"):
                raise ConfigError(f"toy[{i}]: no such toy config file {item!r}")
            name = Path(source).stem if local else f"toy-{item.removeprefix('toy-')}"
            out.append(ToySpec(name, source=source))
        elif isinstance(item, dict):
            table = dict(item)
            name = table.get("name", f"toy{i}")
            out.append(ToySpec(f"toy-{as_str(name, f'toy[{i}].name')}", table=table))
        else:
            raise ConfigError(f"toy[{i}] must be a toy config file, a preset name or a table")
    for spec in out:
        spec.check()
    return tuple(out)
