"""``llmgeom models``: the 27 models of the paper, with the aliases every command accepts."""

from __future__ import annotations

import argparse
import json

EPILOG = """\
Aliases are the name part of the Hub id, lower-cased; any command that takes a model accepts the
alias, the Hub id, or ORG/NAME@REVISION.

examples:
  llmgeom models
  llmgeom models --family pythia
  llmgeom models --json
  llmgeom inspect qwen2.5-7b          # where the head is, without downloading it
  llmgeom measure pythia-410m         # downloads only the head tensor
"""

_COLUMNS = ("alias", "hub id", "family", "d_model", "head (rows x cols)", "tied", "format", "dtype")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    p = subparsers.add_parser(
        "models",
        help="list the 27 models of the paper and their aliases",
        description="The paper's 27 models (configs/models.csv) and their short aliases.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--family", help="only this family (gpt2, opt, pythia, qwen2.5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _format(model) -> str:
    sharded = "sharded " if model.sharded else ""
    return f"{sharded}{model.fmt}"


def rows(family: str | None = None) -> list[tuple[str, ...]]:
    """The table rows (strings), optionally for one family.

    Example:
        >>> rows("gpt2")[-1][:2]
        ('gpt2-xl', 'openai-community/gpt2-xl')
    """
    from ..sources.registry import registry_models

    return [
        (
            m.alias,
            m.hub_id,
            m.family,
            str(m.d_model),
            f"{m.head_rows} x {m.head_cols}",
            "yes" if m.tied else "no",
            _format(m),
            m.storage_dtype if " " not in m.storage_dtype else "(header)",
        )
        for m in registry_models()
        if family is None or m.family == family
    ]


def run(args: argparse.Namespace) -> int:
    """Print the registry as a table (or JSON)."""
    from ..errors import ConfigError
    from ..sources.registry import registry_models

    table = rows(args.family)
    if not table:
        families = sorted({m.family for m in registry_models()})
        raise ConfigError(f"no family {args.family!r} (families: {', '.join(families)})")
    if args.json:
        keys = ("alias", "hub_id", "family", "d_model", "head_shape", "tied", "format", "dtype")
        out = []
        for m in registry_models():
            if args.family is None or m.family == args.family:
                out.append(
                    dict(
                        zip(
                            keys,
                            (
                                m.alias,
                                m.hub_id,
                                m.family,
                                m.d_model,
                                [m.head_rows, m.head_cols],
                                m.tied,
                                _format(m),
                                m.storage_dtype,
                            ),
                            strict=True,
                        )
                    )
                )
        print(json.dumps(out, indent=2))
        return 0
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(_COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
