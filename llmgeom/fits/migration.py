"""Fit results of the former version (``/1``) in today's format (``/2``), every number kept.

* ``llmgeom.fit.overlap/2``: each point's ``ratio_to_random`` (mean cos² over the random
  baseline 1/m, i.e. ``m · mean cos²`` with m the head width) is ``m_times_mean_cos2``, the
  name the measurement record gives the same number (``stats.m_times_mean_cos2``).
* ``llmgeom.fit.chinchilla/2``: ``alpha_N`` and ``alpha_N_se`` are ``alpha_n`` and
  ``alpha_n_se``, the names of :func:`~llmgeom.fits.fit_chinchilla`'s keywords, the
  ``--alpha-n`` flags and :class:`~llmgeom.fits.ChinchillaFit`'s attributes.
* ``llmgeom.fit.width_loss/2``: ``se_rule`` says how the authors' SE of α treats points with
  ``L ≤ L0`` (:mod:`llmgeom.fits.width_loss_se`); every ``/1`` result was made by ``"strict"``,
  the only rule then; ``column`` names the ``losses.csv`` column fitted (``fit_loss(column=)``),
  ``loss`` for every ``/1`` result.

Every number is kept; a ``/2`` result (or any other document) is returned as a copy, unchanged.

Example:
    >>> old = {"schema": "llmgeom.fit.chinchilla/1", "alpha_N": 0.35, "alpha_N_se": 0.02}
    >>> migrate_fit(old)
    {'schema': 'llmgeom.fit.chinchilla/2', 'alpha_n': 0.35, 'alpha_n_se': 0.02}
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

OVERLAP_V1, OVERLAP = "llmgeom.fit.overlap/1", "llmgeom.fit.overlap/2"
CHINCHILLA_V1, CHINCHILLA = "llmgeom.fit.chinchilla/1", "llmgeom.fit.chinchilla/2"
WIDTH_LOSS_V1, WIDTH_LOSS = "llmgeom.fit.width_loss/1", "llmgeom.fit.width_loss/2"


def _renamed(d: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``d`` with the keys ``names`` renamed in place of the old ones (the order kept)."""
    return {names.get(key, key): value for key, value in d.items()}


def _overlap(old: dict[str, Any]) -> dict[str, Any]:
    new = _renamed(old, {})
    new["points"] = [_renamed(p, {"ratio_to_random": "m_times_mean_cos2"}) for p in old["points"]]
    return new


def _chinchilla(old: dict[str, Any]) -> dict[str, Any]:
    new = _renamed(old, {"alpha_N": "alpha_n", "alpha_N_se": "alpha_n_se"})
    if isinstance(new.get("law"), str):
        new["law"] = new["law"].replace("alpha_N", "alpha_n")
    return new


def _width_loss(old: dict[str, Any]) -> dict[str, Any]:
    new: dict[str, Any] = {}
    for key, value in old.items():  # the rule right after the SE it made, as written now
        new[key] = value
        if key == "alpha_se_authors_note":
            new["se_rule"] = "strict"
    new.setdefault("se_rule", "strict")
    new.setdefault("column", "loss")  # /1 fitted losses.csv's token-weighted loss, the only one
    return new


#: Former schema -> (today's schema, the migration of its documents).
MIGRATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    OVERLAP_V1: (OVERLAP, _overlap),
    CHINCHILLA_V1: (CHINCHILLA, _chinchilla),
    WIDTH_LOSS_V1: (WIDTH_LOSS, _width_loss),
}


def migrate_fit(old: dict[str, Any]) -> dict[str, Any]:
    """A fit result of a former version (:data:`MIGRATIONS`) in today's format, every number
    kept; anything else is returned as a copy, unchanged.

    Example:
        >>> old = {"schema": "llmgeom.fit.overlap/1", "slope": 1.0,
        ...        "points": [{"model": "a", "m": 4.0, "mean_cos2": 0.5, "ratio_to_random": 2.0}]}
        >>> new = migrate_fit(old)
        >>> new["schema"], new["points"][0]["m_times_mean_cos2"]
        ('llmgeom.fit.overlap/2', 2.0)
    """
    new = copy.deepcopy(old)
    if not isinstance(new, dict) or new.get("schema") not in MIGRATIONS:
        return new
    schema, migrate = MIGRATIONS[new["schema"]]
    return migrate(new) | {"schema": schema}
