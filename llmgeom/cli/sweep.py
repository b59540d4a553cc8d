"""``llmgeom sweep CONFIG.toml``: many models, analyses and corpora, resumable.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="llmgeom")
    >>> register(p.add_subparsers(dest="command"))
    >>> args = p.parse_args(["sweep", "paper-27.toml", "--jobs", "2", "--dry-run"])
    >>> args.executor, args.jobs, args.dry_run
    ('local', 2, True)
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:  # imported on use at run time, as below
    from ..sweep.config import SweepConfig
    from ..sweep.units import Unit

EPILOG = """\
the config (TOML; relative paths are relative to its folder):
  out = "results/paper"
  models = ["gpt2", "pythia-70m", "./ckpt"]  # or [[models]]: source, name, revision, family
  revisions = ["step1000", "step143000"]      # expand Hub models over training steps
  [measure]                                   # llmgeom measure's options: pairs, rows, ...
  [loss]                                      # corpora = [...], samples, max_length, dtype, recipe
  [freq]                                      # corpora = [...], tokens
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


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    from ..sweep.executors import executor_names

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
    p.add_argument(
        "--executor",
        default="local",
        choices=executor_names(),
        help="where units run (default: local)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="output folder instead of the config's out (relative to here)"
    )
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to join (--executor ray)")
    p.add_argument(
        "--jobs", type=_jobs, default=None, metavar="N", help="units at once (default: 1 for local)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimate only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    from ..sweep.config import load_config
    from ..sweep.engine import run_sweep
    from ..sweep.plan import expand_units

    if args.address and args.executor != "ray":
        raise ConfigError("--address joins a Ray cluster: use it with --executor ray")
    config = load_config(args.config, out=args.out)
    units = expand_units(config)
    if args.dry_run:
        print_plan(units, str(config.out), config)
        return 0
    result = run_sweep(
        config,
        executor=args.executor,
        jobs=args.jobs,
        address=args.address,
        units=units,
        progress=False if args.no_progress else None,
    )
    sys.stdout.flush()
    return result.exit_code
