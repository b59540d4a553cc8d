"""The ``llmgeom`` command line: one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (called with the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .. import __version__
from ..errors import LlmgeomError, one_line
from .flags import flags_of, with_flags

SUBCOMMANDS: tuple[str, ...] = (
    *("measure", "tokens", "inspect", "models", "fit", "toy", "loss", "freq"),
    "sweep",
    "report",
    "reproduce",
)
SIGPIPE_EXIT = 128 + 13  # the shell's status for a process ended by SIGPIPE

DESCRIPTION = """\
Measure the geometry of language models' output embeddings and fit the scaling laws of
"Superposition Yields Robust Neural Scaling" (Liu, Liu & Gore, NeurIPS 2025).

examples:
  llmgeom measure gpt2                      # a Hub model (downloads only the head tensor)
  llmgeom measure ./my-checkpoint --out results/
  llmgeom models                            # the 27 models of the paper and their aliases
  llmgeom fit chinchilla                    # k = 2.52 +/- 0.03, alpha_m = 0.88 +/- 0.06
  llmgeom toy run --preset quick            # the toy model of superposition, in minutes
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="llmgeom",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"llmgeom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"llmgeom: warning: {one_line(str(message))}", file=file or sys.stderr)


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """Inside the block, warnings print as one ``llmgeom: warning: ...`` line on stderr; the
    previous ``warnings.showwarning`` comes back on the way out (a notebook or a program calling
    :func:`main` keeps its own).

    Example:
        >>> import warnings
        >>> before = warnings.showwarning
        >>> with one_line_warnings():
        ...     warnings.showwarning is before
        False
        >>> warnings.showwarning is before
        True
    """
    previous = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        yield
    finally:
        warnings.showwarning = previous


def _silence_stdout() -> None:
    """After a broken pipe: send what is left for stdout to devnull so exiting stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout replaced (tests) or already closed
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmgeom`` console script.

    Errors llmgeom raises on purpose print as one line on stderr and exit 1; an error about an
    argument shows the flag that sets it (:mod:`llmgeom.cli.flags`). A closed output
    pipe (``llmgeom models --json | head -1``) ends the command quietly with exit status 141,
    as for a process stopped by SIGPIPE (the recipe of Python's ``signal`` documentation).
    """
    with one_line_warnings():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    command = "llmgeom"
    flags: dict[str, str] = {}
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # --help, --version or a usage error: flush while we can catch EPIPE
            sys.stdout.flush()
            raise
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        command = f"llmgeom {args.command}"
        flags = flags_of(parser, args)
        try:
            code = int(args.func(args) or 0)
        finally:
            sys.stdout.flush()  # inside the try: a closed pipe is noticed here, not at exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return SIGPIPE_EXIT
    except LlmgeomError as err:  # named by the Python parameter: shown with its flag
        message = with_flags(one_line(str(err)), err.parameters, flags)
        print(f"{command}: error: {message}", file=sys.stderr)
        return 1
    except OSError as err:  # e.g. a results folder that cannot be written
        print(f"{command}: error: {one_line(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
