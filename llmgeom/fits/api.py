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
import os
from collections.abc import Sequence
from typing import Literal

from ..fit_options import (
    DEFAULT_LOSS_BOOTSTRAP,
    ChinchillaFitOptions,
    LossFitOptions,
    OverlapFitOptions,
    SeRule,
)
from .chinchilla import ChinchillaCheck
from .overlap_law import OverlapLaw
from .results import SHIPPED_CHINCHILLA_TABLE, ChinchillaFit, OverlapFit, WidthLossFit
from .width_loss import WidthLossLaw

PathLike = str | os.PathLike[str]


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
    from .overlap_inputs import read_overlap_inputs

    OverlapFitOptions(width=width, n_bootstrap=n_bootstrap, seed=seed)  # checks, naming
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
    se_rule: SeRule = "strict",
    column: Literal["loss", "authors"] = "loss",
) -> WidthLossFit:
    """Fit ``L = C/m^α + L0(family, corpus)`` to a CSV or JSON table with columns
    ``model, family, corpus, m, loss`` (loss in nats/token).

    ``loss``: least squares on L (``"ls"``) or Huber (threshold ``huber_delta``) on ln L;
    ``n_bootstrap`` replicates (default 1000 for ls, 200 for huber; 0 to skip) drawn by
    ``resample`` with generator ``seed``. ``column="authors"`` fits the table's
    ``loss_authors_weighting`` column (the authors' average) instead of ``loss``.

    ``se_rule``: the authors' SE of α (paper.md §4) takes ``ln(L − L0)``, undefined where some
    loss lies at or below its fitted offset. ``"strict"`` (the default) reports it as NaN with
    the reason (``alpha_se_authors_note``); ``"authors"`` computes it as the authors' notebook
    did, ``(L − L0).log().nan_to_num()``, so such a point enters with ``ln(L − L0) = 0`` and the
    note counts those points (:mod:`llmgeom.fits.width_loss_se`). Where every ``L > L0`` the two
    agree; the Jacobian SE and the bootstrap interval never take that logarithm.

    Example:
        >>> import tempfile, pathlib
        >>> from llmgeom.fits import write_loss_table
        >>> from llmgeom.paper.published import paper_implied_losses
        >>> t = write_loss_table(pathlib.Path(tempfile.mkdtemp()) / "l.csv", paper_implied_losses())
        >>> r = fit_loss(t, loss="huber", n_bootstrap=0)
        >>> r.stem, round(r.alpha, 2)
        ('width_loss_fit_huber', 0.91)
    """
    from .tables import LOSS_COLUMNS, read_loss_table

    LossFitOptions(  # checks, naming the parameter
        loss=loss, n_bootstrap=n_bootstrap, resample=resample, huber_delta=huber_delta, seed=seed,
        se_rule=se_rule, column=column,
    )  # fmt: skip
    rows = read_loss_table(table, column)
    law = WidthLossLaw(
        loss=loss,
        n_bootstrap=DEFAULT_LOSS_BOOTSTRAP[loss] if n_bootstrap is None else n_bootstrap,
        bootstrap=resample,
        random_state=seed,
        huber_delta=huber_delta,
        se_rule=se_rule,
    ).fit(rows.m, rows.loss, family=rows.family, corpus=rows.corpus, models=rows.model)
    fitted = {"input": str(table), "column": LOSS_COLUMNS[column]}
    return WidthLossFit._build(law.to_dict() | fitted, law=law)


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
    from .tables import read_size_table

    ChinchillaFitOptions(alpha_n=alpha_n, alpha_n_se=alpha_n_se, propagation=propagation)
    check = ChinchillaCheck(alpha_n=alpha_n, alpha_n_se=alpha_n_se, propagation=propagation)
    if table:
        sizes = read_size_table(table)
        check.fit(sizes.params, sizes.d_model)
    else:
        check.fit()
    label = str(table) if table else SHIPPED_CHINCHILLA_TABLE
    return ChinchillaFit._build(check.to_dict() | {"table": label}, law=check)
