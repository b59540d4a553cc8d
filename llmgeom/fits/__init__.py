"""Regression module: power laws, the overlap-vs-width law, the width-loss law, Chinchilla."""

from .line import PowerLawFit, fit_power_law

__all__ = ["PowerLawFit", "fit_power_law"]
