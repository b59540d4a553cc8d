"""The report's figures, one function each, drawn only from the gathered results (matplotlib
Agg, no pyplot state), and :data:`FIGURES`, their registry in page order.

Each function takes the :class:`Context` and an optional ``ax=`` (draws into it; its own figure
when None) and returns a :class:`Drawn` (the matplotlib figure, a caption and the values it
plotted, which the tests compare with the records), or raises :class:`Missing` with the reason
when its data is absent: a figure is never drawn empty. Saving is the caller's job (the report
builder writes ``Drawn.png``). By concern: :mod:`.measure` (measurements), :mod:`.loss` (losses,
token counts), :mod:`.toy`, :mod:`.toy_exponents` and :mod:`.toy_geometry` (toy-model
results); :mod:`.base` holds what they share.

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
from .toy import toy_loss_vs_width, toy_phase_diagram, toy_phi_phase, toy_run_label, toy_runs
from .toy_exponents import toy_alpha_m_families, toy_alpha_m_vs_alpha, toy_density
from .toy_geometry import (
    toy_loss_vs_unlearned,
    toy_overlap_vs_width,
    toy_phi_vs_gamma,
    toy_row_norms,
)

#: (figure id, title, function), in page order.
FIGURES: tuple[tuple[str, str, Callable[..., Drawn]], ...] = (
    ("overlap_vs_width", "Mean squared overlap vs width", overlap_vs_width),
    ("row_norms_vs_width", "Row norms vs width", row_norms_vs_width),
    ("loss_vs_width", "Loss vs width", loss_vs_width),
    ("loss_collapse", "Loss collapse: L − L0 vs width (Fig 8b)", loss_collapse),
    ("rank_frequency", "Token rank-frequency", rank_frequency),
    ("toy_loss_vs_width", "Toy model: loss vs width, weak and strong regimes", toy_loss_vs_width),
    (
        "toy_alpha_m_families",
        "Toy model: α_m per frequency family, the LLMs beside it (Fig 1b/1d/4a)",
        toy_alpha_m_families,
    ),
    ("toy_phi_vs_gamma", "Toy model: represented fraction φ vs γ (Fig 3)", toy_phi_vs_gamma),
    ("toy_phi_phase", "Toy model: phase map of φ over γ × α (Fig 3)", toy_phi_phase),
    ("toy_phase_diagram", "Toy model: phase diagram of α_m (Fig 4b)", toy_phase_diagram),
    (
        "toy_loss_vs_unlearned",
        "Toy model: loss vs the loss of unlearned features (Fig 5a)",
        toy_loss_vs_unlearned,
    ),
    ("toy_alpha_m_vs_alpha", "Toy model: α_m vs data exponent α (Fig 5b/6e)", toy_alpha_m_vs_alpha),
    ("toy_row_norms", "Toy model: row-norm histograms, strong regime (Fig 6a–c)", toy_row_norms),
    (
        "toy_overlap_vs_width",
        "Toy model: overlap of strongly represented rows vs width (Fig 6d)",
        toy_overlap_vs_width,
    ),
    ("toy_density", "Toy model: loss and α_m vs activation density E (Fig 7)", toy_density),
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
    "toy_alpha_m_families",
    "toy_alpha_m_vs_alpha",
    "toy_density",
    "toy_loss_vs_unlearned",
    "toy_loss_vs_width",
    "toy_overlap_vs_width",
    "toy_phase_diagram",
    "toy_phi_phase",
    "toy_phi_vs_gamma",
    "toy_row_norms",
    "toy_run_label",
    "toy_runs",
    "weighted_vs_plain",
]
