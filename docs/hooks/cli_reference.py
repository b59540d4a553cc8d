"""MkDocs hook: the CLI reference, generated from ``llmgeom.cli.build_parser()`` at build time.

The page ``reference/cli.md`` holds the marker ``<!-- llmgeom-cli-reference -->``; it is
replaced by ``llmgeom --help`` and each subcommand's ``--help`` (formatted 100 columns wide, so
the page does not depend on the terminal the site is built in). Nothing here needs the network
or imports torch.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- llmgeom-cli-reference -->"
WIDTH = "100"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subparsers of ``parser``, by name, in the order they were registered."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _section(title: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} `{title}`", "", "```text", _help(parser), "```", ""]
    for name, sub in _subcommands(parser).items():
        lines += _section(f"{title} {name}", sub, level + 1)
    return lines


def cli_reference() -> str:
    """Markdown of ``llmgeom --help`` and of every subcommand's help, nested."""
    from llmgeom.cli import build_parser

    parser = build_parser()
    lines = ["## `llmgeom`", "", "```text", _help(parser), "```", ""]
    for name, sub in _subcommands(parser).items():
        lines += _section(f"llmgeom {name}", sub, 2)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
