"""The range checks of toy-model configurations (:meth:`ToyRun.validate
<llmgeom.toy.config.ToyRun.validate>` and :meth:`ToyConfig.validate
<llmgeom.toy.config.ToyConfig.validate>` call them), built on :mod:`llmgeom.options`' checks:
each raises :class:`ConfigError` with one clear line that names the offending field
(``llmgeom toy run`` shows the flag that set it).

Example:
    >>> from llmgeom.toy.config import ToyRun
    >>> check_run(ToyRun(gamma=-1.0, alpha=1.0))
    >>> check_run(ToyRun(gamma=-1.0, alpha=-2.0))
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: alpha (frequency exponent) must be >= 0, got -2.0
"""

from __future__ import annotations

from typing import Any

from ..devices import check_device_name
from ..errors import ConfigError
from ..options import check_int, check_number, check_text, is_int, naming, require

FAMILIES: tuple[str, ...] = ("power", "exp", "linear")  # frequency families (data.py)


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
    check_number("gamma", run.gamma)
    check_number("alpha", run.alpha, low=0, label="alpha (frequency exponent)", must=">= 0")
    require(
        run.family in FAMILIES,
        "family",
        f"unknown frequency family {run.family!r}; choose one of {', '.join(FAMILIES)}",
    )
    check_number("density", run.density, low=0, low_open=True, label="density E", must="> 0")
    check_number("decay", run.decay, low=0, low_open=True, must="> 0")
    require(
        isinstance(run.seeds, tuple | list)
        and len(run.seeds) > 0
        and all(is_int(s) and s >= 0 for s in run.seeds),
        "seeds",
        f"seeds must be a non-empty list of integers >= 0, got {run.seeds!r}",
    )
    require(
        len(set(run.seeds)) == len(run.seeds),
        "seeds",
        f"seeds must be distinct, got {list(run.seeds)}",
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
    check_int("n", config.n, minimum=1, label="n (number of features)")
    ok = isinstance(config.m, tuple | list) and len(config.m) > 0
    require(ok, "m", "m (widths) must list at least one width")
    for m in config.m:
        check_int("m", m, minimum=1, label="every width m")
        if m >= config.n:
            raise ConfigError(
                f"width m={m} must be smaller than the number of features n={config.n}"
                " (superposition needs m < n)"
            )
    distinct = len(set(config.m)) == len(config.m)
    require(distinct, "m", f"widths m must be distinct, got {list(config.m)}")
    if not config.runs:
        raise ConfigError("an experiment needs at least one run (gamma, alpha, ...)")
    for run in config.runs:
        run.validate()
    for name in ("steps", "batch", "eval_samples", "log_every"):
        check_int(name, getattr(config, name), minimum=1)
    for name in ("lr", "lr_m_ref"):
        check_number(name, getattr(config, name), low=0, low_open=True, must="> 0")
    check_number("lr_m_power", config.lr_m_power, must="a number")
    for name in ("lr_bias", "lr_bias_per_m"):
        value = getattr(config, name)
        check_number(name, value, low=0, low_open=True, optional=True, must="> 0 when given")
    must = "an integer number of steps >= 0"
    check_int("warmup", config.warmup, optional=True, must=must)
    if config.warmup is not None and config.warmup_fraction is not None:
        raise ConfigError("give warmup (steps) or warmup_fraction, not both")
    fraction = config.warmup_fraction
    check_number("warmup_fraction", fraction, low=0, high=1, high_open=True, optional=True)
    check_number("final_lr_fraction", config.final_lr_fraction, low=0, high=1, low_open=True)
    check_number("loss_scale", config.loss_scale, low=0, low_open=True)
    for name in ("fit_m_min", "fit_m_max"):
        must = "a positive integer when given"
        check_int(name, getattr(config, name), minimum=1, optional=True, must=must)
    if config.fit_m_min is not None or config.fit_m_max is not None:
        lo = "" if config.fit_m_min is None else f"{config.fit_m_min} <= "
        hi = "" if config.fit_m_max is None else f" <= {config.fit_m_max}"
        used = config.fit_widths()
        if len(used) < 3:
            raise ConfigError(
                f"the fit range {lo}m{hi} keeps {len(used)} of the widths"
                f" {list(config.m)}; the α_m fit needs at least 3"
            )
    check_int("seed", config.seed)
    check_text("name", config.name)
    require(
        isinstance(config.description, str),
        "description",
        f"description must be a string, got {config.description!r:.80}",
    )
    message = f"device must be a name such as auto, cpu, cuda:0, got {config.device!r}"
    require(isinstance(config.device, str), "device", message)
    with naming("device"):
        check_device_name(config.device)  # whether it exists is asked when training starts
    check_int("threads", config.threads, minimum=1, optional=True)
