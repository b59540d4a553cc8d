"""``llmgeom tokens``: every token of a head and its place in the geometry.

The analysis options come from :class:`llmgeom.options.tokens.TokensOptions` (declared once
there); this module adds what is about files: ``--out``, ``--csv``, ``--no-plot``,
``--no-html``.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="llmgeom")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["tokens", "gpt2", "--counts", "c.npz", "--csv"])
    >>> args.model, args.counts, args.csv, args.out
    ('gpt2', 'c.npz', True, 'results/tokens')
"""

from __future__ import annotations

import argparse
from typing import Any

from ..options import add_arguments
from ..options.tokens import TokensOptions

DEFAULT_OUT = "results/tokens"

EPILOG = """\
per token (one row each, in id order, into NAME.tokens.parquet, or .csv with --csv):
  id, string          the id and the tokenizer's decode([id]) (the model's own tokenizer: its
                      folder, GGUF file or Hub repo; empty without one)
  row_norm            |w_i|
  interference        mean cos^2 with every other token, exact: (u_i^T G u_i - 1) / (n - 1)
                      with G = U^T U (unit rows), O(n m^2) for all tokens at once
  nearest_id, nearest_abs_cos
                      the token of largest |cos| and that |cos|: the exact pass over all pairs,
                      O(n^2 m), when it counts at most --exact-max-flops; else empty
with --counts COUNTS.npz (token counts, e.g. from `llmgeom freq`):
  weighted_interference  sum_(j!=i) p_j cos^2_ij / sum_(j!=i) p_j, p = counts (exact, Gram)
  count, frequency_rank  1 = the most frequent (ties by id); empty for tokens never seen
  frequency_projection   u_i . d: the unit row along the frequency direction d, the unit
                         coefficients of a ridge regression of log(1 + count) on the raw rows
                         (all tokens, count 0 included; alpha by RidgeCV's leave-one-out,
                         R^2 by 5-fold cross-validation, seed 0)
with --fold-norm (the final norm folded into the head: rows gamma * w_j, as the logits use them):
  logit_offset           b . w_j, the fixed logit offset of a LayerNorm bias b (none for RMSNorm)

under-trained tokens (Land & Bartolo 2024, "Fishing for Magikarp"), from the weights alone:
  undertrained_reference  rows known unused: beyond the tokenizer, unreachable or never-UTF-8
                      tokens, <unused..>/reserved names, and --reference-ids
  undertrained_indicator  1 - cos(w_i, mean of the reference rows), the rows' first principal
                      component removed; low = under-trained (empty without reference rows)
  input_norm          untied models: |e_i| of the input embedding; low = under-trained
  undertrained_candidate  ordinary tokens (reachable, not special, not reference) at or below
                      the --undertrained-percentile of the main indicator (input_norm when
                      present, else undertrained_indicator)
  undertrained_verify_max_prob  with --verify (the full model): the largest probability of
                      repeating the token over the authors' 3 prompts; < 0.01 = verified

NAME.tokens.json: the summary (mean/median/max interference, the --top most crowded tokens with
their strings and nearest neighbours, with counts the Spearman correlations of interference and
row norm with log frequency, the frequency direction: R^2 per fold, alpha, d, and mean cos^2
with d projected out of every row and the share of it d explains; the spectrum of the unit
rows' Gram matrix, the under-trained candidates, provenance); NAME.tokens.png (with counts):
both against frequency; NAME.undertrained.png: the indicators' histograms; NAME.tokens.html
(--no-html: not written): one self-contained page (no network) with the table, searchable and
sortable (the most crowded, the under-trained candidates, any token by string or id), the
figures and the spectrum against Marchenko-Pastur. Every file is named after the model, so
several models share a folder (`llmgeom report` on it links each model's page); a folded
head's files are NAME.folded.tokens.*, beside the unfolded ones.
The Parquet and CSV files need pyarrow: pip install 'llmgeom[tokens]'.

examples:
  llmgeom tokens gpt2
  llmgeom freq gpt2 --corpus wiki.txt       # writes results/freq/gpt2.wiki.counts.npz
  llmgeom tokens gpt2 --counts results/freq/gpt2.wiki.counts.npz
  llmgeom tokens ./my-checkpoint --csv --out results/tokens
  llmgeom tokens ./my-checkpoint --fold-norm                # the matrix that makes the logits
  llmgeom tokens qwen2.5-7b --exact-max-flops inf     # all pairs for the neighbours, however long
  llmgeom tokens ./my-checkpoint --verify --reference-ids 7-105   # check the candidates
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tokens`` subcommand."""
    p = subparsers.add_parser(
        "tokens",
        help="every token's interference, nearest neighbour and frequency, as a table",
        description="Place every token of a model's output embedding: its interference (mean\n"
        "cos^2 with all other tokens), nearest neighbour, row norm and, with counts, frequency.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="checkpoint directory, weight file (.safetensors/.bin/.npy/.gguf), Hub repo id or "
        "alias",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for the table, the summary and the figure (default: %(default)s)",
    )
    add_arguments(p, TokensOptions)
    p.add_argument("--csv", action="store_true", help="write the table as CSV, not Parquet")
    p.add_argument(
        "--no-plot",
        action="store_true",
        help="no figures (against frequency: with --counts; the under-trained histogram)",
    )
    p.add_argument(
        "--no-html", action="store_true", help="no page NAME.tokens.html (table, figures, summary)"
    )
    p.set_defaults(func=run)


# the page's figures that are also files of their own: figure id -> key of file_names()
_FIGURE_FILES = {"frequency": "figure", "undertrained": "undertrained_figure"}


def _write_figures(result: Any, drawn: list[tuple[str, bytes, str]], out: str) -> list[Any]:
    """``NAME.tokens.png`` (with counts) and ``NAME.undertrained.png`` (with an indicator) from
    the PNGs drawn once for the page (:func:`llmgeom.report.token_page.page_figures`)."""
    from pathlib import Path

    from .._atomic import atomic_path

    names = result.file_names()
    paths = []
    for figure_id, png, _ in drawn:
        if figure_id in _FIGURE_FILES:
            path = Path(out) / names[_FIGURE_FILES[figure_id]]
            with atomic_path(path) as tmp:
                tmp.write_bytes(png)
            paths.append(path)
    return paths


def run(args: argparse.Namespace) -> int:
    """Check everything, compute the table, write the files, print the summary."""
    from .._atomic import ensure_writable_dir
    from ..options import from_namespace
    from ..records.token_table import _pyarrow
    from .measure import _progress_messages_on_stdout

    options = from_namespace(TokensOptions, args)
    if options.counts is not None:  # a bad counts file fails before anything is loaded
        from ..geometry.weights import load_counts

        options = options.replace(counts=load_counts(options.counts))
    _pyarrow()  # a missing pyarrow fails before the work, not after
    ensure_writable_dir(args.out)

    from ..text.token_table import token_table

    with _progress_messages_on_stdout():
        result = token_table(args.model, options=options)
    paths = result.save(args.out, table_format="csv" if args.csv else "parquet")
    from ..report.token_page import page_figures, write_token_page

    drawn = [] if args.no_plot and args.no_html else page_figures(result, spectrum=not args.no_html)
    if not args.no_plot:
        paths.extend(_write_figures(result, drawn, args.out))
    if not args.no_html:
        paths.append(write_token_page(result, args.out, figures=drawn, table_file=paths[0].name))
    print(result.summary())
    for path in paths:
        print(f"  wrote {path}")
    return 0
