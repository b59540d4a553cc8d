"""α_m over seeds: the runs of a results document that differ only in their init seed, grouped,
with the mean of their fitted α_m, its spread over seeds and the mean per-run fit SE beside it.

A claim about α_m rests on the mean and the seed-to-seed spread (the sample standard deviation,
``ddof = 1``); the per-run fit SE measures only how straight one run's loss-vs-width line is.
The groups are the document's ``seed_summary`` (written since seeds were reported; computed from
``runs`` for documents written before).

Example:
    >>> runs = [{"gamma": -1.0, "alpha": 1.0, "family": "power", "density": 1.0, "decay": 400.0,
    ...          "seed": s, "regime": "strong", "fit": {"exponent": a, "exponent_se": 0.1}}
    ...         for s, a in ((0, 0.9), (1, 1.0), (2, 1.1))]
    >>> g = seed_summary(runs)[0]
    >>> g["seeds"], [round(g[k], 6) for k in ("alpha_m_mean", "alpha_m_spread", "alpha_m_fit_se")]
    ([0, 1, 2], [1.0, 0.1, 0.1])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

GROUP_KEYS: tuple[str, ...] = ("gamma", "alpha", "family", "density", "decay")
_DEFAULTS: dict[str, Any] = {"family": "power", "density": 1.0, "decay": 400.0}


def group_key(run: Mapping[str, Any]) -> tuple:
    """The (γ, α, family, density, decay) of a run entry: its seeds share it.

    Example:
        >>> group_key({"gamma": 0.5, "alpha": 2.0, "family": "power"})
        (0.5, 2.0, 'power', 1.0, 400.0)
    """
    return tuple(run.get(k, _DEFAULTS.get(k)) for k in GROUP_KEYS)


def mean_and_spread(values: Iterable[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``ddof = 1``; None below two values).

    Example:
        >>> mean_and_spread([1.0, 2.0, 3.0])
        (2.0, 1.0)
        >>> mean_and_spread([4.0]), mean_and_spread([])
        ((4.0, None), (None, None))
    """
    xs = [float(v) for v in values]
    if not xs:
        return None, None
    mean = math.fsum(xs) / len(xs)
    if len(xs) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def seed_summary(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (γ, α, family, density, decay), in the order the runs first appear: its
    ``seeds``, ``regime``, the number of fitted seeds ``n_fitted`` and ``alpha_m_mean``,
    ``alpha_m_spread`` (over seeds) and ``alpha_m_fit_se`` (mean of the runs' fit SEs) over them.

    Example:
        >>> runs = [{"gamma": 0.5, "alpha": 2.0, "family": "power", "seed": 0, "regime": "weak",
        ...          "fit": {"error": "too few widths"}}]
        >>> seed_summary(runs)[0]["n_fitted"], seed_summary(runs)[0]["alpha_m_mean"]
        (0, None)
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    out = []
    for key, members in groups.items():
        fits = [r.get("fit") or {} for r in members]
        fitted = [f for f in fits if f.get("exponent") is not None]
        mean, spread = mean_and_spread(f["exponent"] for f in fitted)
        ses = [f["exponent_se"] for f in fitted if f.get("exponent_se") is not None]
        out.append(
            {
                **dict(zip(GROUP_KEYS, key, strict=True)),
                "regime": members[0].get("regime"),
                "seeds": [int(r.get("seed", 0)) for r in members],
                "n_fitted": len(fitted),
                "alpha_m_mean": mean,
                "alpha_m_spread": spread,
                "alpha_m_fit_se": mean_and_spread(ses)[0],
            }
        )
    return out
