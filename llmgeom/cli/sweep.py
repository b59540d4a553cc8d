"""``llmgeom sweep CONFIG.toml``: many models, analyses and corpora, resumable.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="llmgeom")
    >>> register(p.add_subparsers(dest="command"))
    >>> args = p.parse_args(["sweep", "paper-27.toml", "--jobs", "2", "--dry-run"])
    >>> args.executor, args.jobs, args.dry_run    # not given: the config's, else the default
    (None, 2, True)
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on use at run time, as below
    from ..sweep.config import SweepConfig
    from ..sweep.units import Unit

EPILOG = """\
the config (TOML; relative paths are relative to its folder):
  out = "results/paper"                       # and executor, jobs, address: as the flags
  models = ["gpt2", "pythia-70m", "./ckpt"]  # or [[models]]: source, name, revision, family
  revisions = ["step1000", "step143000"]      # expand Hub models over training steps
  [measure]                                   # llmgeom.measure's keywords: pairs, rows, ...
  [loss]                                      # corpora = [...] + the keywords of compute_loss
                                              # (samples, max_length...) and load_model (dtype...)
  [freq]                                      # corpora = [...] + count_tokens's: tokens, ...
  toy = ["toy-phase.toml"]                    # toy experiments: one unit per run

Each unit (model x analysis x corpus, or one toy run) writes exactly the files of the single
command, atomically. A re-run skips finished units, so an interrupted sweep resumes where it
stopped; a failed unit is recorded with its error in OUT/sweep-status.json and the others go on;
the exit status is 1 when a unit failed.

examples:
  llmgeom sweep configs/paper-27.toml --dry-run          # the plan: units, what is done, cost
  llmgeom sweep configs/pythia-training.toml --jobs 2
  llmgeom sweep configs/toy-phase.toml --executor ray   # a toy file: one unit per run,
                                                       # into results/toy (or --out)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand (its options derive from
    :class:`~llmgeom.sweep.sweep_options.SweepOptions`, as the config's top-level keys do)."""
    from ..options import add_arguments
    from ..sweep.sweep_options import SweepOptions

    p = subparsers.add_parser(
        "sweep",
        help="run measure/loss/freq/toy over many models and corpora, resumably",
        description="Run a sweep config: every model x analysis x corpus as a resumable unit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config", metavar="CONFIG.toml", help="the sweep config (or a shipped one by name)"
    )
    add_arguments(p, SweepOptions)  # --out, --executor, --jobs, --address, --no-progress
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimate only")
    p.set_defaults(func=run)


def print_plan(units: list[Unit], out: str, config: SweepConfig) -> None:
    """Each unit with its state (done or to run), then the rough estimate of the rest."""
    from ..sweep.estimate import estimate
    from ..sweep.units import unit_done

    todo = []
    width = max((len(u.id) for u in units), default=0)
    for unit in units:
        done = unit_done(unit, out)
        if not done:
            todo.append(unit)
        print(
            f"  {'done' if done else 'todo'}  {unit.id.ljust(width)}  -> {', '.join(unit.outputs)}"
        )
    print(f"{len(units)} unit(s) in {out}: {len(units) - len(todo)} done, {len(todo)} to run")
    for line in estimate(todo, config).lines():
        print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    """Parse the config, then print the plan (--dry-run) or run the units not yet done."""
    from ..options import given_values
    from ..sweep.config import load_config
    from ..sweep.engine import run_options, run_sweep
    from ..sweep.plan import expand_units
    from ..sweep.sweep_options import SweepOptions

    given = given_values(SweepOptions, args)
    config = load_config(args.config, out=given.pop("out", None))
    run_options(config, **given)  # checked before the plan is printed or anything runs
    units = expand_units(config)
    if args.dry_run:
        print_plan(units, str(config.out), config)
        return 0
    result = run_sweep(config, units=units, **given)
    sys.stdout.flush()
    return result.exit_code
