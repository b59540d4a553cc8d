"""The command-line arguments that ``llmgeom loss`` and ``llmgeom freq`` share: the corpora, the
analysis options (derived from :class:`~llmgeom.text.options.LossOptions` /
:class:`~llmgeom.text.options.FreqOptions`), the tokenizer's source and the output folder.

Example:
    >>> import argparse
    >>> from llmgeom.options import from_namespace
    >>> from llmgeom.text.options import FreqOptions
    >>> p = argparse.ArgumentParser()
    >>> add_text_arguments(p, FreqOptions, out_default="results/x")
    >>> a = p.parse_args(["--corpus", "a.txt", "--corpus", "b.jsonl", "--samples", "5"])
    >>> opts = from_namespace(FreqOptions, a)
    >>> a.corpus, opts.samples, opts.text_field, opts.recipe, a.out
    (['a.txt', 'b.jsonl'], 5, 'text', None, 'results/x')
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..options import add_arguments

if TYPE_CHECKING:
    from ..text.corpus import Corpus
    from ..text.options import CorpusOptions

CORPUS_HELP = (
    ".txt, .jsonl or .parquet file, a folder of those, or hf:NAME:CONFIG:SPLIT (repeatable)"
)


def add_text_arguments(p: argparse.ArgumentParser, options: type, *, out_default: str) -> None:
    """Add --corpus, the flags of the ``options`` class (a
    :class:`~llmgeom.text.options.CorpusOptions`), --revision, --trust-remote-code, --out and
    --no-progress to ``p``."""
    p.add_argument("--corpus", action="append", required=True, metavar="SOURCE", help=CORPUS_HELP)
    add_arguments(p, options)
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


def open_corpora(specs: Sequence[str], opts: CorpusOptions) -> list[Corpus]:
    """Open every ``--corpus`` spec; refuse two with the same name, whose result files would
    overwrite each other."""
    from ..text.corpus import open_corpus

    corpora = [open_corpus(spec, text_field=opts.text_field, recipe=opts.recipe) for spec in specs]
    names = [c.name for c in corpora]
    if len(set(names)) != len(names):
        raise ConfigError(
            "two corpora have the same name, so their files would overwrite each other: "
            + ", ".join(specs)
        )
    return corpora
