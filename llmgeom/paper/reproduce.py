"""``llmgeom reproduce paper``: the paper's numbers and figures from one command.

Steps, each resumable because each is a sweep or writes its own files:

1. the sweep of ``configs/paper-27.toml`` (27 models: measure, loss on four corpora, token
   frequencies of four tokenizers) into ``OUT``;
2. the toy presets (``paper-small``, ``paper-large``, the CPU phase diagram ``phase-small``, the
   activation densities ``density``, and the paper's full ``phase`` grid where a GPU is present;
   one unit per run) into ``OUT/toy``;
3. the three fits, exactly as ``llmgeom fit`` makes them (:func:`llmgeom.fits.fit_overlap`,
   :func:`~llmgeom.fits.fit_loss`, :func:`~llmgeom.fits.fit_chinchilla` with their defaults,
   then ``save``), into ``OUT/fits``: the overlap law on the measure results, the width-loss
   law on ``OUT/losses.csv``, the Chinchilla check;
4. the report (``llmgeom report OUT --out OUT/report``).

Before anything runs, the plan is printed with a rough estimate of the bytes to download and
the compute time; ``dry_run`` stops there. ``config`` and ``models`` point the command at
another sweep config or a subset of its models (the tests run it on tiny stand-ins).

Example:
    >>> r = reproduce_paper("paper-out", models=["gpt2", "pythia-70m"], toy=(), dry_run=True)
    reproduce paper: 2 measure + 8 loss + 16 freq + 0 toy unit(s) (none done) in .../paper-out
    ...
    >>> r.exit_code, r.sweep is None
    (0, True)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LlmgeomError, one_line

if TYPE_CHECKING:
    from ..fits import FitResult

PAPER_CONFIG = "paper-27.toml"
TOY_PRESETS = ("paper-small", "paper-large", "phase-small", "density")
GPU_TOY_PRESETS = ("phase",)  # the 170-run grid: added to the default where a GPU is present


def default_toy_presets(gpu: bool | None = None) -> tuple[str, ...]:
    """The toy presets ``reproduce`` runs by default: :data:`TOY_PRESETS`, and
    :data:`GPU_TOY_PRESETS` too where ``gpu`` (default: whether torch sees a CUDA device).

    Example:
        >>> default_toy_presets(gpu=False)
        ('paper-small', 'paper-large', 'phase-small', 'density')
        >>> default_toy_presets(gpu=True)[-1]
        'phase'
    """
    if gpu is None:
        import torch

        gpu = torch.cuda.is_available()
    return TOY_PRESETS + (GPU_TOY_PRESETS if gpu else ())


DEFAULT_OUT = "results/paper"
FITS = ("overlap", "loss", "chinchilla")


@dataclass
class ReproduceResult:
    """What ``reproduce`` did: the two sweeps, the fits written or failed, the report."""

    out: Path
    sweep: Any = None  # SweepResult of the models
    toy: Any = None  # SweepResult of the toy presets
    fits: dict[str, list[str]] = field(default_factory=dict)  # fit -> files written
    fit_errors: dict[str, str] = field(default_factory=dict)  # fit -> one-line error
    report: Any = None  # llmgeom.report's ReportResult
    report_error: str | None = None

    @property
    def exit_code(self) -> int:
        """1 when a unit, a fit or the report failed, else 0."""
        failed = any(s is not None and s.exit_code for s in (self.sweep, self.toy))
        return 1 if failed or self.fit_errors or self.report_error else 0


def _toy_config(out: Path, toy: tuple[str, ...]) -> Any:
    from ..sweep.config import SweepConfig, ToySpec

    specs = []
    for item in toy:
        path = Path(item).expanduser()
        if path.is_file():
            specs.append(ToySpec(path.stem, source=str(path.resolve())))
        else:
            specs.append(ToySpec(f"toy-{item.removeprefix('toy-')}", source=item))
    for spec in specs:
        spec.load()  # a bad preset fails before anything runs
    return SweepConfig(None, out / "toy", (), toy=tuple(specs))


def _plan_line(units: list, toy_units: list, out: Path, done: int) -> str:
    counts = {kind: sum(u.kind == kind for u in units) for kind in ("measure", "loss", "freq")}
    parts = " + ".join(f"{n} {kind}" for kind, n in counts.items())
    state = "none done" if not done else f"{done} done"
    return f"reproduce paper: {parts} + {len(toy_units)} toy unit(s) ({state}) in {out}"


def _fit(name: str, fit: Callable[[], FitResult], out: Path, result: ReproduceResult,
         echo: bool) -> None:  # fmt: skip
    """Run one fit and save it into ``out``; the files in ``result.fits``, or its error."""
    try:
        fitted = fit()
        paths = fitted.save(out)
    except (LlmgeomError, OSError) as err:
        result.fit_errors[name] = one_line(str(err)) or type(err).__name__
        if echo:
            print(f"fit {name}: failed: {result.fit_errors[name]}")
        return
    result.fits[name] = [p.name for p in paths]
    if echo:
        print(fitted.summary())
        print("wrote " + "  ".join(str(p) for p in paths))


def run_fits(out: Path, measure_files: list[Path], echo: bool = True) -> ReproduceResult:
    """The three fits of the paper into ``out/fits`` (as ``llmgeom fit`` writes them)."""
    from ..fits import fit_chinchilla, fit_loss, fit_overlap
    from ..text.loss import LOSSES_CSV

    result = ReproduceResult(out)
    fits = out / "fits"
    present = [p for p in measure_files if p.is_file()]
    if present:
        _fit("overlap", lambda: fit_overlap(present), fits, result, echo)
    else:
        result.fit_errors["overlap"] = "no measure result to fit"
    table = out / LOSSES_CSV
    if table.is_file():
        _fit("loss", lambda: fit_loss(table), fits, result, echo)
    else:
        result.fit_errors["loss"] = f"no {LOSSES_CSV} to fit"
    _fit("chinchilla", fit_chinchilla, fits, result, echo)
    return result


def _build_report(out: Path, result: ReproduceResult, echo: bool) -> None:
    from ..report import build_report

    try:
        result.report = build_report(out, out / "report")
    except Exception as err:  # the report's own failure is recorded, the results stay
        result.report_error = one_line(str(err)) or type(err).__name__
        if echo:
            print(f"report: failed: {result.report_error}")
        return
    if echo:
        missing = result.report.missing
        note = f" ({len(missing)} figure(s) missing: {', '.join(missing)})" if missing else ""
        print(f"report: {result.report.index_html}{note}")


def reproduce_paper(
    out: str | os.PathLike[str] | None = None,
    *,
    config: str | os.PathLike[str] | None = None,
    models: list[str] | None = None,
    toy: tuple[str, ...] | list[str] = TOY_PRESETS,
    executor: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    echo: bool = True,
) -> ReproduceResult:
    """Run the sweep, the toy presets, the fits and the report (see the module docstring).

    ``toy`` left at :data:`TOY_PRESETS` means :func:`default_toy_presets` (the full ``phase``
    grid added where a GPU is present)."""
    from ..configs import config_path
    from ..sweep.config import load_config
    from ..sweep.engine import run_sweep
    from ..sweep.estimate import estimate
    from ..sweep.plan import expand_units
    from ..sweep.sweep_options import SweepOptions
    from ..sweep.units import unit_done

    # checked as `llmgeom sweep` checks them, naming the parameter (also in a dry run)
    SweepOptions(executor=executor, jobs=jobs, address=address, progress=progress)
    cfg = load_config(config or config_path(PAPER_CONFIG), out=out or DEFAULT_OUT)
    if models:
        cfg = cfg.with_models(list(models))
    root = Path(cfg.out)
    toy = default_toy_presets() if tuple(toy) == TOY_PRESETS else tuple(toy)
    toy_cfg = _toy_config(root, toy)
    units = expand_units(cfg)
    toy_units = expand_units(toy_cfg) if toy_cfg.toy else []
    done = [u for u in units if unit_done(u, str(root))]
    done += [u for u in toy_units if unit_done(u, str(toy_cfg.out))]
    todo = [u for u in units + toy_units if u not in done]
    result = ReproduceResult(root)
    if echo:
        print(_plan_line(units, toy_units, root, len(done)))
        for line in estimate(todo, cfg).lines():
            print(f"  {line}")
        print("  then: fit overlap, fit loss, fit chinchilla into fits/, and the report")
    if dry_run:
        return result
    options: dict[str, Any] = {
        "executor": executor,
        "jobs": jobs,
        "address": address,
        "progress": progress,
    }
    result.sweep = run_sweep(cfg, units=units, echo=echo, **options)
    if toy_units:
        result.toy = run_sweep(toy_cfg, units=toy_units, echo=echo, **options)
    measured = [root / u.outputs[0] for u in units if u.kind == "measure"]
    fits = run_fits(root, measured, echo)
    result.fits, result.fit_errors = fits.fits, fits.fit_errors
    _build_report(root, result, echo)
    if echo:
        state = "complete" if not result.exit_code else "incomplete (see above)"
        print(f"reproduce paper: {state}; results in {root}")
    return result
