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
from ..devices import DEVICE_HELP, resolve_device
from ..errors import ConfigError

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


def _defaults() -> dict[str, str]:
    """The defaults of :class:`ToyConfig` and its default run, as help texts show them.

    Read from the dataclasses, so the help cannot drift from what a run uses.

    Example:
        >>> d = _defaults()
        >>> d["n"], d["m"], d["gamma"], d["warmup"]
        ('1000', '10,15,25,39,63,100', '-1', '10% of --steps')
    """
    from ..toy.config import ToyConfig

    cfg = ToyConfig()
    run = cfg.runs[0]

    def shown(value: Any) -> str:
        if value is None:
            return "all"
        if isinstance(value, tuple):
            return ",".join(shown(v) for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    out = {name: shown(getattr(cfg, name)) for name in ("n", "m", "steps", "batch", "lr", "seed")}
    out |= {name: shown(getattr(cfg, name)) for name in ("loss_scale", "eval_samples")}
    out |= {name: shown(getattr(cfg, name)) for name in ("fit_m_min", "fit_m_max")}
    out |= {name: shown(getattr(run, name)) for name in ("gamma", "alpha", "family")}
    out |= {name: shown(getattr(run, name)) for name in ("density", "decay", "seeds")}
    out["warmup"] = f"{100 * cfg.warmup_steps / cfg.steps:g}% of --steps"
    out["final_lr"] = f"{100 * cfg.final_lr_fraction:g}"
    return out


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
    from ..toy.config import FAMILIES

    d = {k: v.replace("%", "%%") for k, v in _defaults().items()}  # argparse %-formats help
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
    src.add_argument("--preset", help="shipped preset: quick, paper-small, paper-large")
    src.add_argument("--config", type=Path, help="a TOML experiment file")
    run.add_argument("--n", type=int, help=f"number of features (default {d['n']})")
    run.add_argument("--m", help=f"widths, comma-separated (default {d['m']})")
    run.add_argument(
        "--gamma", help=f"superposition dial γ, comma-separated (default {d['gamma']})"
    )
    run.add_argument(
        "--alpha", help=f"frequency exponent α, comma-separated (default {d['alpha']})"
    )
    run.add_argument(
        "--family", help=f"frequency family: {', '.join(FAMILIES)} (default {d['family']})"
    )
    run.add_argument(
        "--density", type=float, help=f"activation density E = Σp (default {d['density']})"
    )
    run.add_argument(
        "--decay", type=float, help=f"length scale of the exp family (default {d['decay']})"
    )
    run.add_argument(
        "--seeds", help=f"init seeds (replicates), comma-separated (default {d['seeds']})"
    )
    run.add_argument("--steps", type=int, help=f"training steps (default {d['steps']})")
    run.add_argument("--batch", type=int, help=f"batch size (default {d['batch']})")
    run.add_argument("--lr", type=float, help=f"peak learning rate (default {d['lr']})")
    run.add_argument("--warmup", type=int, help=f"warm-up steps (default {d['warmup']})")
    run.add_argument("--seed", type=int, help=f"seed of the data streams (default {d['seed']})")
    run.add_argument(
        "--loss-scale",
        type=float,
        help=f"multiply the loss by this before backward (default {d['loss_scale']}; "
        "authors' large runs: 100)",
    )
    run.add_argument(
        "--fit-m-min", type=int, help=f"fit α_m on widths m >= this (default: {d['fit_m_min']})"
    )
    run.add_argument(
        "--fit-m-max", type=int, help=f"fit α_m on widths m <= this (default: {d['fit_m_max']})"
    )
    run.add_argument(
        "--eval-samples",
        type=int,
        help=f"fresh samples for the final loss (default {d['eval_samples']})",
    )
    run.add_argument("--name", help="experiment name; files are toy-NAME.json/_loss.png/_phi.png")
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
    _common(sweep)
    sweep.set_defaults(func=_cmd_sweep)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("results/toy"), help="output folder (default results/toy)"
    )
    parser.add_argument("--device", help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
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
    from ..toy.config import ToyConfig, config_from_dict, load_config

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
    run_fields = {"family": args.family, "density": args.density, "decay": args.decay}
    if gammas or alphas or seeds or any(v is not None for v in run_fields.values()):
        shared = {k: run0[k] for k in ("family", "density", "decay", "seeds")}
        shared.update({k: v for k, v in run_fields.items() if v is not None})
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
    m = _parse_list(args.m, int, "--m")
    scalar = {
        "n": args.n,
        "m": m,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "loss_scale": args.loss_scale,
        "fit_m_min": args.fit_m_min,
        "fit_m_max": args.fit_m_max,
        "eval_samples": args.eval_samples,
        "name": args.name,
        "device": args.device,
        "threads": args.threads,
    }
    if args.steps is not None and args.warmup is None and data["warmup"] is not None:
        data["warmup"] = round(data["warmup"] * args.steps / base.steps)  # keep the proportion
    if args.warmup is not None:
        data["warmup"], data["warmup_fraction"] = args.warmup, None
    data.update({k: v for k, v in scalar.items() if v is not None})
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
