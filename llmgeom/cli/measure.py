"""``llmgeom measure``: overlap statistics of one or more models' output embeddings."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
what is measured (rows normalised: w / (|w| + 1e-9)):
  mean cos^2      all pairs i<j, exact via the Gram identity (the paper's "mean square overlap")
  mean/std |cos|  over all pairs i<j (the authors' mean_over/std_over), exact blocked pass
  max |cos|       per token, with its partner; a histogram of cos
  references      random vectors 1/m, the frame bound (n-m)/(m(n-1)), effective dimension

examples:
  llmgeom measure gpt2                                # Hub alias: only the head is downloaded
  llmgeom measure EleutherAI/pythia-410m --revision step143000
  llmgeom measure ./my-checkpoint --out results/      # local HF directory (safetensors or .bin)
  llmgeom measure head.safetensors --tensor lm_head.weight
  llmgeom measure model.gguf --pairs gram             # only the exact mean cos^2 (fast)
  llmgeom measure qwen2.5-72b --sample 2000000        # estimates with 95% intervals
  llmgeom measure pythia-70m --rows tokenizer --center   # variants: drop padding rows, centre
  llmgeom measure gpt2 --plot                        # also a PNG: cos histogram vs random
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
    p.add_argument(
        "--pairs",
        choices=("exact", "sample", "gram"),
        default="exact",
        help="exact: all pairs (default); sample: random pairs with CIs; "
        "gram: only the exact mean cos^2",
    )
    p.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="estimate from N random pairs (implies --pairs sample)",
    )
    p.add_argument(
        "--rows",
        choices=("all", "tokenizer"),
        default="all",
        help="all rows as in the paper (default), or only the tokenizer's rows",
    )
    p.add_argument("--center", action="store_true", help="subtract the mean row first")
    p.add_argument("--tensor", metavar="NAME", help="tensor name of the head (default: automatic)")
    p.add_argument("--revision", metavar="REV", help="Hub branch, tag or commit")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda[:N]")
    p.add_argument(
        "--drop-nonfinite", action="store_true", help="skip rows with NaN/inf instead of failing"
    )
    p.add_argument(
        "--bins",
        type=int,
        help="exact histogram of cos with this many bins (default: 200 with --plot, else none)",
    )
    p.add_argument(
        "--memory-budget",
        metavar="SIZE",
        help="memory for one block of products, e.g. 512MB (default: automatic)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for --sample")
    p.add_argument(
        "--plot",
        action="store_true",
        help="also write a PNG: histogram of cos against random vectors', and row norms",
    )
    p.add_argument(
        "--save-arrays",
        action="store_true",
        help="also write per-token max |cos| and partner as .npz",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _save_arrays(path, arrays) -> None:
    import numpy as np

    from .._atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def run(args: argparse.Namespace) -> int:
    """Measure every source; one JSON per source; exit 1 if any failed."""
    from ..errors import ConfigError, LlmgeomError
    from ..measurement import measure
    from ..memory import parse_size
    from ..overlap import DEFAULT_BINS
    from ..results import write_record

    if args.sample is not None and args.sample < 2:
        raise ConfigError("--sample needs at least 2 pairs")
    if args.bins is not None and args.bins < 0:
        raise ConfigError("--bins must be >= 0")
    bins = args.bins if args.bins is not None else (DEFAULT_BINS if args.plot else 0)
    pairs = "sample" if args.sample is not None else args.pairs
    budget = parse_size(args.memory_budget) if args.memory_budget else None
    failures = 0
    for source in args.sources:
        try:
            report = measure(
                source,
                tensor=args.tensor,
                revision=args.revision,
                rows=args.rows,
                center=args.center,
                pairs=pairs,
                sample_pairs=args.sample or 1_000_000,
                seed=args.seed,
                bins=bins,
                device=args.device,
                drop_nonfinite=args.drop_nonfinite,
                memory_budget=budget,
                progress=False if args.no_progress else None,
            )
            path = write_record(report.to_dict(), args.out)
            if args.save_arrays and report.arrays:
                _save_arrays(path.with_suffix(".npz"), report.arrays)
            if args.plot:
                from ..measurement_plot import plot_measurement

                plot_measurement(report, path.with_suffix(".png"))
        except LlmgeomError as err:
            if len(args.sources) == 1:
                raise
            print(f"llmgeom measure: error: {source}: {err}", file=sys.stderr)
            failures += 1
            continue
        print(report.summary())
        print(f"  wrote {path}")
    return 1 if failures else 0
