"""Regression module: power laws, the overlap-vs-width law, the width-loss law, Chinchilla.

:func:`fit_overlap`, :func:`fit_loss` and :func:`fit_chinchilla` read the inputs, fit and
return typed results (:class:`OverlapFit`, :class:`WidthLossFit`, :class:`ChinchillaFit`) with
``save(out_dir)``; the law classes underneath fit arrays.

Example:
    >>> from llmgeom.fits import ChinchillaCheck, fit_chinchilla
    >>> round(ChinchillaCheck().fit().k_, 4), round(fit_chinchilla().k, 4)
    (2.5226, 2.5226)
"""

from .api import fit_chinchilla, fit_loss, fit_overlap
from .chinchilla import ChinchillaCheck, propagate_product_error
from .io import load_fit
from .line import PowerLawFit, fit_power_law
from .overlap_inputs import OverlapTable, read_overlap_inputs
from .overlap_law import OverlapLaw
from .results import ChinchillaFit, FitResult, OverlapFit, WidthLossFit
from .tables import LossTable, read_loss_table, read_size_table, write_loss_table
from .width_loss import WidthLossLaw
from .width_loss_se import authors_alpha_se

__all__ = [
    "ChinchillaCheck",
    "ChinchillaFit",
    "FitResult",
    "LossTable",
    "OverlapFit",
    "OverlapLaw",
    "OverlapTable",
    "PowerLawFit",
    "WidthLossFit",
    "WidthLossLaw",
    "authors_alpha_se",
    "fit_chinchilla",
    "fit_loss",
    "fit_overlap",
    "fit_power_law",
    "load_fit",
    "propagate_product_error",
    "read_loss_table",
    "read_overlap_inputs",
    "read_size_table",
    "write_loss_table",
]
