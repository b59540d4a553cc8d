"""The options of ``llmgeom measure`` / :func:`llmgeom.measure`, declared once.

:class:`MeasureOptions` holds the analysis options of ``llmgeom measure`` /
:func:`llmgeom.measure` and the labels ``name`` / ``family`` of the record (the CLI adds only what
is about files: ``--out``, ``--plot``, ``--save-arrays``); ``to_record()`` is what a result file
stores.

Example:
    >>> import argparse
    >>> from llmgeom.options import add_arguments, from_namespace
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser, MeasureOptions)
    >>> opts = from_namespace(MeasureOptions, parser.parse_args(["--pairs", "gram", "--seed", "3"]))
    >>> opts.pairs, opts.seed, opts.rows, opts.time_budget
    ('gram', 3, 'all', 60.0)
    >>> MeasureOptions(sample_rows=500).pairs         # a sample size implies --pairs sample
    'sample'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from ..devices import resolve_device
from .checks import check_int, check_number, check_text, is_int, naming, require
from .declare import option
from .head import (
    check_memory_budget,
    device_option,
    drop_nonfinite_option,
    fold_norm_option,
    memory_budget_option,
    parse_memory_budget,
    progress_option,
    revision_option,
    tensor_option,
)

PairMode = Literal["auto", "exact", "sample", "gram"]
RowMode = Literal["all", "tokenizer"]
PAIR_MODES: tuple[PairMode, ...] = ("auto", "exact", "sample", "gram")
ROW_MODES: tuple[RowMode, ...] = ("all", "tokenizer")
DEFAULT_TIME_BUDGET_S = 60.0  # sampling stops at the latest after this long
# --pairs auto runs the exact pass up to this many FLOPs, n(n-1)*m (llmgeom.geometry.sampling):
# GPT-2's 50257 x 768 head counts 1.94e12 and stays exact (under a minute on a desktop CPU, about a
# second on a GPU); 151936 x 896 (2.1e13) or 262144 x 640 (4.4e13) heads are sampled
DEFAULT_EXACT_MAX_FLOPS = 2e12
DEFAULT_PRECISION = 1e-3  # sampling: relative half-width of the 95% interval of mean |cos|
DEFAULT_MAX_ROWS = 256  # sampling: whole random rows for the per-token maxima
PLOT_BINS = 200  # histogram bins --plot asks for when --bins is not given


def _duration(text: str) -> float:
    from ..timing import parse_duration

    with naming("time_budget"):
        return parse_duration(text)


@dataclass(frozen=True)
class MeasureOptions:
    """Analysis options of :func:`llmgeom.measure` and ``llmgeom measure`` (declared once).

    ``weights`` is a counts file (``.npz`` holding ``counts``), an array of counts or None; it is
    not compared (an array has no single truth value). Validation happens on construction:

    Example:
        >>> MeasureOptions(pairs="all")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: unknown pairs mode 'all' (choose from auto, exact, sample, gram)
    """

    pairs: PairMode = option(  # noqa: RUF009 - option() is dataclasses.field with help
        "auto",
        "{default} (default): exact if the pass counts at most --exact-max-flops, else sample; "
        "exact: all pairs; sample: random pairs (mean, std |cos|) and random whole rows "
        "(per-token max), with 95% intervals; gram: only the Gram statistics (mean cos^2)",
        flag="--pairs",
        choices=PAIR_MODES,
    )
    time_budget: float = option(
        DEFAULT_TIME_BUDGET_S,
        "sampling stops after this long at the latest (default: {default}; e.g. 90, 5m, 1h)",
        flag="--time-budget",
        metavar="T",
        parse=_duration,
        shown=f"{DEFAULT_TIME_BUDGET_S:g}s",
    )
    sample_rows: int | None = option(
        None,
        "per-token max |cos| from N random whole rows, each against all rows (implies --pairs "
        f"sample; default: {DEFAULT_MAX_ROWS}); mean and std |cos| come from random pairs",
        flag="--sample-rows",
        aliases=("--sample",),
        metavar="N",
        kind=int,
    )
    exact_max_flops: float = option(
        DEFAULT_EXACT_MAX_FLOPS,
        "--pairs auto runs the exact pass when it counts at most this many FLOPs, n(n-1)*m "
        "(default: {default:g}: GPT-2's 50257 x 768 head, 1.94e12, is exact); the same "
        "decision on every machine",
        flag="--exact-max-flops",
        metavar="FLOPS",
        kind=float,
    )
    precision: float = option(
        DEFAULT_PRECISION,
        "sampling stops once the 95% interval of mean |cos| is within this fraction of it "
        "(default: {default:g}), or at --time-budget",
        flag="--precision",
        metavar="REL",
        kind=float,
    )
    rows: RowMode = option(  # noqa: RUF009 - option() is dataclasses.field with help
        "all",
        "{default} (default): every row, as the paper; tokenizer: only the tokenizer's rows",
        flag="--rows",
        choices=ROW_MODES,
    )
    center: bool = option(False, "subtract the mean row first", flag="--center")
    fold_norm: bool = fold_norm_option()
    weights: Any = option(  # noqa: RUF009 - option() is dataclasses.field with help
        None,
        "token counts (.npz holding 'counts', index = token id, as `llmgeom freq` writes): "
        "also report frequency-weighted mean cos^2, mean |cos| and the effective number of "
        "tokens",
        flag="--weights",
        metavar="COUNTS.npz",
        compare=False,
    )
    tensor: str | None = tensor_option()
    revision: str | None = revision_option()
    device: str = device_option()
    drop_nonfinite: bool = drop_nonfinite_option()
    bins: int = option(
        0,
        "histogram of cos with this many bins (default: {default}, i.e. none; "
        f"{PLOT_BINS} with --plot)",
        flag="--bins",
        kind=int,
    )
    memory_budget: int | None = memory_budget_option()
    seed: int = option(0, "seed of the sampled rows (default: {default})", flag="--seed", kind=int)
    name: str | None = option(
        None,
        "the model's name in the result, its file name and the fits (default: the repo id or the "
        "file name)",
        flag="--name",
        metavar="NAME",
    )
    family: str | None = option(
        None,
        "the model's family in the result and the fits (default: from config.json or the GGUF "
        "metadata; a model of unknown family is fitted as a group of its own)",
        flag="--family",
        metavar="FAMILY",
    )
    progress: bool | None = progress_option()

    def __post_init__(self) -> None:
        if isinstance(self.time_budget, str):
            object.__setattr__(self, "time_budget", _duration(self.time_budget))
        if isinstance(self.memory_budget, str):
            object.__setattr__(self, "memory_budget", parse_memory_budget(self.memory_budget))
        if self.sample_rows is not None and self.pairs == "auto":
            object.__setattr__(self, "pairs", "sample")
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the option by its Python name (the
        command line shows its flag)."""
        require(
            self.pairs in PAIR_MODES,
            "pairs",
            f"unknown pairs mode {self.pairs!r} (choose from {', '.join(PAIR_MODES)})",
        )
        require(
            self.rows in ROW_MODES,
            "rows",
            f"unknown row selection {self.rows!r} (choose from {', '.join(ROW_MODES)})",
        )
        require(
            self.sample_rows is None or (is_int(self.sample_rows) and self.sample_rows >= 2),
            "sample_rows",
            f"sampling needs at least 2 rows, got sample_rows={self.sample_rows}",
        )
        check_int("seed", self.seed)
        check_int("bins", self.bins)
        check_memory_budget(self.memory_budget)
        check_number(
            "exact_max_flops",
            self.exact_max_flops,
            low=0,
            finite=False,
            must="a number >= 0 (0: always sample, inf: always exact)",
        )
        check_number(
            "precision",
            self.precision,
            low=0,
            high=1,
            low_open=True,
            high_open=True,
            must="a number in (0, 1), e.g. 1e-3",
        )
        check_text("name", self.name, optional=True)
        check_text("family", self.family, optional=True)
        check_number(
            "time_budget",
            self.time_budget,
            low=0,
            low_open=True,
            must="a positive duration in seconds",
            shown=str,
        )
        with naming("device"):
            resolve_device(self.device)  # an unavailable device fails before anything is loaded

    def replace(self, **changes: Any) -> MeasureOptions:
        """A validated copy with some fields changed (unknown names are a ``TypeError``)."""
        return type(self)(**{**self.__dict__, **changes})

    def to_record(self) -> dict[str, Any]:
        """The JSON form stored in a result (``options``): weights by path, not by value.

        Example:
            >>> MeasureOptions(rows="tokenizer").to_record()["rows"]
            'tokenizer'
        """
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "progress"}
        weights = self.weights
        if weights is None or isinstance(weights, str | os.PathLike):
            out["weights"] = None if weights is None else str(Path(weights))
        else:
            out["weights"] = getattr(weights, "path", None) or "array"
        return out
