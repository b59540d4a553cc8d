"""Options declared once: one frozen dataclass per command serves Python, the CLI and the record.

Each field of an options class is declared with :func:`option`: its default, its allowed values,
its command-line flag and its help text, in one place. :func:`add_arguments` builds the argparse
arguments from those declarations (choices and defaults are not written a second time),
:func:`from_namespace` turns parsed arguments back into the options object, whose own
validation gives the same one-line :class:`~llmgeom.errors.ConfigError` to a Python caller and
to the command line; ``to_record()`` is what a result file stores.

:class:`MeasureOptions` holds the analysis options of ``llmgeom measure`` /
:func:`llmgeom.measure` and the labels ``name`` / ``family`` of the record (the CLI adds only what
is about files: ``--out``, ``--plot``, ``--save-arrays``).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser, MeasureOptions)
    >>> opts = from_namespace(MeasureOptions, parser.parse_args(["--pairs", "gram", "--seed", "3"]))
    >>> opts.pairs, opts.seed, opts.rows, opts.time_budget
    ('gram', 3, 'all', 60.0)
    >>> MeasureOptions(sample_rows=500).pairs         # a sample size implies --pairs sample
    'sample'
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Collection
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

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


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    aliases: tuple[str, ...] = (),
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    kind: Callable[[str], Any] | None = None,
    parse: Callable[[str], Any] | None = None,
    const: Any = MISSING,
    shown: str | None = None,
    compare: bool = True,
    exclusive: str | None = None,
) -> Any:
    """A dataclass field that also describes its command-line argument.

    ``flag`` (e.g. ``--time-budget``, the Python name with dashes; None: Python only),
    ``aliases`` (older spellings still accepted, e.g. ``--sample``), ``choices`` (checked by
    argparse and by the class), ``kind`` (argparse ``type``, e.g. ``int``), ``parse`` (a
    function of the command-line text raising ``ConfigError``, e.g. a size or a duration: applied by
    :func:`from_namespace`, so bad text is a one-line error, not a usage message), ``const``
    (the flag stores this constant, e.g. ``--no-progress`` → ``False``), ``shown`` (the default
    as help shows it), ``exclusive`` (flags with the same name form a mutually exclusive group).
    ``help`` may use ``{default}`` and ``{choices}``. A boolean field with default ``False`` is a
    plain switch. A ``flag`` with ``{choice}`` in it is one switch per choice, mutually
    exclusive, each storing its choice (``--load-in-{choice}``: ``--load-in-8bit`` → ``"8bit"``);
    its help may use ``{choice}``.
    """
    meta = {
        "help": help,
        "flag": flag,
        "aliases": aliases,
        "choices": choices,
        "metavar": metavar,
        "kind": kind,
        "parse": parse,
        "const": const,
        "shown": shown,
        "exclusive": exclusive,
    }
    return field(default=default, compare=compare, metadata=meta)


def help_text(f: Any, choice: str | None = None) -> str:
    """The help of field ``f`` with its default and choices (and ``choice``, for a switch per
    choice) filled in (argparse-escaped).

    Example:
        >>> from dataclasses import fields
        >>> print(help_text({x.name: x for x in fields(MeasureOptions)}["time_budget"]))
        sampling stops after this long at the latest (default: 60s; e.g. 90, 5m, 1h)
    """
    meta = f.metadata
    shown = meta["shown"] if meta["shown"] is not None else f.default
    choices = ", ".join(meta["choices"] or ())
    text = meta["help"].format(default=shown, choices=choices, choice=choice)
    return text.replace("%", "%%")


def add_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Collection[str] | None = None,
) -> None:
    """Add one argument per field of ``cls`` that declares a ``flag`` (only ``names``, if given).

    Every argument's parsed default is None ("not given"), so the dataclass default applies and
    is stated only there. ``parser`` may be an argument group.
    """
    groups: dict[str, Any] = {}
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("flag") or (names is not None and f.name not in names):
            continue
        if "{choice}" in meta["flag"]:  # one switch per choice, e.g. --load-in-8bit
            switches = parser.add_mutually_exclusive_group()
            for choice in meta["choices"]:
                switches.add_argument(
                    meta["flag"].format(choice=choice),
                    dest=f.name,
                    default=None,
                    action="store_const",
                    const=choice,
                    help=help_text(f, choice),
                )
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text(f)}
        if meta["const"] is not MISSING:
            kwargs.update(action="store_const", const=meta["const"])
        elif f.default is False:
            kwargs.update(action="store_true")
        else:
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            if meta["kind"]:
                kwargs["type"] = meta["kind"]
            if meta["metavar"]:
                kwargs["metavar"] = meta["metavar"]
        exclusive = meta.get("exclusive")
        if exclusive and exclusive not in groups:
            groups[exclusive] = parser.add_mutually_exclusive_group()
        target = groups[exclusive] if exclusive else parser
        target.add_argument(meta["flag"], *meta.get("aliases", ()), **kwargs)


def from_namespace(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """``cls`` from parsed arguments: given values (parsed where declared), else the defaults."""
    return cls(**(given_values(cls, args) | overrides))


def given_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` whose flags were given in ``args`` (parsed where declared), by
    field name: for a command that lays them over another source, such as a preset.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser()
        >>> add_arguments(parser, MeasureOptions, names=("seed", "time_budget"))
        >>> given_values(MeasureOptions, parser.parse_args(["--time-budget", "2m"]))
        {'time_budget': 120.0}
    """
    values: dict[str, Any] = {}
    for f in fields(cls):
        if not f.metadata.get("flag"):
            continue
        value = getattr(args, f.name, None)
        if value is None:
            continue
        parse = f.metadata["parse"]
        values[f.name] = parse(value) if parse and isinstance(value, str) else value
    return values


def positive_int(value: str) -> int:
    """An argparse type: a whole number >= 1.

    Example:
        >>> positive_int("3")
        3
        >>> positive_int("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be at least 1, got 0
    """
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _size(text: str) -> int:
    from .memory import parse_size

    return parse_size(text)


def _duration(text: str) -> float:
    from .timing import parse_duration

    return parse_duration(text)


def _device_help() -> str:
    from .devices import DEVICE_HELP

    return DEVICE_HELP


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """An int or float that is not a bool and not NaN (infinity allowed)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


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
    weights: Any = option(  # noqa: RUF009 - option() is dataclasses.field with help
        None,
        "token counts (.npz holding 'counts', index = token id, as `llmgeom freq` writes): "
        "also report frequency-weighted mean cos^2, mean |cos| and the effective number of "
        "tokens",
        flag="--weights",
        metavar="COUNTS.npz",
        compare=False,
    )
    tensor: str | None = option(
        None, "tensor name of the head (default: automatic)", flag="--tensor", metavar="NAME"
    )
    revision: str | None = option(
        None, "Hub branch, tag or commit", flag="--revision", metavar="REV"
    )
    device: str = option("auto", _device_help(), flag="--device")
    drop_nonfinite: bool = option(
        False, "skip rows with NaN/inf instead of failing", flag="--drop-nonfinite"
    )
    bins: int = option(
        0,
        "histogram of cos with this many bins (default: {default}, i.e. none; "
        f"{PLOT_BINS} with --plot)",
        flag="--bins",
        kind=int,
    )
    memory_budget: int | None = option(
        None,
        "memory for one block of products, e.g. 512MB (default: automatic)",
        flag="--memory-budget",
        metavar="SIZE",
        parse=_size,
    )
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
    progress: bool | None = option(
        None, "no progress bars", flag="--no-progress", const=False, compare=False
    )

    def __post_init__(self) -> None:
        if isinstance(self.time_budget, str):
            object.__setattr__(self, "time_budget", _duration(self.time_budget))
        if isinstance(self.memory_budget, str):
            object.__setattr__(self, "memory_budget", _size(self.memory_budget))
        if self.sample_rows is not None and self.pairs == "auto":
            object.__setattr__(self, "pairs", "sample")
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the option by its Python name (the
        command line shows its flag)."""
        if self.pairs not in PAIR_MODES:
            raise ConfigError(
                f"unknown pairs mode {self.pairs!r} (choose from {', '.join(PAIR_MODES)})",
                parameter="pairs",
            )
        if self.rows not in ROW_MODES:
            raise ConfigError(
                f"unknown row selection {self.rows!r} (choose from {', '.join(ROW_MODES)})",
                parameter="rows",
            )
        if self.sample_rows is not None and (not _is_int(self.sample_rows) or self.sample_rows < 2):
            raise ConfigError(
                f"sampling needs at least 2 rows, got sample_rows={self.sample_rows}",
                parameter="sample_rows",
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}", parameter="seed")
        if not _is_int(self.bins) or self.bins < 0:
            raise ConfigError(f"bins must be an integer >= 0, got {self.bins!r}", parameter="bins")
        if self.memory_budget is not None and (
            not _is_int(self.memory_budget) or self.memory_budget <= 0
        ):
            raise ConfigError(
                f"memory_budget must be a positive size, e.g. 512MB, got {self.memory_budget!r}",
                parameter="memory_budget",
            )
        flops = self.exact_max_flops
        if not (_is_number(flops) and flops >= 0):
            raise ConfigError(
                "exact_max_flops must be a number >= 0 (0: always sample, "
                f"inf: always exact), got {flops!r}",
                parameter="exact_max_flops",
            )
        if not (_is_number(self.precision) and 0 < self.precision < 1):
            raise ConfigError(
                f"precision must be a number in (0, 1), e.g. 1e-3, got {self.precision!r}",
                parameter="precision",
            )
        for label in ("name", "family"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(
                    f"{label} must be a non-empty string, got {value!r}", parameter=label
                )
        budget = self.time_budget
        if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
            raise ConfigError(
                f"time_budget must be a positive duration in seconds, got {budget}",
                parameter="time_budget",
            )
        from .devices import resolve_device

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
