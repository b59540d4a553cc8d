"""Regression module: power laws, the overlap-vs-width law, the width-loss law, Chinchilla.

Example:
    >>> from llmgeom.fits import ChinchillaCheck
    >>> round(ChinchillaCheck().fit().k_, 4)
    2.5226
"""

from .chinchilla import ChinchillaCheck, propagate_product_error
from .io import (
    LossTable,
    OverlapTable,
    read_loss_table,
    read_overlap_inputs,
    read_size_table,
    write_loss_table,
)
from .line import PowerLawFit, fit_power_law
from .overlap_law import OverlapLaw
from .paper import paper_fit, paper_implied_losses
from .width_loss import WidthLossLaw, authors_alpha_se

__all__ = [
    "ChinchillaCheck",
    "LossTable",
    "OverlapLaw",
    "OverlapTable",
    "PowerLawFit",
    "WidthLossLaw",
    "authors_alpha_se",
    "fit_power_law",
    "paper_fit",
    "paper_implied_losses",
    "propagate_product_error",
    "read_loss_table",
    "read_overlap_inputs",
    "read_size_table",
    "write_loss_table",
]
