"""``llmgeom toy``: train the toy model of superposition and fit the model exponent α_m.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="llmgeom")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["toy", "run", "--preset", "quick", "--gamma=-1,0.5"])
    >>> args.toy_command, args.gamma
    ('run', '-1,0.5')
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._atomic import ensure_writable_dir
from ..devices import resolve_device
from ..errors import ConfigError
from ..options import add_arguments, given_values

DESCRIPTION = """\
The toy model of superposition y = ReLU(W Wᵀ x + b) with the superposition dial γ
(Liu, Liu & Gore 2025, §5): γ < 0 pulls rows of W to unit norm (strong superposition,
loss ∝ 1/m), γ > 0 is weight decay (weak superposition, loss = mass of the dropped features).

examples:
  llmgeom toy run --preset quick                       # README demo, a few minutes on 2 CPU cores
  llmgeom toy run --n 1000 --m 10,15,25,39,63,100 --gamma -1 --alpha 1 --steps 6000
  llmgeom toy sweep configs/toy-quick.toml configs/toy-paper-small.toml --out results/toy
"""

RUN_EPILOG = """\
examples:
  llmgeom toy run --preset quick
  llmgeom toy run --n 1000 --m 10,15,25,39,63,100 --gamma -1 --alpha 1 --steps 6000 --batch 1024
  llmgeom toy run --preset quick --gamma=-1,0,0.55 --alpha 2 --out results/toy --name dial
  llmgeom toy run --family exp --gamma -1 --m 8,16,32,64 --density 2 --device cuda
  llmgeom toy run --preset paper-large --device cuda      # loss_scale 100, fit on m >= 32

Without --preset the paper's small setting is used (n={n}, {steps} steps, batch {batch},
lr {lr:g}, warm-up {warmup_percent:g} % of the steps, cosine to {final_percent:g} %). Lists are
comma-separated; write a list that starts with a minus sign as --gamma=-1,0.55. Runs are the
grid --gamma x --alpha; runs with equal frequencies share every data batch and train together.
"""

SWEEP_EPILOG = """\
examples:
  llmgeom toy sweep configs/toy-quick.toml
  llmgeom toy sweep quick paper-small --out results/toy --threads 1
  llmgeom toy sweep paper-small --device cuda       # a shipped preset by name
  llmgeom toy sweep phase --device cuda             # Fig 4b grid: 170 runs, days on a CPU

A config is a TOML file: top-level n, m, steps, batch, lr, warmup, seed, loss_scale,
fit_m_min, fit_m_max, ... and either [[runs]] tables (gamma, alpha, family, density, seeds) or
top-level gamma/alpha lists (a grid).
"""


def _run_defaults() -> dict[str, str]:
    """The defaults of the default run's grid lists, as the help of --gamma/--alpha/--seeds shows
    them (read from :class:`~llmgeom.toy.config.ToyConfig`, so the help cannot drift).

    Example:
        >>> _run_defaults()
        {'gamma': '-1', 'alpha': '1', 'seeds': '0'}
    """
    from ..toy.config import ToyConfig

    run = ToyConfig().runs[0]
    return {
        "gamma": f"{run.gamma:g}",
        "alpha": f"{run.alpha:g}",
        "seeds": ",".join(map(str, run.seeds)),
    }


def _run_epilog() -> str:
    from ..toy.config import ToyConfig

    cfg = ToyConfig()
    return RUN_EPILOG.format(
        n=cfg.n,
        steps=cfg.steps,
        batch=cfg.batch,
        lr=cfg.lr,
        warmup_percent=100 * cfg.warmup_steps / cfg.steps,
        final_percent=100 * cfg.final_lr_fraction,
    )


def register(subparsers: Any) -> None:
    """Add ``toy`` with its ``run`` and ``sweep`` subcommands to ``subparsers``."""
    from ..toy.config import ToyConfig, ToyRun

    d = _run_defaults()
    toy = subparsers.add_parser(
        "toy",
        help="toy model of superposition with the weight-decay dial",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = toy.add_subparsers(dest="toy_command", metavar="{run,sweep}")
    toy.set_defaults(func=lambda args: _missing(toy))

    run = sub.add_parser(
        "run",
        help="train one experiment (a preset or options) and fit α_m",
        description="Train the toy model at several widths and fit loss ∝ m^-α_m.",
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = run.add_mutually_exclusive_group()
    src.add_argument(
        "--preset", help="shipped preset: quick, paper-small, paper-large, phase-small, ..."
    )
    src.add_argument("--config", type=Path, help="a TOML experiment file")
    experiment = run.add_argument_group(
        "experiment", "the TOML keys of the same names; a flag overrides --preset/--config"
    )
    add_arguments(experiment, ToyConfig)  # declared once, on ToyConfig's fields
    grid = run.add_argument_group(
        "runs", "the grid --gamma x --alpha, each with these frequencies and init seeds"
    )
    grid.add_argument(
        "--gamma", help=f"superposition dial γ, comma-separated (default {d['gamma']})"
    )
    grid.add_argument(
        "--alpha", help=f"frequency exponent α, comma-separated (default {d['alpha']})"
    )
    add_arguments(grid, ToyRun)  # --family, --density, --decay, declared on ToyRun
    grid.add_argument(
        "--seeds", help=f"init seeds (replicates), comma-separated (default {d['seeds']})"
    )
    _common(run)
    run.set_defaults(func=_cmd_run)

    sweep = sub.add_parser(
        "sweep",
        help="run one or more TOML experiment files",
        description="Run TOML experiment files (or shipped presets) one after another.",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("configs", nargs="+", help="TOML files or preset names")
    add_arguments(sweep, ToyConfig, names=("device", "threads"))  # override every file's
    _common(sweep)
    sweep.set_defaults(func=_cmd_sweep)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("results/toy"), help="output folder (default results/toy)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write the JSON only")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--save-models",
        action="store_true",
        help="also save trained W, b as toy-NAME_models.safetensors",
    )


def _missing(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _parse_list(text: str | None, kind: type, option: str) -> list | None:
    if text is None:
        return None
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"{option}: expected comma-separated {kind.__name__} values, got {text!r}"
        ) from None
    if not values:
        raise ConfigError(f"{option}: empty list")
    return values


def build_run_config(args: argparse.Namespace) -> Any:
    """The :class:`~llmgeom.toy.config.ToyConfig` described by ``llmgeom toy run`` options.

    Example:
        >>> import argparse
        >>> p = argparse.ArgumentParser(); register(p.add_subparsers(dest="command"))
        >>> cfg = build_run_config(p.parse_args(["toy", "run", "--gamma", "-1", "--steps", "500"]))
        >>> cfg.steps, cfg.warmup_steps, [r.gamma for r in cfg.runs]
        (500, 50, [-1.0])
    """
    from ..toy.config import ToyConfig, ToyRun, config_from_dict, load_config

    if args.preset or args.config:
        base = load_config(args.preset or args.config)
    else:
        base = ToyConfig(name="run")
    data = base.to_dict()
    data.pop("warmup_steps")
    data.pop("extra")
    run0 = data["runs"][0]
    gammas = _parse_list(args.gamma, float, "--gamma")
    alphas = _parse_list(args.alpha, float, "--alpha")
    seeds = _parse_list(args.seeds, int, "--seeds")
    run_fields = given_values(ToyRun, args)  # --family, --density, --decay
    if gammas or alphas or seeds or run_fields:
        shared = {k: run0[k] for k in ("family", "density", "decay", "seeds")}
        shared.update(run_fields)
        if seeds:
            shared["seeds"] = seeds
        if gammas is None and alphas is None:
            pairs = [(r["gamma"], r["alpha"]) for r in data["runs"]]
        else:
            pairs = [
                (g, a)
                for a in (alphas or sorted({r["alpha"] for r in data["runs"]}))
                for g in (gammas or sorted({r["gamma"] for r in data["runs"]}))
            ]
        data["runs"] = [{"gamma": g, "alpha": a, **shared} for g, a in pairs]
    given = given_values(ToyConfig, args)  # every flag of a ToyConfig field that was given
    if "steps" in given and "warmup" not in given and data["warmup"] is not None:
        data["warmup"] = round(data["warmup"] * given["steps"] / base.steps)  # keep the proportion
    if "warmup" in given:
        data["warmup_fraction"] = None
    data.update(given)
    return config_from_dict(data, source="llmgeom toy run")


def _execute(config: Any, args: argparse.Namespace) -> None:
    from ..toy.experiment import run_experiment
    from ..toy.report import format_summary

    doc, paths = run_experiment(
        config,
        args.out,
        progress=not args.no_progress,
        plots=not args.no_plots,
        save_models=args.save_models,
    )
    print(format_summary(doc))
    for path in paths:
        print(f"wrote {path}")


def _cmd_run(args: argparse.Namespace) -> int:
    if args.toy_command is None:  # pragma: no cover - argparse routes here only for "run"
        return 2
    config = build_run_config(args)
    resolve_device(config.device)  # a device that is not there fails before anything is written
    ensure_writable_dir(args.out)  # before minutes or hours of training
    _execute(config, args)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from ..toy.config import load_config

    configs = [load_config(c) for c in args.configs]  # validate every file before training
    configs = [c.with_overrides(device=args.device, threads=args.threads) for c in configs]
    for config in configs:
        resolve_device(config.device)
    ensure_writable_dir(args.out)  # before minutes or hours of training
    for i, config in enumerate(configs):
        if i:
            print()
        _execute(config, args)
    return 0
