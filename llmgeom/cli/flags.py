"""Library errors name the Python parameter; the command line shows the flag that sets it.

A :class:`~llmgeom.errors.LlmgeomError` about an argument lists the argument's Python name in
``parameters`` and writes it in its message as ``name=value`` or as the message's first word.
:func:`flags_of` reads the running command's parser (each argument's ``dest`` and its option
string: the parser is the one source of truth) and :func:`with_flags` rewrites the message, so
``llmgeom loss`` prints ``--max-length 4096 exceeds ...`` where Python says ``max_length=4096
exceeds ...``.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="llmgeom")
    >>> sub = p.add_subparsers(dest="command")
    >>> loss = sub.add_parser("loss")
    >>> _ = loss.add_argument("--max-length", type=int)
    >>> _ = loss.add_argument("--samples", type=int)
    >>> flags = flags_of(p, p.parse_args(["loss", "--samples", "0"]))
    >>> flags["max_length"], flags["samples"]
    ('--max-length', '--samples')
    >>> with_flags("max_length=4096 exceeds the context (1024 tokens)", ("max_length",), flags)
    '--max-length 4096 exceeds the context (1024 tokens)'
    >>> with_flags("samples must be at least 1, got 0", ("samples",), flags)
    '--samples must be at least 1, got 0'
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping


def flags_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """``dest`` → flag (its first ``--`` option string) of every optional argument of
    ``parser`` and of the subcommand parsers ``args`` chose (a subcommand's own flags win);
    a switch also maps ``dest=const`` (``drop_nonfinite=True``, ``quantization='8bit'``) to
    its flag."""
    flags: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(args, action.dest, None) if action.dest != argparse.SUPPRESS else None
            if isinstance(chosen, str) and chosen in action.choices:
                flags.update(flags_of(action.choices[chosen], args))
            continue
        long = [s for s in action.option_strings if s.startswith("--")]
        if long and action.dest not in (argparse.SUPPRESS, "help", "version"):
            flags.setdefault(action.dest, long[0])
            if action.nargs == 0 and action.const is not None:  # a switch: name=const is it
                flags.setdefault(f"{action.dest}={action.const!r}", long[0])
    return flags


def with_flags(message: str, parameters: Iterable[str], flags: Mapping[str, str]) -> str:
    """``message`` with each of ``parameters`` that has a flag written as that flag:
    ``name=value`` becomes ``--flag value`` anywhere (a quoted word loses its quotes; a switch's
    ``name=True`` or a ``store_const`` value becomes that flag alone); the bare name becomes the
    flag where it starts the message or, for a name with an underscore (unambiguous), anywhere.

    Example:
        >>> with_flags("pass tensor=NAME to choose", ["tensor"], {"tensor": "--tensor"})
        'pass --tensor NAME to choose'
        >>> with_flags("use dtype='float32'", ["dtype"], {"dtype": "--dtype"})
        'use --dtype float32'
        >>> switch = {"drop_nonfinite=True": "--drop-nonfinite"}
        >>> with_flags("use drop_nonfinite=True to skip", ["drop_nonfinite"], switch)
        'use --drop-nonfinite to skip'
        >>> with_flags("the loss of x; loss must be 'ls'", ["loss"], {"loss": "--loss"})
        "the loss of x; loss must be 'ls'"
        >>> with_flags("n_bootstrap must be >= 0", ["n_bootstrap"], {})  # no flag: unchanged
        'n_bootstrap must be >= 0'
    """
    for name in parameters:
        for setting, switch in flags.items():  # a switch's own value: drop_nonfinite=True
            if setting.startswith(name + "="):
                message = re.sub(rf"(?<![\w./-]){re.escape(setting)}(?![\w'])", switch, message)
        flag = flags.get(name)
        if flag is None:
            continue
        word = rf"(?<![\w./-]){re.escape(name)}"
        message = re.sub(word + r"='([^'\s]*)'", rf"{flag} \1", message)  # unquoted on the CLI
        message = re.sub(word + "=", flag + " ", message)
        if "_" in name:
            message = re.sub(word + r"(?![\w=-])", flag, message)
        elif message.startswith(name + " "):
            message = flag + message[len(name) :]
    return message
