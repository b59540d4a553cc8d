"""``llmgeom measure``: overlap statistics of one or more models' output embeddings.

The analysis options come from :class:`llmgeom.options.MeasureOptions` (declared once there);
this module adds what is about files: ``--out``, ``--plot``, ``--save-arrays`` (and, with
``--fold-norm`` and a LayerNorm bias, the per-token logit offsets as ``.logit_offset.npy``).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="llmgeom")
    >>> register(parser.add_subparsers(dest="command"))
    >>> options = _options(parser.parse_args(["measure", "gpt2", "--sample", "500", "--plot"]))
    >>> options.pairs, options.sample_rows, options.bins, options.time_budget
    ('sample', 500, 200, 60.0)
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..options import DEFAULT_TIME_BUDGET_S, PLOT_BINS, MeasureOptions, add_arguments

EPILOG = f"""\
what is measured (rows normalised exactly: w / |w|; zero rows have no direction and are
excluded, and the summary says how many):
  mean cos^2      all pairs i<j, exact via the Gram identity (the paper's "mean square overlap")
  mean/std |cos|  over all pairs i<j (the authors' mean_over/std_over): exact blocked pass, or
                  estimated from random pairs with 95% intervals (see --pairs)
  max |cos|       per token, with its partner (exact pass only); a histogram of cos (--bins)
  references      random vectors 1/m, the frame bound (n-m)/(m(n-1))
  spectrum        eigenvalues of W^T W (unit rows; in the JSON): participation ratio, entropy
                  rank, stable rank of the raw W, eigenvalues above the Marchenko-Pastur edge,
                  packing efficiency, share of mean cos^2 in the top 1/2/5/10 directions

cost: mean cos^2 takes seconds (O(n m^2)); the exact pass is O(n^2 m). With --pairs auto (the
default) its time is predicted from a measured matmul rate and printed; it runs when under
--time-budget ({DEFAULT_TIME_BUDGET_S:g} s), else as many random rows as fit in the budget are
compared with every row (mean/std |cos| with 95% intervals, unbiased) and the summary says so.

examples:
  llmgeom measure gpt2                                # Hub alias: only the head is downloaded
  llmgeom measure EleutherAI/pythia-410m --revision step143000
  llmgeom measure ./my-checkpoint --out results/      # local HF directory (safetensors or .bin)
  llmgeom measure head.safetensors --tensor lm_head.weight
  llmgeom measure model.gguf --pairs gram             # only the exact mean cos^2 (fast)
  llmgeom measure qwen2.5-7b --pairs exact            # all 11.6e9 pairs, however long it takes
  llmgeom measure qwen2.5-72b --sample-rows 2000           # 2000 random rows x all rows, 95% CIs
  llmgeom measure pythia-70m --rows tokenizer --center   # variants: drop padding rows, centre
  llmgeom measure gpt2 --fold-norm     # the matrix that makes the logits: ln_f's weight x rows
  llmgeom measure gpt2 --plot                  # also PNGs: cos histogram, spectrum vs random
  llmgeom measure gpt2 --weights gpt2.wikitext.counts.npz   # frequency-weighted interference
  llmgeom measure head.npy --name my-model --family mine     # labels for the record and the fits

--weights COUNTS.npz (token counts, e.g. from `llmgeom freq`; p_i = c_i / sum c over the rows
used) adds weighted mean cos^2 = sum_(i!=j) p_i p_j cos^2_ij / sum_(i!=j) p_i p_j (exact, Gram
identity), the same for |cos| (exact pass; interval when sampled) and the effective number of
tokens 1 / sum p_i^2. Counts shorter than the head are padded with zeros; longer is an error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``measure`` subcommand."""
    p = subparsers.add_parser(
        "measure",
        help="measure the overlap geometry of output embeddings",
        description="Measure pairwise overlaps of the rows of a model's output embedding.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="checkpoint directory, weight file (.safetensors/.bin/.npy/.gguf), "
        "Hub repo id or alias",
    )
    p.add_argument(
        "--out",
        default="results",
        metavar="DIR",
        help="folder for the JSON results (default: %(default)s)",
    )
    add_arguments(p, MeasureOptions)  # every analysis option, declared once in MeasureOptions
    p.add_argument(
        "--plot",
        action="store_true",
        help="also write PNGs: histogram of cos against random vectors' and row norms "
        "(.png), eigenvalue density against the Marchenko-Pastur law (.spectrum.png)",
    )
    p.add_argument(
        "--save-arrays",
        action="store_true",
        help="also write per-token max |cos| and partner as .npz",
    )
    p.set_defaults(func=run)


def _save_arrays(path, arrays) -> None:
    import numpy as np

    from .._atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def _save_npy(path, array) -> None:
    import numpy as np

    from .._atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


class _StdoutHandler(logging.Handler):
    """Print records on whatever ``sys.stdout`` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stdout, flush=True)


@contextmanager
def _progress_messages_on_stdout() -> Iterator[None]:
    """Print the ``llmgeom.progress`` messages (pass-time estimates) on stdout meanwhile."""
    from ..geometry.measurement import (
        PROGRESS_LOGGER,  # here: building the CLI parser imports no torch
    )

    logger = logging.getLogger(PROGRESS_LOGGER)
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("  %(message)s"))
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _options(args: argparse.Namespace) -> MeasureOptions:
    """The validated :class:`MeasureOptions` of the command line (``--plot``: 200 bins)."""
    from ..options import from_namespace

    extra = {"bins": PLOT_BINS} if args.plot and args.bins is None else {}
    return from_namespace(MeasureOptions, args, **extra)


def _write_outputs(report, args: argparse.Namespace) -> list[str]:
    """The JSON (merged with an earlier result of the same tensor), PNG and NPZ; their lines."""
    from ..records.measurement import save_record

    saved = save_record(report.to_dict(), args.out)
    lines = [saved.describe()]
    if report.logit_offset is not None:  # --fold-norm with a LayerNorm bias: b . w_j per token
        offset_path = saved.path.with_suffix(".logit_offset.npy")
        _save_npy(offset_path, report.logit_offset)
        lines.append(f"wrote {offset_path}")
    if args.save_arrays:
        if report.arrays:
            _save_arrays(saved.path.with_suffix(".npz"), report.arrays)
            lines.append(f"wrote {saved.path.with_suffix('.npz')}")
        else:
            lines.append("no .npz written: per-token arrays come from the exact pass only")
    if args.plot:
        from ..geometry.plot import PNG_DPI, plot_measurement
        from ..plotting import save_png

        png = save_png(plot_measurement(report), saved.path.with_suffix(".png"), dpi=PNG_DPI)
        lines.append(f"wrote {png}")
        if report.spectrum is not None:
            path = saved.path.with_suffix(".spectrum.png")
            lines.append(f"wrote {save_png(report.spectrum.figure(), path, dpi=PNG_DPI)}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Measure every source; one JSON per source; exit 1 if any failed."""
    from .._atomic import ensure_writable_dir
    from ..errors import LlmgeomError
    from ..geometry.measurement import measure

    options = _options(args)
    if options.name is not None and len(args.sources) > 1:
        from ..errors import ConfigError

        raise ConfigError(
            f"--name labels one model, and {len(args.sources)} sources were given: measure them "
            "one at a time (or name them in a sweep config's [[models]])"
        )
    if options.weights is not None:  # a bad counts file fails before anything is loaded
        from ..geometry.weights import load_counts

        options = options.replace(weights=load_counts(options.weights))
    ensure_writable_dir(args.out)  # before any loading or computing
    failures = 0
    for source in args.sources:
        try:
            with _progress_messages_on_stdout():
                report = measure(source, options=options)
            written = _write_outputs(report, args)
        except LlmgeomError as err:
            if len(args.sources) == 1:
                raise
            message = str(err) if str(err).startswith(str(source)) else f"{source}: {err}"
            print(f"llmgeom measure: error: {message}", file=sys.stderr)
            failures += 1
            continue
        print(report.summary())
        for line in written:
            print(f"  {line}")
    return 1 if failures else 0
