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
from .config_values import as_str, as_str_list, check_keys, is_local, resolve_path

MODEL_KEYS = ("source", "name", "revision", "family")
REVISION_KEYS = ("revision", "models")

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
        return Path(source).name if Path(source).is_dir() else Path(source).stem
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
    """The ``models`` list: a source string or a ``[[models]]`` table per model."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("models must be a list of sources or [[models]] tables")
    out = []
    for i, item in enumerate(raw):
        table = {"source": item} if isinstance(item, str) else item
        if not isinstance(table, dict):
            raise ConfigError(f"models[{i}] must be a source string or a table")
        check_keys(table, MODEL_KEYS, f"models[{i}]")
        if "source" not in table:
            raise ConfigError(f"models[{i}].source is missing")
        text = as_str(table["source"], "source", f"models[{i}]")
        local = is_local(text, base)
        source = resolve_path(text, base)
        revision = table.get("revision")
        if revision is not None:
            revision = as_str(revision, "revision", f"models[{i}]")
        elif not local and "@" in text:
            source, revision = text.rsplit("@", 1)
        name = table.get("name")
        name = (
            as_str(name, "name", f"models[{i}]") if name is not None else _model_name(source, local)
        )
        family = table.get("family")
        family = as_str(family, "family", f"models[{i}]") if family else _family(source, local)
        out.append(ModelSpec(source, name, revision, family, local, "name" in table))
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
        if not isinstance(item, dict):
            raise ConfigError(f"revisions[{i}] must be a revision string or a table")
        check_keys(item, REVISION_KEYS, f"revisions[{i}]")
        if "revision" not in item:
            raise ConfigError(f"revisions[{i}].revision is missing")
        names = item.get("models")
        only = set(as_str_list(names, "models", f"revisions[{i}]")) if names is not None else None
        out.append((as_str(item["revision"], "revision", f"revisions[{i}]"), only))
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
