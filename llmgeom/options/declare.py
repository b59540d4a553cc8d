"""Options declared once: a dataclass field that is also a command-line argument.

Each field of an options class is declared with :func:`option`: its default, its allowed values,
its command-line flag and its help text, in one place. :func:`add_arguments` builds the argparse
arguments from those declarations (choices and defaults are not written a second time),
:func:`from_namespace` turns parsed arguments back into the options object, whose own
validation (the checks of :mod:`llmgeom.options.checks`) gives the same one-line
:class:`~llmgeom.errors.ConfigError` to a Python caller and to the command line.

Example:
    >>> import argparse
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Opts:
    ...     steps: int = option(100, "training steps (default {default})", flag="--steps", kind=int)
    ...     verbose: bool = option(False, "say more", flag="--verbose")
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser, Opts)
    >>> from_namespace(Opts, parser.parse_args(["--steps", "7"]))
    Opts(steps=7, verbose=False)
    >>> [a.help for a in parser._actions if a.dest == "steps"]
    ['training steps (default 100)']
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from dataclasses import MISSING, field, fields
from typing import Any


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    aliases: tuple[str, ...] = (),
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    kind: Callable[[str], Any] | None = None,
    parse: Callable[[str], Any] | None = None,
    const: Any = MISSING,
    shown: str | None = None,
    compare: bool = True,
    exclusive: str | None = None,
) -> Any:
    """A dataclass field that also describes its command-line argument.

    ``flag`` (e.g. ``--time-budget``, the Python name with dashes; None: Python only),
    ``aliases`` (older spellings still accepted, e.g. ``--sample``), ``choices`` (checked by
    argparse and by the class), ``kind`` (argparse ``type``, e.g. ``int``), ``parse`` (a
    function of the command-line text raising ``ConfigError``, e.g. a size or a duration: applied by
    :func:`from_namespace`, so bad text is a one-line error, not a usage message), ``const``
    (the flag stores this constant, e.g. ``--no-progress`` → ``False``), ``shown`` (the default
    as help shows it), ``exclusive`` (flags with the same name form a mutually exclusive group).
    ``help`` may use ``{default}`` and ``{choices}``. A boolean field with default ``False`` is a
    plain switch. A ``flag`` with ``{choice}`` in it is one switch per choice, mutually
    exclusive, each storing its choice (``--load-in-{choice}``: ``--load-in-8bit`` → ``"8bit"``);
    its help may use ``{choice}``.
    """
    meta = {
        "help": help,
        "flag": flag,
        "aliases": aliases,
        "choices": choices,
        "metavar": metavar,
        "kind": kind,
        "parse": parse,
        "const": const,
        "shown": shown,
        "exclusive": exclusive,
    }
    return field(default=default, compare=compare, metadata=meta)


def help_text(f: Any, choice: str | None = None) -> str:
    """The help of field ``f`` with its default and choices (and ``choice``, for a switch per
    choice) filled in (argparse-escaped).

    Example:
        >>> from dataclasses import dataclass, fields
        >>> @dataclass
        ... class Opts:
        ...     budget: float = option(60.0, "stop after (default: {default})", shown="60s")
        >>> print(help_text(fields(Opts)[0]))
        stop after (default: 60s)
    """
    meta = f.metadata
    shown = meta["shown"] if meta["shown"] is not None else f.default
    choices = ", ".join(meta["choices"] or ())
    text = meta["help"].format(default=shown, choices=choices, choice=choice)
    return text.replace("%", "%%")


def add_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Collection[str] | None = None,
) -> None:
    """Add one argument per field of ``cls`` that declares a ``flag`` (only ``names``, if given).

    Every argument's parsed default is None ("not given"), so the dataclass default applies and
    is stated only there. ``parser`` may be an argument group.
    """
    groups: dict[str, Any] = {}
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("flag") or (names is not None and f.name not in names):
            continue
        if "{choice}" in meta["flag"]:  # one switch per choice, e.g. --load-in-8bit
            switches = parser.add_mutually_exclusive_group()
            for choice in meta["choices"]:
                switches.add_argument(
                    meta["flag"].format(choice=choice),
                    dest=f.name,
                    default=None,
                    action="store_const",
                    const=choice,
                    help=help_text(f, choice),
                )
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text(f)}
        if meta["const"] is not MISSING:
            kwargs.update(action="store_const", const=meta["const"])
        elif f.default is False:
            kwargs.update(action="store_true")
        else:
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            if meta["kind"]:
                kwargs["type"] = meta["kind"]
            if meta["metavar"]:
                kwargs["metavar"] = meta["metavar"]
        exclusive = meta.get("exclusive")
        if exclusive and exclusive not in groups:
            groups[exclusive] = parser.add_mutually_exclusive_group()
        target = groups[exclusive] if exclusive else parser
        target.add_argument(meta["flag"], *meta.get("aliases", ()), **kwargs)


def from_namespace(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """``cls`` from parsed arguments: given values (parsed where declared), else the defaults."""
    return cls(**(given_values(cls, args) | overrides))


def given_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` whose flags were given in ``args`` (parsed where declared), by
    field name: for a command that lays them over another source, such as a preset.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Opts:
        ...     seed: int = option(0, "seed", flag="--seed", kind=int)
        ...     budget: float = option(60.0, "seconds", flag="--budget", parse=float)
        >>> parser = argparse.ArgumentParser()
        >>> add_arguments(parser, Opts, names=("seed", "budget"))
        >>> given_values(Opts, parser.parse_args(["--budget", "2.5"]))
        {'budget': 2.5}
    """
    values: dict[str, Any] = {}
    for f in fields(cls):
        if not f.metadata.get("flag"):
            continue
        value = getattr(args, f.name, None)
        if value is None:
            continue
        parse = f.metadata["parse"]
        values[f.name] = parse(value) if parse and isinstance(value, str) else value
    return values
