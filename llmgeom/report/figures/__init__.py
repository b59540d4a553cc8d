"""The report's figures, one function each, drawn only from the gathered results (matplotlib
Agg, no pyplot state), and :data:`FIGURES`, their registry in page order.

Each function takes the :class:`Context` and an optional ``ax=`` (draws into it; its own figure
when None) and returns a :class:`Drawn` (the matplotlib figure, a caption and the values it
plotted, which the tests compare with the records), or raises :class:`Missing` with the reason
when its data is absent: a figure is never drawn empty. Saving is the caller's job (the report
builder writes ``Drawn.png``). By concern: :mod:`.measure` (measurements), :mod:`.loss` (losses,
token counts), :mod:`.toy` (toy-model results); :mod:`.base` holds what they share.

Example:
    >>> from pathlib import Path
    >>> from llmgeom.report.gather import Gathered
    >>> ctx = Context.build(Gathered(Path(".")))
    >>> try:
    ...     overlap_vs_width(ctx)
    ... except Missing as why:
    ...     print(why)
    no measurement records
    >>> [figure_id for figure_id, _, _ in FIGURES][:2]
    ['overlap_vs_width', 'row_norms_vs_width']
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Context, Drawn, Missing
from .loss import loss_collapse, loss_vs_width, rank_frequency
from .measure import overlap_vs_step, overlap_vs_width, row_norms_vs_width, weighted_vs_plain
from .toy import toy_loss_vs_width, toy_phase_diagram, toy_run_label, toy_runs

#: (figure id, title, function), in page order.
FIGURES: tuple[tuple[str, str, Callable[..., Drawn]], ...] = (
    ("overlap_vs_width", "Mean squared overlap vs width", overlap_vs_width),
    ("row_norms_vs_width", "Row norms vs width", row_norms_vs_width),
    ("loss_vs_width", "Loss vs width", loss_vs_width),
    ("loss_collapse", "Loss collapse: L − L0 vs width (Fig 8b)", loss_collapse),
    ("rank_frequency", "Token rank-frequency", rank_frequency),
    ("toy_loss_vs_width", "Toy model: loss vs width, weak and strong regimes", toy_loss_vs_width),
    ("toy_phase_diagram", "Toy model: phase diagram of α_m", toy_phase_diagram),
    ("overlap_vs_step", "Overlap vs training step", overlap_vs_step),
    ("weighted_vs_plain", "Frequency-weighted vs plain interference", weighted_vs_plain),
)

__all__ = [
    "FIGURES",
    "Context",
    "Drawn",
    "Missing",
    "loss_collapse",
    "loss_vs_width",
    "overlap_vs_step",
    "overlap_vs_width",
    "rank_frequency",
    "row_norms_vs_width",
    "toy_loss_vs_width",
    "toy_phase_diagram",
    "toy_run_label",
    "toy_runs",
    "weighted_vs_plain",
]
