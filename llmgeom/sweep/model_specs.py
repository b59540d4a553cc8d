"""The models of a sweep config: ``models`` (sources or ``[[models]]`` tables with their labels)
expanded over ``revisions`` (training steps of Hub models).

Example:
    >>> from pathlib import Path
    >>> models = parse_models(["pythia-70m", {"source": "gpt2", "name": "g"}], Path("/data"))
    >>> [(m.name, m.family, m.named) for m in models]
    [('pythia-70m', 'pythia', False), ('g', 'gpt2', True)]
    >>> [m.label for m in expand_revisions(models, parse_revisions(["step1"]))]
    ['pythia-70m@step1', 'g@step1']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config_values import as_str, as_str_list, is_a, is_local, resolve_path
from .option_tables import TABLES, read_table

Revisions = list[tuple[str, set[str] | None]]
"""``(revision, the model names it applies to or None for all)`` per ``revisions`` entry."""


@dataclass(frozen=True)
class ModelSpec:
    """One model (at one revision): ``source`` is absolute for a local path, else as given.

    ``named``: the config gave ``name`` (it then labels the measurement and loss records and
    their files: :attr:`given_name`); otherwise ``name`` is derived from the source and the
    records are named as by the single commands.
    """

    source: str
    name: str
    revision: str | None = None
    family: str | None = None
    local: bool = False
    named: bool = False

    @property
    def given_name(self) -> str | None:
        """The name the config gave (the records' label), None when derived from the source."""
        return self.name if self.named else None

    @property
    def label(self) -> str:
        """``name`` or ``name@revision`` (unit ids use it)."""
        return f"{self.name}@{self.revision}" if self.revision else self.name


def _model_name(source: str, local: bool) -> str:
    if local:
        return Path(source).name if is_a(Path(source), "is_dir") else Path(source).stem
    from ..sources.registry import alias_for, lookup

    entry = lookup(source.split("@", 1)[0])
    return entry.alias if entry else alias_for(source.split("@", 1)[0])


def _family(source: str, local: bool) -> str | None:
    if local:
        return None
    from ..sources.registry import lookup

    entry = lookup(source.split("@", 1)[0])
    return entry.family if entry else None


def parse_models(raw: Any, base: Path) -> list[ModelSpec]:
    """The ``models`` list: a source string or a ``[[models]]`` table
    (:class:`~llmgeom.sweep.sweep_options.ModelEntry`) per model."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("models must be a list of sources or [[models]] tables")
    out = []
    for i, item in enumerate(raw):
        table = {"source": item} if isinstance(item, str) else item
        if not isinstance(table, dict):
            raise ConfigError(f"models[{i}] must be a source string or a table")
        (entry,), _ = read_table(table, TABLES["models"], base, label=f"models[{i}]")
        local = is_local(entry.source, base)
        source = resolve_path(entry.source, base)
        revision = entry.revision
        if revision is None and not local and "@" in entry.source:
            source, revision = entry.source.rsplit("@", 1)
        name = entry.name or _model_name(source, local)
        family = entry.family or _family(source, local)
        out.append(ModelSpec(source, name, revision, family, local, entry.name is not None))
    return out


def parse_revisions(raw: Any) -> Revisions:
    """The ``revisions`` list: a revision string, or a ``[[revisions]]`` table with ``models``."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise ConfigError("revisions must be a non-empty list of revisions or [[revisions]] tables")
    out: Revisions = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append((as_str(item, f"revisions[{i}]"), None))
            continue
        label = f"revisions[{i}]"
        _, own = read_table(item, TABLES["revisions"], Path("."), label=label)
        if "revision" not in own:
            raise ConfigError(f"{label}.revision is missing")
        names = own.get("models")
        only = set(as_str_list(names, f"{label}.models")) if names is not None else None
        out.append((as_str(own["revision"], f"{label}.revision"), only))
    return out


def expand_revisions(models: list[ModelSpec], revisions: Revisions) -> list[ModelSpec]:
    """Every model that names no revision of its own, once per revision that applies to it."""
    if not revisions:
        return models
    out = []
    for model in models:
        revs = [r for r, only in revisions if only is None or model.name in only]
        if model.revision is not None or not revs:
            out.append(model)
            continue
        if model.local:
            raise ConfigError(f"revisions apply to Hub models; {model.name} is a local path")
        out.extend(replace(model, revision=r) for r in revs)
    return out
