"""The tables of a sweep config, each derived from the option types it sets.

A table's keys are the fields of its option types (with the same names, defaults and
validation as the Python keywords and the command-line flags) plus the sweep's own keys
(``corpora``, ``models``...): ``[measure]`` is :class:`~llmgeom.options.MeasureOptions`,
``[loss]`` is :class:`~llmgeom.text.options.LossOptions` and
:class:`~llmgeom.text.options.ModelOptions` (how the model loads), ``[freq]`` is
:class:`~llmgeom.text.options.FreqOptions`, the top level is
:class:`~llmgeom.sweep.sweep_options.SweepOptions` and a ``[[models]]`` table is
:class:`~llmgeom.sweep.sweep_options.ModelEntry`. A field added to one of those types is a key
of its table at once. A key that does not apply is a one-line error naming it and, where it
belongs to another table, that table; a bad value is the option type's own message, in its
table.

Example:
    >>> from pathlib import Path
    >>> (loss, model), own = read_table({"corpora": ["a.txt"], "samples": 5, "dtype": "float16"},
    ...                                 TABLES["loss"], Path("/data"))
    >>> loss.samples, model.dtype, own
    (5, 'float16', {'corpora': ['a.txt']})
    >>> read_table({"sample_rows": 9}, TABLES["loss"], Path("."))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: [loss] sample_rows: not a loss option; it belongs in [measure] ...
    >>> read_table({"samples": 0}, TABLES["loss"], Path("."))
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: [loss] samples must be at least 1, got 0
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import MeasureOptions
from ..text.options import FreqOptions, LossOptions, ModelOptions
from .config_values import resolve_path
from .sweep_options import ModelEntry, SweepOptions

ANALYSES = ("measure", "loss", "freq")


@dataclass(frozen=True)
class OptionTable:
    """One table of the config: ``label`` names it in messages (``[loss]``; ``""``: the top
    level), ``what`` is what its keys are (``loss option``), ``types`` the option types whose
    fields are its keys, ``own`` the sweep's keys, ``elsewhere`` the fields of ``types`` that are
    set in another place (key -> where), ``paths`` the fields that are paths relative to the
    config file's folder."""

    label: str
    what: str
    types: tuple[type, ...] = ()
    own: tuple[str, ...] = ()
    elsewhere: dict[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ()

    def option_keys(self, cls: type) -> tuple[str, ...]:
        """The fields of ``cls`` that are keys of this table."""
        return tuple(f.name for f in fields(cls) if f.name not in self.elsewhere)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key of the table: the option types' fields, then the sweep's own."""
        names = [name for cls in self.types for name in self.option_keys(cls)]
        return (*dict.fromkeys(names), *self.own)


_PER_MODEL = "given per model: [[models]] {key}"
TABLES: dict[str, OptionTable] = {
    "top": OptionTable(
        "",
        "top-level key of the sweep config",
        (SweepOptions,),
        ("models", "revisions", *ANALYSES, "toy"),
    ),
    "models": OptionTable("models[i]", "[[models]] key", (ModelEntry,)),
    "revisions": OptionTable("revisions[i]", "[[revisions]] key", own=("revision", "models")),
    "measure": OptionTable(
        "[measure]",
        "measure option",
        (MeasureOptions,),
        ("models",),
        elsewhere={
            "name": _PER_MODEL.format(key="name"),
            "family": _PER_MODEL.format(key="family"),
            "revision": "given per model: [[models]] revision, or revisions = [...]",
            "progress": "a top-level key of the sweep config (or --no-progress)",
        },
        paths=("weights",),
    ),
    "loss": OptionTable(
        "[loss]", "loss option", (LossOptions, ModelOptions), ("corpora", "models")
    ),
    "freq": OptionTable(
        "[freq]", "freq option", (FreqOptions,), ("corpora", "tokenizers", "models")
    ),
}


def _home(key: str, here: OptionTable) -> str | None:
    """The table ``key`` belongs in, if another one takes it (``[measure]``, ``[[models]]``,
    ``the top level``)."""
    for table in TABLES.values():
        if table is not here and key in table.keys and table.label != "revisions[i]":
            if not table.label:
                return "the top level"
            return table.label if table.label.startswith("[") else f"[[{table.label[:-3]}]]"
    return None


def refuse_unknown(raw: dict[str, Any], table: OptionTable, label: str | None = None) -> None:
    """A ConfigError naming the first key of ``raw`` that ``table`` does not take: why (set
    elsewhere, or the table it belongs in, or the closest key) and the keys it takes."""
    label = table.label if label is None else label
    for key in raw:
        if key in table.keys:
            continue
        name = f"{label} {key}" if label else key
        if key in table.elsewhere:
            raise ConfigError(f"{name}: {table.elsewhere[key]}")
        home = _home(key, table)
        close = difflib.get_close_matches(key, table.keys, n=1)
        hint = (
            f"; it belongs in {home}" if home else f"; did you mean {close[0]!r}?" if close else ""
        )
        known = ", ".join(sorted(table.keys))
        raise ConfigError(f"{name}: not a {table.what}{hint} (known: {known})")


def in_table(err: ConfigError, label: str) -> ConfigError:
    """``err`` of an option type, said in the table ``label``: ``[loss] samples must be ...``,
    ``models[0].name must be ...``; the message is the option type's own."""
    message = str(err)
    if not label:
        return ConfigError(message)
    if label.startswith("["):
        return ConfigError(f"{label} {message}")
    named = any(message.startswith(f"{p} ") for p in err.parameters)
    return ConfigError(f"{label}.{message}" if named else f"{label}: {message}")


def read_table(
    raw: Any, table: OptionTable, base: Path, label: str | None = None, **fixed: Any
) -> tuple[list[Any], dict[str, Any]]:
    """The option objects of ``table`` (one per type, in order) built from ``raw``'s keys, and
    the sweep's own keys of ``raw``; ``fixed`` sets fields the config does not (e.g.
    ``progress``); ``label`` names an entry of an array of tables (``models[0]``)."""
    label = table.label if label is None else label
    if not isinstance(raw, dict):
        raise ConfigError(f"{label or 'the sweep config'} must be a table")
    refuse_unknown(raw, table, label)
    built = []
    for cls in table.types:
        names = table.option_keys(cls)
        values = {k: v for k, v in raw.items() if k in names}
        for key in table.paths:
            if isinstance(values.get(key), str):
                values[key] = resolve_path(values[key], base)
        values |= {k: v for k, v in fixed.items() if k in {f.name for f in fields(cls)}}
        try:
            built.append(cls(**values))
        except ConfigError as err:
            raise in_table(err, label) from None
    return built, {k: v for k, v in raw.items() if k in table.own}
