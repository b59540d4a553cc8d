"""The base of llmgeom's typed results: a frozen dataclass that keeps the JSON record it was
built from, so that ``from_dict(r.to_dict()).to_dict() == r.to_dict()`` exactly.

A subclass declares its headline attributes as dataclass fields, ``SCHEMA`` (the record's
schema name), ``_headline`` (the attributes read from a record), ``_read`` (how a file is read
and checked) and ``_rows`` (the few values its repr shows).

Example:
    >>> from dataclasses import dataclass
    >>> from typing import Any, ClassVar
    >>> @dataclass(frozen=True, eq=False, repr=False)
    ... class Answer(TypedResult):
    ...     value: int
    ...     SCHEMA: ClassVar[str] = "example.answer/1"
    ...     @classmethod
    ...     def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
    ...         return {"value": int(d["value"])}
    ...     def _rows(self) -> list[tuple[str, str]]:
    ...         return [("value", str(self.value))]
    >>> r = Answer.from_dict({"schema": "example.answer/1", "value": 42, "notes": "kept"})
    >>> r, r.value, r.to_dict()["notes"], Answer.from_dict(r.to_dict()) == r
    (Answer(value=42), 42, 'kept', True)
    >>> r.columns()
    {'value': 42}
"""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError, LlmgeomError, one_line

R = TypeVar("R", bound="TypedResult")

#: What reading a record's fields into typed attributes raises on a field that is missing
#: (KeyError, IndexError) or of another type than the attribute (the rest): the record is
#: malformed, a one-line error (:func:`malformed`), never a traceback.
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)


def malformed(schema: str, err: BaseException) -> str:
    """The one line saying why a record of ``schema`` could not be read (``err``: one of
    :data:`MALFORMED`).

    Example:
        >>> malformed("llmgeom.loss/1", KeyError("tokens"))
        "malformed llmgeom.loss/1 result: field 'tokens' is missing"
        >>> malformed("llmgeom.loss/1", ValueError("could not convert string to float: 'x'"))
        "malformed llmgeom.loss/1 result: could not convert string to float: 'x'"
    """
    if isinstance(err, KeyError):
        why = f"field {err.args[0]!r:.80} is missing" if err.args else "a field is missing"
    else:
        why = f"{err}"[:200]
    return one_line(f"malformed {schema} result: {why}")


@dataclass(frozen=True)
class Estimate:
    """A statistic with how it was obtained: ``method`` ``exact`` (``se`` and ``ci95`` None) or
    ``sample`` (its standard error and 95 % interval).

    Example:
        >>> e = Estimate(0.1642)
        >>> e.value, e.se, e.ci95, e.method, e.exact
        (0.1642, None, None, 'exact', True)
    """

    value: float
    se: float | None = None
    ci95: tuple[float, float] | None = None
    method: str = "exact"

    @property
    def exact(self) -> bool:
        """True when the value is exact (not sampled)."""
        return self.method == "exact"

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"Estimate({self.text()})"

    def text(self, digits: int = 4) -> str:
        """``0.1643 (exact)`` or ``0.1643 ± 0.0002, 95% CI [0.1639, 0.1647], sample``.

        Example:
            >>> Estimate(0.5).text(2)
            '0.5 (exact)'
        """
        value = f"{self.value:.{digits}g}"
        if self.exact and self.se is None:
            return f"{value} (exact)"
        parts = [value if self.se is None else f"{value} ± {self.se:.{digits}g}"]
        if self.ci95 is not None:
            low, high = self.ci95
            parts.append(f"95% CI [{low:.{digits}g}, {high:.{digits}g}]")
        return ", ".join([*parts, self.method])


def frozen_mapping(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``data`` (empty for None).

    Example:
        >>> m = frozen_mapping({"a": 1})
        >>> m["a"], type(m).__name__
        (1, 'mappingproxy')
    """
    return MappingProxyType(copy.deepcopy(dict(data or {})))


@dataclass(frozen=True, eq=False, repr=False)
class TypedResult:
    """Common part of the typed results: the JSON record (private) and what is built on it."""

    _payload: Mapping[str, Any]

    SCHEMA: ClassVar[str]
    #: The error raised when a file holds another kind of result.
    MISMATCH_ERROR: ClassVar[type[LlmgeomError]] = ConfigError

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _build(cls: type[R], payload: Mapping[str, Any], **extra: Any) -> R:
        record = copy.deepcopy(dict(payload))
        try:
            headline = cls._headline(record)
        except MALFORMED as err:  # a field the schema leaves open, missing or of another type
            raise cls.MISMATCH_ERROR(malformed(cls.SCHEMA, err)) from None
        return cls(_payload=MappingProxyType(record), **headline, **extra)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The result back from :meth:`to_dict` (or the JSON file it was saved as)."""
        return cls._build(data)

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The checked record in the file ``path`` (subclasses use their format's reader)."""
        from .._atomic import read_json

        data = read_json(path, "llmgeom result")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not an llmgeom result (a JSON object expected)")
        return data

    @classmethod
    def _same_kind(cls, schema: Any) -> bool:
        return schema == cls.SCHEMA

    @classmethod
    def load(cls: type[R], path: str | os.PathLike[str]) -> R:
        """Read a result file written by llmgeom (checked against its schema)."""
        data = cls._read(path)
        if not cls._same_kind(data.get("schema")):
            raise cls.MISMATCH_ERROR(f"{path}: a {data.get('schema')} result, not {cls.SCHEMA}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (a copy), exactly as written."""
        return copy.deepcopy(dict(self._payload))

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (what the file holds, up to whitespace)."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=True)

    def columns(self) -> dict[str, Any]:
        """The headline values as flat columns (one table row, :func:`llmgeom.records.to_pandas`):
        every scalar attribute, and for an :class:`Estimate` its value and ``<name>_se``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name.startswith("_") or not f.repr:
                continue
            value = getattr(self, f.name)
            if isinstance(value, Estimate):
                out[f.name], out[f"{f.name}_se"] = value.value, value.se
            elif value is None or isinstance(value, str | int | float | bool):
                out[f.name] = value
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TypedResult)
            and type(other) is type(self)
            and self.to_dict() == other.to_dict()
        )

    __hash__ = None  # type: ignore[assignment]

    def _rows(self) -> list[tuple[str, str]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return repr_line(type(self).__name__, self._rows())

    def _repr_html_(self) -> str:
        return html_table(type(self).__name__, self._rows())


def repr_line(name: str, rows: list[tuple[str, str]]) -> str:
    """``Name(key=value, ...)``: the one-line repr of a result.

    Example:
        >>> repr_line("Fit", [("k", "2.5"), ("n", "3")])
        'Fit(k=2.5, n=3)'
    """
    return f"{name}({', '.join(f'{k}={v}' for k, v in rows)})"


def html_table(name: str, rows: list[tuple[str, str]]) -> str:
    """The rows of a repr as an HTML table (what a notebook shows).

    Example:
        >>> html_table("Fit", [("k", "<2>")]).split("<tr>")[1]
        "<th style='text-align:left'>k</th><td>&lt;2&gt;</td></tr></table>"
    """
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table><caption>{html.escape(name)}</caption>{cells}</table>"


def fmt(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits; ``None`` for a missing one.

    Example:
        >>> fmt(0.041537092), fmt(None), fmt(float("nan"))
        ('0.04154', 'None', 'nan')
    """
    if value is None:
        return "None"
    return "nan" if math.isnan(value) else f"{value:.{digits}g}"
