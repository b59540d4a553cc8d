"""The three fits as functions: read the inputs, check the options, fit, return a typed result.

``llmgeom fit overlap|loss|chinchilla`` and ``llmgeom reproduce`` call these; a notebook can too.
Each returns a frozen result (:mod:`llmgeom.fits.results`) whose ``save(out_dir)`` writes the
JSON and PNG the command writes. A bad option is a one-line :class:`~llmgeom.errors.ConfigError`
naming the Python parameter (``n_bootstrap must be a finite number >= 0, got -1``), raised before
any input is read; a bad input is a :class:`~llmgeom.errors.FitError` naming the file.

Example:
    >>> r = fit_chinchilla(alpha_n=0.3478)
    >>> round(r.alpha_m, 3), r.table
    (0.877, 'configs/chinchilla_table_a9.csv')
    >>> fit_chinchilla(alpha_n=-1)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: alpha_n must be a finite number > 0, got -1
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Literal

from ..errors import ConfigError
from .chinchilla import ChinchillaCheck
from .overlap_law import OverlapLaw
from .results import SHIPPED_CHINCHILLA_TABLE, ChinchillaFit, OverlapFit, WidthLossFit
from .width_loss import WidthLossLaw

PathLike = str | os.PathLike[str]

#: Bootstrap replicates of the width-loss law when ``n_bootstrap`` is None, by loss.
DEFAULT_LOSS_BOOTSTRAP = {"ls": 1000, "huber": 200}


def check_number(
    name: str, value: float | None, *, minimum: float = 0.0, strict: bool = False
) -> None:
    """:class:`ConfigError` naming ``name`` unless ``value`` is None or a finite number
    ``>= minimum`` (``> minimum`` when ``strict``).

    Example:
        >>> check_number("huber_delta", 0.0, strict=True)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: huber_delta must be a finite number > 0, got 0
    """
    if value is None:
        return
    try:
        ok = math.isfinite(value) and (value > minimum if strict else value >= minimum)
    except TypeError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not ok:
        bound = f"{'>' if strict else '>='} {minimum:g}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value:g}")


def check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    """:class:`ConfigError` naming ``name`` unless ``value`` is one of ``choices``.

    Example:
        >>> check_choice("loss", "l1", ("ls", "huber"))
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: loss must be one of 'ls', 'huber', got 'l1'
    """
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_count(name: str, value: object) -> None:
    """A non-negative integer (``bool`` refused), else a ConfigError naming ``name``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    check_number(name, value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")


def fit_overlap(
    inputs: PathLike | Sequence[PathLike],
    *,
    width: Literal["head", "d_model"] = "head",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> OverlapFit:
    """Fit ``ln(mean cos²) = a_family − s ln m`` to measurement JSON files (``llmgeom measure``),
    folders of them and/or CSV tables ``model,family,m,mean_cos2[,d_model]``.

    ``width``: m is the head's column count or the model's ``d_model``; ``n_bootstrap``
    replicates (models resampled within family) with generator ``seed``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.csv"
        >>> rows = [f"{f}{m},{f},{m},{a / m}" for f, a in (("x", 3), ("y", 5)) for m in (64, 256)]
        >>> _ = p.write_text("model,family,m,mean_cos2\\n" + "\\n".join(rows) + "\\n")
        >>> r = fit_overlap(p, n_bootstrap=0)
        >>> round(r.slope, 6), r.families
        (1.0, ('x', 'y'))
    """
    from .io import read_overlap_inputs

    check_choice("width", width, ("head", "d_model"))
    _check_count("n_bootstrap", n_bootstrap)
    _check_count("seed", seed)
    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    table = read_overlap_inputs(paths)
    law = OverlapLaw(n_bootstrap=n_bootstrap, random_state=seed).fit(
        table.widths(width),
        table.mean_cos2,
        family=table.family,
        models=table.model,
        head_width=table.head_width,
    )
    fit = OverlapFit._build(law.to_dict() | {"width": width, "inputs": table.origin}, law=law)
    return dataclasses.replace(fit, notes=tuple(table.notes))


def fit_loss(
    table: PathLike,
    *,
    loss: Literal["ls", "huber"] = "ls",
    n_bootstrap: int | None = None,
    resample: Literal["points", "models", "residuals"] = "points",
    huber_delta: float = 1e-3,
    seed: int = 0,
) -> WidthLossFit:
    """Fit ``L = C/m^α + L0(family, corpus)`` to a CSV or JSON table with columns
    ``model, family, corpus, m, loss`` (loss in nats/token).

    ``loss``: least squares on L (``"ls"``) or Huber (threshold ``huber_delta``) on ln L;
    ``n_bootstrap`` replicates (default 1000 for ls, 200 for huber; 0 to skip) drawn by
    ``resample`` with generator ``seed``.

    Example:
        >>> import tempfile, pathlib
        >>> from llmgeom.fits import paper_implied_losses, write_loss_table
        >>> t = write_loss_table(pathlib.Path(tempfile.mkdtemp()) / "l.csv", paper_implied_losses())
        >>> r = fit_loss(t, loss="huber", n_bootstrap=0)
        >>> r.stem, round(r.alpha, 2)
        ('width_loss_fit_huber', 0.91)
    """
    from .io import read_loss_table

    check_choice("loss", loss, ("ls", "huber"))
    check_choice("resample", resample, ("points", "models", "residuals"))
    if n_bootstrap is not None:
        _check_count("n_bootstrap", n_bootstrap)
    _check_count("seed", seed)
    check_number("huber_delta", huber_delta, strict=True)
    rows = read_loss_table(table)
    law = WidthLossLaw(
        loss=loss,
        n_bootstrap=DEFAULT_LOSS_BOOTSTRAP[loss] if n_bootstrap is None else n_bootstrap,
        bootstrap=resample,
        random_state=seed,
        huber_delta=huber_delta,
    ).fit(rows.m, rows.loss, family=rows.family, corpus=rows.corpus, models=rows.model)
    return WidthLossFit._build(law.to_dict() | {"input": str(table)}, law=law)


def fit_chinchilla(
    table: PathLike | None = None,
    *,
    alpha_n: float = 0.35,
    alpha_n_se: float = 0.02,
    propagation: Literal["linear", "quadrature"] = "linear",
) -> ChinchillaFit:
    """Fit ``N = A·d_model^k`` over a table ``params,d_model`` (default: the shipped
    Chinchilla table A9) and combine with ``alpha_n ± alpha_n_se`` into ``α_m = k·α_N``, its
    error propagated ``linear`` (the paper's) or in ``quadrature``.

    Example:
        >>> r = fit_chinchilla()
        >>> round(r.k, 2), round(r.k_se, 2), round(r.alpha_m, 2), round(r.alpha_m_err, 2)
        (2.52, 0.03, 0.88, 0.06)
    """
    from .io import read_size_table

    check_number("alpha_n", alpha_n, strict=True)
    check_number("alpha_n_se", alpha_n_se)
    check_choice("propagation", propagation, ("linear", "quadrature"))
    check = ChinchillaCheck(alpha_n=alpha_n, alpha_n_se=alpha_n_se, propagation=propagation)
    if table:
        sizes = read_size_table(table)
        check.fit(sizes.params, sizes.d_model)
    else:
        check.fit()
    label = str(table) if table else SHIPPED_CHINCHILLA_TABLE
    return ChinchillaFit._build(check.to_dict() | {"table": label}, law=check)
