"""``llmgeom fit``: the overlap-vs-width law, the width-loss law and the Chinchilla check.

Each sub-subcommand calls its library function (:func:`llmgeom.fits.fit_overlap`,
:func:`~llmgeom.fits.fit_loss`, :func:`~llmgeom.fits.fit_chinchilla`), prints the result's
summary and saves ``<name>.json`` (the fitted values) and ``<name>.png`` (the figure) into
``--out``. Bad input: one line on stderr (options named by their flags), exit 1, nothing written.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); register(p.add_subparsers())
    >>> p.parse_args(["fit", "chinchilla", "--alpha-n", "0.3478"]).alpha_n
    0.3478
    >>> from_namespace(ChinchillaFitOptions, p.parse_args(["fit", "chinchilla"])).alpha_n_se
    0.02
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .._atomic import ensure_writable_dir
from ..fit_options import ChinchillaFitOptions, LossFitOptions, OverlapFitOptions
from ..options import add_arguments, from_namespace

if TYPE_CHECKING:
    from ..fits import FitResult

DEFAULT_OUT = "results/fits"

FIT_HELP = """\
Fit the scaling laws of "Superposition Yields Robust Neural Scaling" with honest uncertainty.

examples:
  llmgeom fit overlap results/*.json                  # mean cos^2 vs head width
  llmgeom fit overlap overlaps.csv --width d_model    # a table; m = d_model (OPT-350m: 1024)
  llmgeom fit loss losses.csv --bootstrap 1000        # L = C/m^alpha + L0(family, corpus)
  llmgeom fit loss losses.csv --loss huber            # robust: Huber on ln L, multi-start
  llmgeom fit chinchilla                              # k = 2.52 +/- 0.03, alpha_m = 0.88 +/- 0.06
"""

OVERLAP_HELP = """\
Fit ln(mean cos^2) = a_family - s ln m, per family and pooled (one offset per family, shared s).
Reports s +/- SE, the t- and bootstrap intervals (models resampled within family, seeded), R^2,
the t-test of s = 1 (the paper's 1/m claim) and each model's mean cos^2 relative to 1/m_head.

inputs: measurement JSON files written by `llmgeom measure` (or folders of them, e.g. a
`llmgeom sweep` folder: its other JSON files are skipped and counted), and/or CSV tables with
columns model,family,m,mean_cos2[,d_model] (m = the head width). A model of unknown family
(no config.json family, no --family, an empty family cell) is a group of its own
(unknown:<model>): it adds nothing to the shared slope and is never pooled with others.

examples:
  llmgeom fit overlap results/*.json
  llmgeom fit overlap results/ --width d_model --out results/fits-dmodel
  llmgeom fit overlap overlaps.csv --bootstrap 2000 --seed 1
"""

LOSS_HELP = """\
Fit L(g,d) = C / m^alpha + L0(g,d): one shared (C, alpha), one offset per (family, corpus).
--loss ls (default): least squares on the linear loss scale, as the authors did (variable
projection, then a joint Levenberg-Marquardt polish). --loss huber: Huber loss (delta 1e-3) on
ln L, multi-start (Hoffmann et al. 2022; Besiroglu et al. 2024).
SE(alpha) is reported with the authors' formula (undefined if some L <= L0: then said so; with
--se-rule authors, computed as their notebook did, ln(L - L0) := 0 there), the Jacobian (least
squares only) and a percentile bootstrap (--resample points|models|residuals).

input: a CSV or JSON table with columns model,family,corpus,m,loss (loss in nats/token);
--column authors fits its loss_authors_weighting column instead (written by `llmgeom loss`).

examples:
  llmgeom fit loss losses.csv
  llmgeom fit loss losses.csv --bootstrap 2000 --resample models
  llmgeom fit loss losses.json --loss huber --out results/fits-huber
  llmgeom fit loss losses.csv --column authors --out results/fits-authors
"""

CHINCHILLA_HELP = """\
Fit N = A d_model^k (OLS of ln N on ln d_model) over a table of models, by default the 50
Chinchilla models (Hoffmann et al. 2022, Table A9), and combine with alpha_N +/- SE into the
width exponent alpha_m = k alpha_N. The error of alpha_m adds the two relative errors linearly by
default (the paper's 0.06); --propagation quadrature gives the independent-errors value (0.05).

examples:
  llmgeom fit chinchilla
  llmgeom fit chinchilla --alpha-n 0.3478 --alpha-n-se 0.02 --propagation quadrature
  llmgeom fit chinchilla --table my_models.csv --out results/fits
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for the JSON and PNG (default: {DEFAULT_OUT})",
    )


def _run(args: argparse.Namespace, fit: Callable[[], FitResult]) -> int:
    """Check ``--out``, fit, print the summary, write the JSON and PNG, print their paths."""
    ensure_writable_dir(args.out)  # before the fit and its bootstrap
    result = fit()  # a bad option names its parameter; llmgeom.cli shows the flag
    for note in getattr(result, "notes", ()):  # what reading the inputs skipped or decided
        print(f"note: {note}")
    print(result.summary())
    paths = result.save(args.out)
    print("wrote " + "  ".join(str(Path(p)) for p in paths))
    return 0


def run_overlap(args: argparse.Namespace) -> int:
    """Fit the overlap-vs-width law to the given inputs."""
    from ..fits import fit_overlap

    opts = from_namespace(OverlapFitOptions, args)  # a bad value: named by its flag
    return _run(args, lambda: fit_overlap(args.inputs, **asdict(opts)))


def run_loss(args: argparse.Namespace) -> int:
    """Fit the width-loss law to a (model, family, corpus, m, loss) table."""
    from ..fits import fit_loss

    opts = from_namespace(LossFitOptions, args)
    return _run(args, lambda: fit_loss(args.table, **asdict(opts)))


def run_chinchilla(args: argparse.Namespace) -> int:
    """Fit N ∝ d_model^k and combine with alpha_N."""
    from ..fits import fit_chinchilla

    opts = from_namespace(ChinchillaFitOptions, args)
    return _run(args, lambda: fit_chinchilla(args.table, **asdict(opts)))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` subcommand and its ``overlap``, ``loss``, ``chinchilla`` subcommands."""
    raw = argparse.RawDescriptionHelpFormatter
    fit = subparsers.add_parser(
        "fit",
        help="fit the overlap law, the width-loss law, Chinchilla",
        description=FIT_HELP,
        formatter_class=raw,
    )
    sub = fit.add_subparsers(dest="fit_command", metavar="LAW", required=True)

    p = sub.add_parser(
        "overlap", help="mean cos^2 against width", description=OVERLAP_HELP, formatter_class=raw
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="measurement .json files, folders of them, or .csv tables",
    )
    add_arguments(p, OverlapFitOptions)
    _common(p)
    p.set_defaults(func=run_overlap)

    p = sub.add_parser(
        "loss",
        help="loss against width: C/m^alpha + L0",
        description=LOSS_HELP,
        formatter_class=raw,
    )
    p.add_argument("table", help="CSV or JSON with columns model,family,corpus,m,loss")
    add_arguments(p, LossFitOptions)
    _common(p)
    p.set_defaults(func=run_loss)

    p = sub.add_parser(
        "chinchilla",
        help="N vs d_model and alpha_m = k alpha_N",
        description=CHINCHILLA_HELP,
        formatter_class=raw,
    )
    p.add_argument(
        "--table",
        default=None,
        metavar="CSV",
        help="columns params,d_model (default: the shipped Chinchilla table A9)",
    )
    add_arguments(p, ChinchillaFitOptions)
    _common(p)
    p.set_defaults(func=run_chinchilla)
