"""The :class:`Source` protocol and the ordered registry :func:`load_unembedding` consults.

A source answers three questions about an object (a path, a Hub id, a model, an array...): can
I load it (:meth:`~Source.can_load`, cheap, no reading), where is its head
(:meth:`~Source.locate`, headers only, where meaningful) and the head itself
(:meth:`~Source.load`). Sources are registered by name; the first whose ``can_load`` says yes
wins, so more specific sources come first. Register your own with :func:`register_source`.

Example:
    >>> import torch
    >>> from llmgeom.unembedding import HeadMetadata, Unembedding
    >>> class ListSource:
    ...     name = "list"
    ...     def can_load(self, obj):
    ...         return isinstance(obj, list)
    ...     def locate(self, obj, *, tensor=None, revision=None):
    ...         raise NotImplementedError("a list has no file")
    ...     def load(self, obj, *, tensor=None, revision=None):
    ...         return Unembedding(torch.tensor(obj), HeadMetadata("<list>", "list"))
    >>> register_source(ListSource(), before="hub")
    >>> find_source([[1.0, 2.0], [3.0, 4.0]]).name
    'list'
    >>> unregister_source("list").name
    'list'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, SourceNotFoundError
from ..unembedding import Unembedding
from .location import HeadLocation


@runtime_checkable
class Source(Protocol):
    """Where output embeddings come from: a name and three methods."""

    name: str

    def can_load(self, obj: Any) -> bool:
        """Whether this source handles ``obj`` (cheap: no reading, no network)."""
        ...

    def locate(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> HeadLocation:
        """Where the head of ``obj`` is, from headers only (NotImplementedError if meaningless)."""
        ...

    def load(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> Unembedding:
        """The head of ``obj`` with its metadata."""
        ...


@dataclass(frozen=True)
class FunctionSource:
    """A :class:`Source` made of functions ``(obj, tensor, revision) -> ...`` (the built-ins).

    Example:
        >>> src = FunctionSource("x", lambda o: o == "x", lambda o, t, r: None)
        >>> isinstance(src, Source), src.can_load("x")
        (True, True)
    """

    name: str
    can_load: Callable[[Any], bool]
    load_fn: Callable[[Any, str | None, str | None], Unembedding]
    locate_fn: Callable[[Any, str | None, str | None], HeadLocation] | None = None

    def locate(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> HeadLocation:
        """``locate_fn(obj, tensor, revision)``; NotImplementedError when there is none."""
        if self.locate_fn is None:
            raise NotImplementedError(f"a {type(obj).__name__} has no file to locate a head in")
        return self.locate_fn(obj, tensor, revision)

    def load(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> Unembedding:
        """``load_fn(obj, tensor, revision)``."""
        return self.load_fn(obj, tensor, revision)


_SOURCES: list[Source] = []


def register_source(source: Source, *, before: str | None = None) -> None:
    """Add ``source`` last, or just before the source called ``before``.

    The built-in ``hub`` source takes every string that does not look like a path, so a source
    of strings must be registered ``before="hub"``. A name can be registered once.
    """
    if not isinstance(source, Source):
        raise TypeError(f"{source!r} is not a Source (name, can_load, locate, load)")
    if any(s.name == source.name for s in _SOURCES):
        raise ConfigError(f"a source called {source.name!r} is already registered")
    names = [s.name for s in _SOURCES]
    if before is not None and before not in names:
        raise ConfigError(f"no source called {before!r} (registered: {', '.join(names)})")
    _SOURCES.insert(names.index(before) if before is not None else len(_SOURCES), source)


def unregister_source(name: str) -> Source:
    """Remove the source called ``name`` and return it."""
    for i, source in enumerate(_SOURCES):
        if source.name == name:
            return _SOURCES.pop(i)
    raise ConfigError(f"no source called {name!r}")


def registered_sources() -> tuple[Source, ...]:
    """The registered sources, in the order they are asked.

    Example:
        >>> [s.name for s in registered_sources()][:3]
        ['unembedding', 'array', 'module']
    """
    return tuple(_SOURCES)


def find_source(obj: Any) -> Source:
    """The first registered source that can load ``obj``.

    A path that matches none is a :class:`~llmgeom.errors.SourceNotFoundError`; any other
    object a ``TypeError``.
    """
    for source in _SOURCES:
        if source.can_load(obj):
            return source
    if isinstance(obj, str | os.PathLike):
        raise SourceNotFoundError(f"no such file or directory: {obj}")
    raise TypeError(f"cannot load an output embedding from {type(obj).__name__}")
