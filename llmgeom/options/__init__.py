"""Options declared once: one frozen dataclass per analysis serves Python, the CLI and the record.

The machinery every options type uses lives here, in two small modules: :mod:`.declare` (the
:func:`option` field declaration and the argparse arguments derived from it) and :mod:`.checks`
(the number / count / choice / text checks and the "does not apply" refusal, each a one-line
:class:`~llmgeom.errors.ConfigError` naming the Python parameter). :mod:`.measure` holds
:class:`MeasureOptions`; the fits' options are in :mod:`llmgeom.fit_options`, the text analyses'
in :mod:`llmgeom.text.options`, the toy experiment's in :mod:`llmgeom.toy.config`.

Example:
    >>> MeasureOptions(seed=-1)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: seed must be an integer >= 0, got -1
    >>> check_whole("samples", 0, minimum=1)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: samples must be at least 1, got 0
"""

from __future__ import annotations

from .checks import (
    check_choice,
    check_int,
    check_number,
    check_text,
    check_whole,
    inapplicable,
    is_int,
    is_number,
    naming,
    refuse_inapplicable,
    require,
    shown_argument,
)
from .declare import add_arguments, from_namespace, given_values, help_text, option
from .measure import (
    DEFAULT_EXACT_MAX_FLOPS,
    DEFAULT_MAX_ROWS,
    DEFAULT_PRECISION,
    DEFAULT_TIME_BUDGET_S,
    PAIR_MODES,
    PLOT_BINS,
    ROW_MODES,
    MeasureOptions,
    PairMode,
    RowMode,
)

__all__ = [
    "DEFAULT_EXACT_MAX_FLOPS",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_PRECISION",
    "DEFAULT_TIME_BUDGET_S",
    "PAIR_MODES",
    "PLOT_BINS",
    "ROW_MODES",
    "MeasureOptions",
    "PairMode",
    "RowMode",
    "add_arguments",
    "check_choice",
    "check_int",
    "check_number",
    "check_text",
    "check_whole",
    "from_namespace",
    "given_values",
    "help_text",
    "inapplicable",
    "is_int",
    "is_number",
    "naming",
    "option",
    "refuse_inapplicable",
    "require",
    "shown_argument",
]
