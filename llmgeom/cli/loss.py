"""``llmgeom loss``: cross-entropy of a causal language model on text corpora.

Example:
    >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
    >>> args = p.parse_args(["loss", "gpt2", "--corpus", "wiki.txt", "--samples", "100"])
    >>> args.model, args.corpus, args.samples, args.dtype, args.out
    ('gpt2', ['wiki.txt'], 100, None, 'results/loss')
    >>> from_namespace(LossOptions, args).batch_tokens  # the declared default
    8192
    >>> from_namespace(LossOptions, p.parse_args(["loss", "gpt2", "--corpus", "a.txt",
    ...                                           "--quantization", "8bit"])).quantization
    '8bit'
"""

from __future__ import annotations

import argparse

from ..options import add_arguments, from_namespace
from ..text.options import LossOptions, ModelOptions
from ._text_options import add_text_arguments, open_corpora

DEFAULT_OUT = "results/loss"

EPILOG = """\
definition (exact): each document (.txt: a run of non-blank lines; .jsonl/.parquet: a record)
is tokenised as tokenizer(text)["input_ids"] (default special tokens) and cut to its first
--max-length tokens (default: the model's context length, at most 2048); documents with fewer
than 2 tokens are skipped and counted. loss = sum of -log p(x_t | x_<t) over every document's
tokens after the first / number of those tokens (nats/token). Also: perplexity, bits per byte
(UTF-8 bytes of the text the kept tokens cover), and loss_authors_weighting, the authors'
script's average (per-document mean weighted by the token count including the first token).

output, per (model, corpus): DIR/<model>.<corpus>.loss.json (model identity, corpus sha256,
options, dtype, quantization, versions, timings), and a row
model,family,corpus,m,loss,head_width,loss_authors_weighting in DIR/losses.csv (m = d_model; a
row for the same model and corpus is replaced), the table `llmgeom fit loss DIR/losses.csv`
reads (--column authors: the authors' weighting).

examples:
  llmgeom loss gpt2 --corpus wiki.txt --samples 1000
  llmgeom loss ./my-checkpoint --corpus c4.jsonl --corpus pile.parquet --out results/loss
  llmgeom loss pythia-1b --corpus hf:wikitext:wikitext-103-v1:train --recipe paper
  llmgeom loss model.gguf --corpus books/ --max-length 1024
  llmgeom loss qwen2.5-7b --corpus wiki.txt --device-map auto --dtype bfloat16
  llmgeom loss opt-1.3b --corpus wiki.txt --quantization 8bit    # as the authors (CUDA GPU)
  llmgeom fit loss results/loss/losses.csv
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``loss`` subcommand."""
    p = subparsers.add_parser(
        "loss",
        help="cross-entropy of a causal LM on text corpora (feeds `fit loss`)",
        description="Cross-entropy (nats/token) of a causal language model on text corpora.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="Hugging Face model folder, Hub id or paper alias (see `llmgeom models`), .gguf file",
    )
    add_text_arguments(p, LossOptions, out_default=DEFAULT_OUT)
    add_arguments(p, ModelOptions)  # --dtype, --device, --device-map
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model once, compute its loss on every corpus, write the results."""
    from .._atomic import ensure_writable_dir
    from ..text.lm import load_model
    from ..text.loss import compute_loss, save_loss

    opts = from_namespace(LossOptions, args)
    model_opts = from_namespace(ModelOptions, args)
    ensure_writable_dir(args.out)  # before loading anything
    corpora = open_corpora(args.corpus, opts)
    loaded = load_model(
        args.model,
        revision=args.revision,
        **model_opts.to_dict(),
        quantization=opts.quantization,
        trust_remote_code=args.trust_remote_code,
        progress=False if args.no_progress else None,
    )
    batch_tokens = opts.batch_tokens
    if opts.batch_size:  # whole documents per pass: no token budget
        batch_tokens = 1 << 62
    for corpus in corpora:
        result = compute_loss(
            loaded,
            corpus=corpus,
            samples=opts.samples,
            max_length=opts.max_length,
            batch_tokens=batch_tokens,
            batch_size=opts.batch_size,
            progress=False if args.no_progress else None,
        )
        print(result.summary())
        for path in save_loss(result, args.out):
            print(f"wrote {path}")
    return 0
