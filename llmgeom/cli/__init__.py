"""The ``llmgeom`` command line: one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (called with the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import LlmgeomError

SUBCOMMANDS: tuple[str, ...] = ("measure", "inspect", "models", "fit", "toy")

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
    print(f"llmgeom: warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmgeom`` console script."""
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LlmgeomError as err:
        print(f"llmgeom {args.command}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # e.g. a results folder that cannot be written
        print(f"llmgeom {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"llmgeom {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
