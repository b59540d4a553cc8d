"""``llmgeom reproduce paper``: the sweep of the 27 models, the toy presets, the fits, the report.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="llmgeom")
    >>> register(p.add_subparsers(dest="command"))
    >>> args = p.parse_args(["reproduce", "paper", "--models", "gpt2,pythia-70m", "--dry-run"])
    >>> args.target, args.models, args.dry_run, args.toy
    ('paper', 'gpt2,pythia-70m', True, None)
"""

from __future__ import annotations

import argparse

EPILOG = """\
steps (each resumable: a re-run skips what is done):
  1. llmgeom sweep configs/paper-27.toml     27 models: measure, loss on 4 corpora, freq
  2. the toy presets paper-small, paper-large, phase-small, density (+ phase on a GPU) into OUT/toy
  3. llmgeom fit overlap | loss | chinchilla into OUT/fits
  4. llmgeom report OUT --out OUT/report

The plan and a rough estimate of the download and compute time are printed first. The
models need the network (the loss units download whole models; a GPU for the large ones), the
hf: corpora the `corpora` extra.

examples:
  llmgeom reproduce paper --dry-run
  llmgeom reproduce paper --out results/paper --jobs 2
  llmgeom reproduce paper --models gpt2,pythia-70m --no-toy     # a quick subset
  llmgeom reproduce paper --executor ray --address auto
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    from ..options import add_arguments
    from ..paper.reproduce import DEFAULT_OUT, TOY_PRESETS
    from ..sweep.sweep_options import SweepOptions

    p = subparsers.add_parser(
        "reproduce",
        help="every number and figure of the paper from one command",
        description="Reproduce the paper: the model sweep, the toy presets, the fits, the report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", choices=("paper",), help="what to reproduce")
    p.add_argument("--out", metavar="DIR", help=f"results folder (default: {DEFAULT_OUT})")
    p.add_argument(
        "--config", metavar="FILE", help="another sweep config (default: configs/paper-27.toml)"
    )
    p.add_argument("--models", metavar="A,B", help="only these models of the config")
    p.add_argument(
        "--toy",
        action="append",
        metavar="PRESET",
        help=f"toy preset or file (repeatable; default: {', '.join(TOY_PRESETS)})",
    )
    p.add_argument("--no-toy", action="store_true", help="skip the toy presets")
    add_arguments(p, SweepOptions, names=("executor", "jobs", "address", "progress"))  # as sweep's
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimate only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run :func:`llmgeom.paper.reproduce.reproduce_paper` with the command line's options."""
    from ..options import from_namespace
    from ..paper.reproduce import TOY_PRESETS, reproduce_paper
    from ..sweep.sweep_options import SweepOptions

    run = from_namespace(SweepOptions, args)  # checked as llmgeom sweep's options are
    toy = () if args.no_toy else tuple(args.toy or TOY_PRESETS)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    result = reproduce_paper(
        args.out,
        config=args.config,
        models=models,
        toy=toy,
        executor=run.executor,
        jobs=run.jobs,
        address=run.address,
        dry_run=args.dry_run,
        progress=run.progress,
    )
    return result.exit_code
