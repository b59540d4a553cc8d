"""``llmgeom freq``: token frequencies of a tokenizer on text corpora (the paper's §3).

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
    >>> args = p.parse_args(["freq", "gpt2", "--corpus", "a.txt", "--corpus", "b.jsonl"])
    >>> args.corpus, from_namespace(FreqOptions, args).tokens
    (['a.txt', 'b.jsonl'], 1000000)
"""

from __future__ import annotations

import argparse

from .._atomic import ensure_writable_dir
from ..options import from_namespace
from ..text.options import FreqOptions
from ._text_options import add_text_arguments, open_corpora

DEFAULT_OUT = "results/freq"

EPILOG = """\
Documents: a .txt file's documents are its maximal runs of non-blank lines (joined with
newlines); a .jsonl file or .parquet file holds one document per record (field `text`, see
--text-field); a folder: its .txt/.jsonl/.parquet files sorted by name; hf:NAME:CONFIG:SPLIT
streams a Hugging Face dataset (needs `pip install 'llmgeom[corpora]'` and the network).
Each document is encoded with add_special_tokens=False and counted in order until --tokens
tokens; the document that crosses the budget is cut there (the paper counts 1,000,000, each
record of the dataset as one document: give hf: specs without --recipe to reproduce §3).

Writes, per corpus, into --out: NAME.CORPUS.counts.npz (`counts`: int64, one entry per token
id, length len(tokenizer)), NAME.CORPUS.freq.json (tokens counted, distinct tokens, fraction of
the vocabulary never seen, the 20 most frequent tokens, the rank-frequency exponent fitted the
paper's way (log-log least squares on 1000 ranks uniform in log rank) and by maximum likelihood
with a 95 % interval, provenance) and NAME.CORPUS.freq.png (the rank-frequency plot).

examples:
  llmgeom freq gpt2 --corpus wiki.txt
  llmgeom freq ./my-model --corpus data/ --tokens 200000 --out results/freq
  llmgeom freq pythia-1b --corpus hf:wikitext:wikitext-103-v1:train --corpus hf:allenai/c4:en:train
  llmgeom measure gpt2 --weights results/freq/gpt2.wiki.counts.npz
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``freq`` subcommand."""
    p = subparsers.add_parser(
        "freq",
        help="token frequencies of a tokenizer on text corpora, and their Zipf exponent",
        description="Count a tokenizer's tokens on text corpora and fit the rank-frequency law.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "tokenizer",
        metavar="TOKENIZER",
        help="model folder, .gguf file, Hub repo id or alias (only the tokenizer is loaded)",
    )
    add_text_arguments(p, FreqOptions, out_default=DEFAULT_OUT)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check everything, count every corpus, then write the files (nothing on error)."""
    opts = from_namespace(FreqOptions, args)  # a bad value: one line naming its flag
    ensure_writable_dir(args.out)

    from ..text.freq import count_tokens
    from ..text.tokenizers import load_tokenizer

    corpora = open_corpora(args.corpus, opts)
    loaded = load_tokenizer(
        args.tokenizer, revision=args.revision, trust_remote_code=args.trust_remote_code
    )
    results = [
        count_tokens(
            loaded,
            corpus,
            tokens=opts.tokens,
            samples=opts.samples,
            max_length=opts.max_length,
            progress=False if args.no_progress else None,
        )
        for corpus in corpora
    ]
    for result in results:
        print(result.summary())
        for path in result.save(args.out):
            print(f"  wrote {path}")
    return 0
