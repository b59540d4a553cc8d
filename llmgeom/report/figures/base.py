"""What every report figure shares: the :class:`Context` it draws from, the :class:`Drawn` it
returns, the :class:`Missing` it raises when its data is absent, and small helpers.

A figure function takes the context and an optional ``ax=`` (draws into it; its own figure when
None) and returns a :class:`Drawn`: the matplotlib figure, a caption and the plotted values (the
tests compare them with the records). Saving is the caller's job: the report builder writes
``Drawn.png``.

Example:
    >>> from llmgeom import plotting
    >>> fig, (ax,) = plotting.new_figure()
    >>> drawn = Drawn(fig, "an empty axes", {"points": []})
    >>> drawn.figure is fig, drawn.png[:4]
    (True, b'\\x89PNG')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ... import plotting
from ..gather import Gathered, Item, measure_model
from ..laws import Law, loss_points, overlap_law, width_loss_law, width_measurements

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class Missing(Exception):
    """The data of a figure is absent; the message says what is missing."""


@dataclass
class Drawn:
    """A drawn figure: the matplotlib ``figure``, a ``caption`` and the plotted values
    (``data``); ``png`` is the figure as PNG bytes (rendered once, on first use)."""

    figure: Any
    caption: str
    data: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def png(self) -> bytes:
        """The figure as PNG bytes (:func:`llmgeom.plotting.png_bytes`)."""
        return plotting.png_bytes(self.figure)


@dataclass
class Context:
    """What the figures draw from: the gathered results, the width-figure measurements (one
    analysis setting), the loss points and both laws."""

    found: Gathered
    width_items: list[Item]
    setting: tuple | None
    overlap: Law
    losses: list[dict[str, Any]]
    width_loss: Law

    @classmethod
    def build(cls, found: Gathered) -> Context:
        """Select the points and read (or fit) the laws."""
        items, setting = width_measurements(found)
        points = loss_points(found)
        return cls(
            found, items, setting, overlap_law(found, items), points, width_loss_law(found, points)
        )


def short(name: str) -> str:
    """The last part of a model name.

    Example:
        >>> short("EleutherAI/pythia-70m")
        'pythia-70m'
    """
    return name.rsplit("/", 1)[-1]


def interval(values: Any) -> str:
    """An interval as ``[low, high]`` text, ``n/a`` when either end is absent.

    Example:
        >>> interval([0.5, 1.25]), interval([None, 1.0])
        ('[0.5, 1.25]', 'n/a')
    """
    if isinstance(values, list | tuple) and len(values) == 2 and None not in values:
        return f"[{values[0]:.4g}, {values[1]:.4g}]"
    return "n/a"


def family_of(record: dict[str, Any]) -> str:
    """A measurement's family group, as the overlap law fits it (unknown: its own).

    Example:
        >>> family_of({"model": {"family": "gpt2", "source": "x", "repo_id": None}})
        'gpt2'
    """
    from ...fits.io import family_group

    return family_group(record["model"].get("family"), measure_model(record))
