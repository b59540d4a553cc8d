"""The corpus and tokenizer options that ``llmgeom loss`` and ``llmgeom freq`` share, declared once.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_corpus_arguments(p, max_length_help="tokens kept", out_default="results/x")
    >>> a = p.parse_args(["--corpus", "a.txt", "--corpus", "b.jsonl", "--samples", "5"])
    >>> a.corpus, a.samples, a.text_field, a.recipe, a.out
    (['a.txt', 'b.jsonl'], 5, 'text', None, 'results/x')
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..text.corpus import Corpus

CORPUS_HELP = (
    ".txt, .jsonl or .parquet file, a folder of those, or hf:NAME:CONFIG:SPLIT (repeatable)"
)
RECIPE_HELP = (
    "the authors' sampling: wikitext/bookcorpus lines joined until >= max-length/2 words make a "
    "document; c4 and the Pile: records as they come"
)


def positive_int(value: str) -> int:
    """An argparse type: a whole number >= 1.

    Example:
        >>> positive_int("3")
        3
        >>> positive_int("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be at least 1, got 0
    """
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def add_corpus_arguments(
    p: argparse.ArgumentParser, *, max_length_help: str, out_default: str
) -> None:
    """Add --corpus, --samples, --max-length, --text-field, --recipe, --revision,
    --trust-remote-code, --out and --no-progress to ``p``."""
    p.add_argument("--corpus", action="append", required=True, metavar="SOURCE", help=CORPUS_HELP)
    p.add_argument("--samples", type=positive_int, metavar="N", help="first N documents only")
    p.add_argument("--max-length", type=positive_int, metavar="L", help=max_length_help)
    p.add_argument("--text-field", default="text", metavar="F", help="field of .jsonl/.parquet")
    p.add_argument("--recipe", choices=("paper",), help=RECIPE_HELP)
    p.add_argument("--revision", metavar="REV", help="Hub branch, tag or commit")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the checkpoint's own Python code (off by default; only for sources you trust)",
    )
    p.add_argument(
        "--out",
        default=out_default,
        metavar="DIR",
        help="folder for the results (default: %(default)s)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def open_corpora(args: argparse.Namespace) -> list[Corpus]:
    """Open every ``--corpus`` of ``args``; refuse two with the same name, whose result files
    would overwrite each other."""
    from ..text.corpus import open_corpus

    corpora = [
        open_corpus(spec, text_field=args.text_field, recipe=args.recipe) for spec in args.corpus
    ]
    names = [c.name for c in corpora]
    if len(set(names)) != len(names):
        raise ConfigError(
            "two corpora have the same name, so their files would overwrite each other: "
            + ", ".join(args.corpus)
        )
    return corpora
