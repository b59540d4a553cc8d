"""Configurations of toy-model experiments: validation, TOML presets, learning-rate rules.

An experiment shares ``n``, the widths ``m``, the step count, batch and schedule; it holds one or
more *runs* (γ, α, family, density, init seeds). Runs with the same frequencies share one data
stream and are trained together.

The fields that ``llmgeom toy run`` exposes declare their flag and help with
:func:`llmgeom.options.option`: the flag is the field's name with dashes, which is also its TOML
key, and the command line shows the dataclass default and validates with :meth:`ToyConfig.validate`.

Example:
    >>> cfg = ToyConfig(n=100, m=(5, 10, 20), steps=10, runs=(ToyRun(gamma=-1.0, alpha=1.0),))
    >>> cfg.lr_w(10), cfg.warmup_steps
    (0.01, 1)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..configs import config_path, is_a, read_toml_file
from ..devices import DEVICE_HELP
from ..errors import ConfigError
from ..options import is_number, option
from .config_checks import FAMILIES, check_config, check_run

DEFAULT_WIDTHS: tuple[int, ...] = (10, 15, 25, 39, 63, 100)  # the paper's small setting


def parse_widths(text: str) -> tuple[int, ...]:
    """The widths ``m`` from comma-separated text (the command line's ``--m``).

    Example:
        >>> parse_widths("8,16, 32")
        (8, 16, 32)
        >>> parse_widths("8,x")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: m must be comma-separated whole numbers, got '8,x'
    """
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"m must be comma-separated whole numbers, got {text!r}", parameter="m"
        ) from None


@dataclass(frozen=True)
class ToyRun:
    """One (γ, frequencies) setting, trained at every width of its experiment and every seed.

    Example:
        >>> ToyRun(gamma=0.55, alpha=2.0).regime
        'weak'
    """

    gamma: float
    alpha: float = 1.0
    family: str = option(
        "power", f"frequency family: {', '.join(FAMILIES)} (default {{default}})", flag="--family"
    )
    density: float = option(
        1.0, "activation density E = Σp (default {default:g})", flag="--density", kind=float
    )
    decay: float = option(
        400.0, "length scale of the exp family (default {default:g})", flag="--decay", kind=float
    )
    seeds: tuple[int, ...] = (0,)

    @property
    def regime(self) -> str:
        """``strong`` for γ < 0, ``weak`` for γ > 0, ``none`` for γ = 0."""
        return "strong" if self.gamma < 0 else "weak" if self.gamma > 0 else "none"

    @property
    def data_key(self) -> tuple:
        """Runs with equal keys draw identical data (they are trained together)."""
        return (self.family, float(self.alpha), float(self.density), float(self.decay))

    def validate(self) -> None:
        """Raise :class:`ConfigError` on an out-of-range field (:func:`check_run`)."""
        check_run(self)


@dataclass(frozen=True)
class ToyConfig:
    """A toy-model experiment (defaults: the paper's small setting, n = 1000).

    The learning rate of ``W`` at width ``m`` is ``lr · (lr_m_ref / m) ** lr_m_power`` (constant by
    default; the large setting uses ``0.02 · (8/m)^0.25``); the bias uses ``lr_bias_per_m / m`` if
    set, else ``lr_bias`` if set, else the rate of ``W``. The warm-up lasts ``warmup`` steps, or
    ``warmup_fraction`` of the run, by default 10 % (the paper's 2000 of 20000).

    ``loss_scale`` multiplies the loss before the gradient (the authors' large runs use 100): the
    gradients scale by it, which changes Adam's update only through its ``eps``; the reported
    losses are never scaled. ``fit_m_min`` / ``fit_m_max`` restrict the α_m fit to widths in
    ``[fit_m_min, fit_m_max]`` (default: every width); the authors fit their large runs on
    ``m >= 32`` for power and linear frequencies and on all widths for exponential ones.

    Example:
        >>> ToyConfig(n=10, m=(2, 3, 4), runs=(ToyRun(gamma=-1.0),)).steps
        20000
        >>> ToyConfig(n=100, m=(8, 16, 32, 64, 80), fit_m_min=16).fit_widths()
        (16, 32, 64, 80)
    """

    n: int = option(1000, "number of features (default {default})", flag="--n", kind=int)
    m: tuple[int, ...] = option(
        DEFAULT_WIDTHS,
        "widths, comma-separated (default {default})",
        flag="--m",
        parse=parse_widths,
        shown=",".join(map(str, DEFAULT_WIDTHS)),
    )
    runs: tuple[ToyRun, ...] = (ToyRun(gamma=-1.0),)
    steps: int = option(20000, "training steps (default {default})", flag="--steps", kind=int)
    batch: int = option(2048, "batch size (default {default})", flag="--batch", kind=int)
    lr: float = option(1e-2, "peak learning rate (default {default:g})", flag="--lr", kind=float)
    lr_m_ref: float = 1.0
    lr_m_power: float = 0.0
    lr_bias: float | None = None
    lr_bias_per_m: float | None = None
    warmup: int | None = option(
        None,
        "warm-up steps (default {default})",
        flag="--warmup",
        kind=int,
        shown="10% of --steps",  # warmup_steps: steps // 10 when neither warmup nor its fraction
    )
    warmup_fraction: float | None = None
    final_lr_fraction: float = 0.05
    loss_scale: float = option(
        1.0,
        "multiply the loss by this before backward (default {default:g}; authors' large runs: 100)",
        flag="--loss-scale",
        kind=float,
    )
    fit_m_min: int | None = option(
        None, "fit α_m on widths m >= this (default: all)", flag="--fit-m-min", kind=int
    )
    fit_m_max: int | None = option(
        None, "fit α_m on widths m <= this (default: all)", flag="--fit-m-max", kind=int
    )
    seed: int = option(0, "seed of the data streams (default {default})", flag="--seed", kind=int)
    eval_samples: int = option(
        65536,
        "fresh samples for the final loss (default {default})",
        flag="--eval-samples",
        kind=int,
    )
    device: str = option("auto", DEVICE_HELP, flag="--device")
    threads: int | None = option(
        None, "torch CPU threads (default: torch's choice)", flag="--threads", kind=int
    )
    log_every: int = 100
    name: str = option(
        "toy",
        "experiment name; files are toy-NAME.json/_loss.png/_phi.png (default: the preset's or "
        "file's name, else run)",
        flag="--name",
    )
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    # -- derived quantities ------------------------------------------------------------------
    @property
    def warmup_steps(self) -> int:
        """Warm-up length in steps: ``warmup``, else ``warmup_fraction`` of the run, else 10 %."""
        if self.warmup is not None:
            return int(self.warmup)
        if self.warmup_fraction is not None:
            return int(self.steps * self.warmup_fraction)
        return self.steps // 10

    def lr_w(self, m: int) -> float:
        """Peak learning rate of ``W`` at width ``m``."""
        return self.lr * (self.lr_m_ref / m) ** self.lr_m_power

    def lr_b(self, m: int) -> float:
        """Peak learning rate of the bias at width ``m``."""
        if self.lr_bias_per_m is not None:
            return self.lr_bias_per_m / m
        if self.lr_bias is not None:
            return self.lr_bias
        return self.lr_w(m)

    def fit_widths(self) -> tuple[int, ...]:
        """The widths the α_m fit uses: those in ``[fit_m_min, fit_m_max]`` (bounds optional).

        Example:
            >>> ToyConfig(n=50, m=(4, 8, 16, 32), fit_m_max=16).fit_widths()
            (4, 8, 16)
        """
        lo = self.fit_m_min if self.fit_m_min is not None else 0
        hi = self.fit_m_max if self.fit_m_max is not None else math.inf
        return tuple(m for m in self.m if lo <= m <= hi)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists).

        Example:
            >>> ToyConfig(n=10, m=(2, 3, 4)).to_dict()["m"]
            [2, 3, 4]
        """
        out = asdict(self)
        out["m"] = list(self.m)
        out["runs"] = [{**asdict(r), "seeds": list(r.seeds)} for r in self.runs]
        out["warmup_steps"] = self.warmup_steps
        return out

    def with_overrides(self, **changes: Any) -> ToyConfig:
        """A validated copy with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` with a clear message on any inconsistent field (naming
        it: ``llmgeom toy run`` shows the flag that set it); :func:`check_config`."""
        check_config(self)


_RUN_FIELDS = {f.name for f in fields(ToyRun)}
_CONFIG_FIELDS = {f.name for f in fields(ToyConfig)} - {"runs", "extra"}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def config_from_dict(data: dict[str, Any], source: str = "config") -> ToyConfig:
    """Build a :class:`ToyConfig` from a parsed TOML/JSON mapping.

    Runs come from ``[[runs]]`` tables (each may set ``gamma``, ``alpha``, ``family``, ``density``,
    ``decay``, ``seeds``; missing fields fall back to top-level values) or, without tables, from the
    grid of top-level ``gamma`` × ``alpha`` (each a number or a list).

    Example:
        >>> cfg = config_from_dict({"n": 50, "m": [4, 8, 16], "gamma": [-1, 0.5], "alpha": 1.0})
        >>> [r.gamma for r in cfg.runs]
        [-1.0, 0.5]
    """
    data = dict(data)
    run_tables = data.pop("runs", None)
    run_defaults = {k: data.pop(k) for k in list(data) if k in _RUN_FIELDS}
    unknown = sorted(set(data) - _CONFIG_FIELDS)
    if unknown:
        known = ", ".join(sorted(_CONFIG_FIELDS | _RUN_FIELDS | {"runs"}))
        raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)} (known: {known})")
    if run_tables is None:
        gammas = _as_list(run_defaults.pop("gamma", -1.0))
        alphas = _as_list(run_defaults.pop("alpha", 1.0))
        run_tables = [{"gamma": g, "alpha": a} for a in alphas for g in gammas]
    if not isinstance(run_tables, list) or not run_tables:
        raise ConfigError(f"{source}: 'runs' must be a non-empty list of tables")
    runs = []
    for i, table in enumerate(run_tables):
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: runs[{i}] must be a table")
        bad = sorted(set(table) - _RUN_FIELDS)
        if bad:
            raise ConfigError(
                f"{source}: runs[{i}] has unknown field(s) {', '.join(bad)} "
                f"(known: {', '.join(sorted(_RUN_FIELDS))})"
            )
        merged = {**{k: v for k, v in run_defaults.items() if k not in ("gamma", "alpha")}, **table}
        if "gamma" not in merged:
            raise ConfigError(f"{source}: runs[{i}] needs a gamma")
        runs.append(_make_run(merged, f"{source}: runs[{i}]"))
    if "m" in data:
        data["m"] = tuple(_as_list(data["m"]))
    try:
        return ToyConfig(runs=tuple(runs), **data)
    except TypeError as err:  # pragma: no cover - guarded by the field check above
        raise ConfigError(f"{source}: {err}") from None


def _make_run(table: dict[str, Any], where: str) -> ToyRun:
    table = dict(table)
    if "seeds" in table:
        table["seeds"] = tuple(_as_list(table["seeds"]))
    for key in ("gamma", "alpha", "density", "decay"):
        if key in table:
            if not is_number(table[key]):
                raise ConfigError(f"{where}: {key} must be a number, got {table[key]!r}")
            table[key] = float(table[key])
    run = ToyRun(**table)
    run.validate()
    return run


def load_config(path_or_preset: str | Path) -> ToyConfig:
    """Load a TOML experiment file, or a shipped preset by name (``quick``, ``paper-small``...).

    Example:
        >>> load_config("quick").name
        'quick'
    """
    path = Path(path_or_preset)
    if not is_a(path, "exists"):
        name = str(path_or_preset)
        if not name.endswith(".toml"):
            name = f"toy-{name.removeprefix('toy-')}.toml"
        try:
            path = config_path(name)
        except ConfigError:
            raise ConfigError(
                f"no config file or preset named {str(path_or_preset)!r}"
                f" (presets: {', '.join(list_presets())})"
            ) from None
    try:
        data = read_toml_file(path, "toy config")
    except FileNotFoundError:  # gone since exists() was asked
        raise ConfigError(f"no config file or preset named {str(path_or_preset)!r}") from None
    data.setdefault("name", path.stem.removeprefix("toy-"))
    try:
        return config_from_dict(data, source=str(path))
    except ConfigError as err:  # a value of the file: named by its key, with the file
        if not err.parameters:
            raise
        raise ConfigError(f"{path}: {err}") from None


def list_presets() -> list[str]:
    """Names of the shipped ``configs/toy-*.toml`` presets.

    Example:
        >>> "quick" in list_presets()
        True
    """
    from ..configs import config_dir

    return sorted(p.stem.removeprefix("toy-") for p in config_dir().glob("toy-*.toml"))
