"""The checks every options type runs: one place for "must be a whole number", "must be one of",
"does not apply".

Each check raises a one-line :class:`~llmgeom.errors.ConfigError` whose ``parameter`` is the
Python name of the option (the command line rewrites it into the flag, see ``llmgeom.cli.flags``).
A message reads ``{name} must be {requirement}, got {value!r}``; ``label`` replaces the name where
the message says more (``n (number of features)``) and ``must`` the requirement where the default
wording does not fit.

Example:
    >>> check_int("steps", 0, minimum=1)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: steps must be a positive integer, got 0
    >>> check_number("lr", -1.0, low=0, low_open=True, must="> 0")
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: lr must be > 0, got -1.0
    >>> try:
    ...     check_choice("loss", "l1", ("ls", "huber"))
    ... except ConfigError as err:
    ...     print(err.parameters)
    ('loss',)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigError


def is_int(value: Any) -> bool:
    """An ``int`` that is not a ``bool``.

    Example:
        >>> is_int(3), is_int(True), is_int(3.0)
        (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any, *, finite: bool = True) -> bool:
    """An ``int`` or ``float`` that is not a ``bool``: finite, or (``finite=False``) not NaN.
    An integer too large for a float (beyond 1.8e308) is none: nothing could compute with it.

    Example:
        >>> is_number(1e300), is_number(math.inf), is_number(math.inf, finite=False)
        (True, False, True)
        >>> is_number(10**400, finite=False)
        False
    """
    if not _numeric_type(value):
        return False
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return False
    return math.isfinite(value) if finite else value == value


def _numeric_type(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require(ok: bool, name: str, message: str) -> None:
    """A :class:`ConfigError` with ``message`` about the option ``name`` unless ``ok``: for a
    requirement in words of its own.

    Example:
        >>> require(False, "padding_side", "padding_side must be 'right' or 'left', not 'up'")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: padding_side must be 'right' or 'left', not 'up'
    """
    if not ok:
        raise ConfigError(message, parameter=name)


def check_int(
    name: str,
    value: Any,
    *,
    minimum: int = 0,
    optional: bool = False,
    must: str | None = None,
    label: str | None = None,
) -> None:
    """An integer ``>= minimum`` (None too when ``optional``), else ``{label} must be {must},
    got {value!r}``; ``must`` defaults to ``a positive integer`` (minimum 1) or ``an integer >=
    {minimum}``.

    Example:
        >>> check_int("seed", -1)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: seed must be an integer >= 0, got -1
    """
    if optional and value is None:
        return
    if not (is_int(value) and value >= minimum):
        must = must or ("a positive integer" if minimum == 1 else f"an integer >= {minimum}")
        raise ConfigError(f"{label or name} must be {must}, got {value!r}", parameter=name)


def check_whole(name: str, value: Any, *, minimum: int | None = None, unit: str = "") -> None:
    """None, or a whole number (``must be a whole number``) of at least ``minimum`` (``must be
    at least {minimum}{unit}``): a count that may be left unset.

    Example:
        >>> check_whole("max_length", 1, minimum=2, unit=" tokens")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: max_length must be at least 2 tokens, got 1
    """
    if value is None:
        return
    require(is_int(value), name, f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}{unit}, got {value!r}", parameter=name)


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
    optional: bool = False,
    must: str | None = None,
    label: str | None = None,
    shown: Callable[[Any], str] = repr,
    if_not_number: str | None = None,
) -> None:
    """A number (``finite``, else only not NaN; never a ``bool``) within ``low``/``high``
    (excluded when ``*_open``), or None when ``optional``; else ``{label} must be {must}, got
    {shown(value)}``. ``must`` defaults to ``a finite number > 0`` or ``in (0, 1]``
    from the bounds; ``if_not_number`` is the requirement stated to a value that is no number
    at all, where it differs.

    Example:
        >>> check_number("warmup_fraction", 1.0, low=0, high=1, high_open=True)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: warmup_fraction must be in [0, 1), got 1.0
        >>> check_number("alpha_n", "x", low=0, low_open=True, if_not_number="a number")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: alpha_n must be a number, got 'x'
    """
    if optional and value is None:
        return
    number = is_number(value, finite=finite)
    if (
        number
        and (low is None or (value > low if low_open else value >= low))
        and (high is None or (value < high if high_open else value <= high))
    ):
        return
    bounds = _bounds(low, high, low_open, high_open)
    if if_not_number is not None and not _numeric_type(value):
        must = if_not_number
    elif must is None:  # in [0, 1) | a finite number > 0 | a finite number
        both = low is not None and high is not None
        must = bounds if both else f"a finite number {bounds}".rstrip()
    raise ConfigError(f"{label or name} must be {must}, got {shown(value)}", parameter=name)


def check_choice(
    name: str,
    value: Any,
    choices: Sequence[str],
    *,
    optional: bool = False,
    quote: bool = True,
) -> None:
    """One of ``choices`` (or None when ``optional``), else ``{name} must be one of 'a', 'b'
    [or None], got {value!r}`` (the choices unquoted when ``quote`` is False).

    Example:
        >>> check_choice("recipe", "mine", ("paper",), optional=True)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: recipe must be one of 'paper' or None, got 'mine'
    """
    if (optional and value is None) or value in choices:
        return
    listed = ", ".join(map(repr, choices) if quote else choices)
    listed += " or None" if optional else ""
    raise ConfigError(f"{name} must be one of {listed}, got {value!r}", parameter=name)


def check_text(name: str, value: Any, *, optional: bool = False, blank: bool = False) -> None:
    """A non-empty string (only spaces count as empty unless ``blank``), or None when
    ``optional``.

    Example:
        >>> check_text("name", " ", optional=True)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: name must be a non-empty string, got ' '
    """
    if optional and value is None:
        return
    ok = isinstance(value, str) and bool(value if blank else value.strip())
    require(ok, name, f"{name} must be a non-empty string, got {value!r}")


@contextmanager
def naming(name: str) -> Iterator[None]:
    """A :class:`ConfigError` raised inside that names no parameter names ``name`` (the
    message unchanged): for a parser or a device check that does not know the option's name.

    Example:
        >>> from llmgeom.devices import check_device_name
        >>> try:
        ...     with naming("device"):
        ...         check_device_name("tpu")
        ... except ConfigError as err:
        ...     print(err.parameters, err)
        ('device',) unknown device 'tpu' (use auto, cpu, cuda or cuda:N)
    """
    try:
        yield
    except ConfigError as err:
        if not err.parameters:
            err.parameters = (name,)
        raise


def shown_argument(name: str, value: Any) -> str:
    """``name='x'`` for a plain value, ``name (a Tensor)`` for an object (no many-line repr).

    Example:
        >>> shown_argument("revision", "main"), shown_argument("weights", [1, 2])
        ("revision='main'", 'weights (a list)')
    """
    if isinstance(value, str | int | float):
        return f"{name}={value!r}"
    return f"{name} (a {type(value).__name__})"


def inapplicable(name: str, value: Any, why: str) -> ConfigError:
    """The error for an argument that does not apply: ``{name}={value!r} does not apply{why}``
    (``why`` starts with its own ``: `` or `` to ``).

    Example:
        >>> print(inapplicable("revision", "v1", " to an in-memory array"))
        revision='v1' does not apply to an in-memory array
    """
    return ConfigError(f"{shown_argument(name, value)} does not apply{why}", parameter=name)


def refuse_inapplicable(reason: str, /, **given: Any) -> None:
    """A :class:`ConfigError` naming the first of ``given`` that is set (not None) although it
    does not apply: an argument is never silently dropped.

    Example:
        >>> refuse_inapplicable("a LoadedModel brings its own", tokenizer=None, name="x")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: name='x' does not apply: a LoadedModel brings its own
    """
    for name, value in given.items():
        if value is not None:
            raise inapplicable(name, value, f": {reason}")
