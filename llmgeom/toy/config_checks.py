"""The range checks of toy-model configurations (:meth:`ToyRun.validate
<llmgeom.toy.config.ToyRun.validate>` and :meth:`ToyConfig.validate
<llmgeom.toy.config.ToyConfig.validate>` call them): each raises :class:`ConfigError` with one
clear line that names the offending field (``llmgeom toy run`` shows the flag that set it).

Example:
    >>> from llmgeom.toy.config import ToyRun
    >>> check_run(ToyRun(gamma=-1.0, alpha=1.0))
    >>> check_run(ToyRun(gamma=-1.0, alpha=-2.0))
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: alpha (frequency exponent) must be >= 0, got -2.0
"""

from __future__ import annotations

import math
from typing import Any

from ..devices import check_device_name
from ..errors import ConfigError

FAMILIES: tuple[str, ...] = ("power", "exp", "linear")  # frequency families (data.py)


def is_int(value: Any) -> bool:
    """An int that is not a bool.

    Example:
        >>> is_int(3), is_int(True), is_int(3.0)
        (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool.

    Example:
        >>> is_number(0.5), is_number(float("nan")), is_number(False)
        (True, False, False)
    """
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_run(run: Any) -> None:
    """Raise :class:`ConfigError` on an out-of-range field of a :class:`~llmgeom.toy.config.ToyRun`.

    Example:
        >>> from types import SimpleNamespace
        >>> check_run(SimpleNamespace(gamma=0.5, alpha=1.0, family="power", density=-1.0,
        ...                           decay=400.0, seeds=(0,)))
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: density E must be > 0, got -1.0
    """
    if not is_number(run.gamma):
        raise ConfigError(
            f"gamma must be a finite number, got {run.gamma!r}",
            parameter="gamma",
        )
    if not is_number(run.alpha) or run.alpha < 0:
        raise ConfigError(
            f"alpha (frequency exponent) must be >= 0, got {run.alpha!r}",
            parameter="alpha",
        )
    if run.family not in FAMILIES:
        raise ConfigError(
            f"unknown frequency family {run.family!r}; choose one of {', '.join(FAMILIES)}"
        )
    if not is_number(run.density) or run.density <= 0:
        raise ConfigError(
            f"density E must be > 0, got {run.density!r}",
            parameter="density",
        )
    if not is_number(run.decay) or run.decay <= 0:
        raise ConfigError(
            f"decay must be > 0, got {run.decay!r}",
            parameter="decay",
        )
    if not run.seeds or not all(is_int(s) and s >= 0 for s in run.seeds):
        raise ConfigError(
            f"seeds must be a non-empty list of integers >= 0, got {run.seeds!r}",
            parameter="seeds",
        )
    if len(set(run.seeds)) != len(run.seeds):
        raise ConfigError(
            f"seeds must be distinct, got {list(run.seeds)}",
            parameter="seeds",
        )


def check_config(config: Any) -> None:
    """Raise :class:`ConfigError` on any inconsistent field of a
    :class:`~llmgeom.toy.config.ToyConfig` (its runs included).

    Example:
        >>> from llmgeom.toy.config import ToyConfig
        >>> ToyConfig(n=10, m=(2, 3, 3))
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: widths m must be distinct, got [2, 3, 3]
    """
    if not is_int(config.n) or config.n <= 0:
        raise ConfigError(
            f"n (number of features) must be a positive integer, got {config.n!r}",
            parameter="n",
        )
    if not config.m:
        raise ConfigError("m (widths) must list at least one width", parameter="m")
    for m in config.m:
        if not is_int(m) or m <= 0:
            raise ConfigError(f"every width m must be a positive integer, got {m!r}")
        if m >= config.n:
            raise ConfigError(
                f"width m={m} must be smaller than the number of features n={config.n}"
                " (superposition needs m < n)"
            )
    if len(set(config.m)) != len(config.m):
        raise ConfigError(f"widths m must be distinct, got {list(config.m)}")
    if not config.runs:
        raise ConfigError("an experiment needs at least one run (gamma, alpha, ...)")
    for run in config.runs:
        run.validate()
    for name in ("steps", "batch", "eval_samples", "log_every"):
        value = getattr(config, name)
        if not is_int(value) or value <= 0:
            raise ConfigError(
                f"{name} must be a positive integer, got {value!r}",
                parameter=name,
            )
    for name in ("lr", "lr_m_ref"):
        value = getattr(config, name)
        if not is_number(value) or value <= 0:
            raise ConfigError(
                f"{name} must be > 0, got {value!r}",
                parameter=name,
            )
    if not is_number(config.lr_m_power):
        raise ConfigError(
            f"lr_m_power must be a number, got {config.lr_m_power!r}",
            parameter="lr_m_power",
        )
    for name in ("lr_bias", "lr_bias_per_m"):
        value = getattr(config, name)
        if value is not None and (not is_number(value) or value <= 0):
            raise ConfigError(
                f"{name} must be > 0 when given, got {value!r}",
                parameter=name,
            )
    if config.warmup is not None and (not is_int(config.warmup) or config.warmup < 0):
        raise ConfigError(
            f"warmup must be an integer number of steps >= 0, got {config.warmup!r}",
            parameter="warmup",
        )
    if config.warmup is not None and config.warmup_fraction is not None:
        raise ConfigError("give warmup (steps) or warmup_fraction, not both")
    if config.warmup_fraction is not None and not (
        is_number(config.warmup_fraction) and 0 <= config.warmup_fraction < 1
    ):
        raise ConfigError(
            f"warmup_fraction must be in [0, 1), got {config.warmup_fraction!r}",
            parameter="warmup_fraction",
        )
    if not (is_number(config.final_lr_fraction) and 0 < config.final_lr_fraction <= 1):
        raise ConfigError(
            f"final_lr_fraction must be in (0, 1], got {config.final_lr_fraction!r}",
            parameter="final_lr_fraction",
        )
    if not is_number(config.loss_scale) or config.loss_scale <= 0:
        raise ConfigError(
            f"loss_scale must be a finite number > 0, got {config.loss_scale!r}",
            parameter="loss_scale",
        )
    for name in ("fit_m_min", "fit_m_max"):
        value = getattr(config, name)
        if value is not None and (not is_int(value) or value <= 0):
            raise ConfigError(
                f"{name} must be a positive integer when given, got {value!r}",
                parameter=name,
            )
    if config.fit_m_min is not None or config.fit_m_max is not None:
        lo = "" if config.fit_m_min is None else f"{config.fit_m_min} <= "
        hi = "" if config.fit_m_max is None else f" <= {config.fit_m_max}"
        used = config.fit_widths()
        if len(used) < 3:
            raise ConfigError(
                f"the fit range {lo}m{hi} keeps {len(used)} of the widths"
                f" {list(config.m)}; the α_m fit needs at least 3"
            )
    if not is_int(config.seed) or config.seed < 0:
        raise ConfigError(
            f"seed must be an integer >= 0, got {config.seed!r}",
            parameter="seed",
        )
    if not isinstance(config.device, str):
        raise ConfigError(f"device must be a name such as auto, cpu, cuda:0, got {config.device!r}")
    check_device_name(config.device)  # whether it exists is asked when training starts
    if config.threads is not None and (not is_int(config.threads) or config.threads <= 0):
        raise ConfigError(
            f"threads must be a positive integer, got {config.threads!r}",
            parameter="threads",
        )
