"""Options of the three fits, declared once: ``llmgeom fit overlap|loss|chinchilla`` derive their
flags from these classes (:func:`llmgeom.options.add_arguments`) and
:func:`~llmgeom.fits.fit_overlap`, :func:`~llmgeom.fits.fit_loss`,
:func:`~llmgeom.fits.fit_chinchilla` validate their keyword arguments with them (same names,
defaults, help and checks). Kept outside :mod:`llmgeom.fits` so that building the command line
imports no fitting code.

A bad value is a one-line :class:`~llmgeom.errors.ConfigError` naming the Python parameter (raised
on construction, by ``validate()``); the command line shows its flag.

Example:
    >>> LossFitOptions(loss="huber").n_bootstrap is None   # None: 200 for huber, 1000 for ls
    True
    >>> OverlapFitOptions(n_bootstrap=-1)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: n_bootstrap must be a finite number >= 0, got -1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .options import check_choice, check_number, check_whole, option

WIDTHS = ("head", "d_model")
LOSSES = ("ls", "huber")
LOSS_COLUMNS = ("loss", "authors")  # losses.csv's loss, or its loss_authors_weighting
RESAMPLES = ("points", "models", "residuals")
PROPAGATIONS = ("linear", "quadrature")
#: What the authors' SE of α does where some L <= L0 (:mod:`llmgeom.fits.width_loss_se`).
SE_RULES = ("strict", "authors")
SeRule = Literal["strict", "authors"]

#: Bootstrap replicates of the width-loss law when ``n_bootstrap`` is None, by loss.
DEFAULT_LOSS_BOOTSTRAP = {"ls": 1000, "huber": 200}


def _shown(value: Any) -> str:
    plain = isinstance(value, bool) or not isinstance(value, int | float)
    return repr(value) if plain else f"{value:g}"


def _check_positive(name: str, value: Any, *, strict: bool = False) -> None:
    """A finite number >= 0 (> 0 when ``strict``), shown as ``%g`` in the message."""
    check_number(name, value, low=0, low_open=strict, shown=_shown, if_not_number="a number")


def _check_count(name: str, value: Any) -> None:
    """A whole number >= 0 (a float such as 2.0 counts), else a ConfigError naming ``name``."""
    _check_positive(name, value)
    check_whole(name, int(value) if isinstance(value, float) and value.is_integer() else value)


@dataclass(frozen=True)
class OverlapFitOptions:
    """Options of :func:`~llmgeom.fits.fit_overlap` and ``llmgeom fit overlap``."""

    width: Literal["head", "d_model"] = option(
        "head",
        "m = the head's column count (default) or the model's d_model",
        flag="--width",
        choices=WIDTHS,
    )
    n_bootstrap: int = option(
        1000,
        "bootstrap replicates (default {default}; 0 to skip)",
        flag="--bootstrap",
        metavar="N",
        kind=int,
    )
    seed: int = option(0, "bootstrap seed (default {default})", flag="--seed", kind=int)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        check_choice("width", self.width, WIDTHS)
        _check_count("n_bootstrap", self.n_bootstrap)
        _check_count("seed", self.seed)


@dataclass(frozen=True)
class LossFitOptions:
    """Options of :func:`~llmgeom.fits.fit_loss` and ``llmgeom fit loss``."""

    loss: Literal["ls", "huber"] = option(
        "ls", "least squares on L (default) or Huber on ln L", flag="--loss", choices=LOSSES
    )
    n_bootstrap: int | None = option(
        None,
        "bootstrap replicates (default 1000 for ls, 200 for huber; 0 to skip)",
        flag="--bootstrap",
        metavar="N",
        kind=int,
    )
    resample: Literal["points", "models", "residuals"] = option(
        "points",
        "bootstrap scheme: points within each (family, corpus) (default), whole models, or "
        "residuals",
        flag="--resample",
        choices=RESAMPLES,
    )
    huber_delta: float = option(
        1e-3,
        "Huber threshold on ln L residuals (default {default})",
        flag="--huber-delta",
        metavar="D",
        kind=float,
        shown="1e-3",
    )
    seed: int = option(0, "bootstrap seed (default {default})", flag="--seed", kind=int)
    se_rule: Literal["strict", "authors"] = option(
        "strict",
        "the authors' SE of alpha where some L <= L0: undefined (strict, default) or their "
        "notebook's nan_to_num (authors)",
        flag="--se-rule",
        choices=SE_RULES,
    )
    column: Literal["loss", "authors"] = option(
        "loss",
        "the loss fitted: the token-weighted `loss` column (default) or `authors`, the "
        "authors' weighting (column loss_authors_weighting of llmgeom loss's losses.csv)",
        flag="--column",
        choices=LOSS_COLUMNS,
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        check_choice("loss", self.loss, LOSSES)
        check_choice("se_rule", self.se_rule, SE_RULES)
        check_choice("column", self.column, LOSS_COLUMNS)
        check_choice("resample", self.resample, RESAMPLES)
        if self.n_bootstrap is not None:
            _check_count("n_bootstrap", self.n_bootstrap)
        _check_count("seed", self.seed)
        _check_positive("huber_delta", self.huber_delta, strict=True)


@dataclass(frozen=True)
class ChinchillaFitOptions:
    """Options of :func:`~llmgeom.fits.fit_chinchilla` and ``llmgeom fit chinchilla``."""

    alpha_n: float = option(
        0.35,
        "parameter-count exponent alpha_N (default {default})",
        flag="--alpha-n",
        metavar="A",
        kind=float,
    )
    alpha_n_se: float = option(
        0.02,
        "its standard error (default {default})",
        flag="--alpha-n-se",
        metavar="SE",
        kind=float,
    )
    propagation: Literal["linear", "quadrature"] = option(
        "linear",
        "error of k*alpha_N: relative errors added linearly (default, the paper's 0.06) or in "
        "quadrature",
        flag="--propagation",
        choices=PROPAGATIONS,
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        _check_positive("alpha_n", self.alpha_n, strict=True)
        _check_positive("alpha_n_se", self.alpha_n_se)
        check_choice("propagation", self.propagation, PROPAGATIONS)
