"""Where an output-embedding matrix comes from: one entry point, :func:`load_unembedding`.

It asks the registered sources (:class:`Source`) in order, first match wins: an
:class:`Unembedding` as is; a tensor or array; an ``nn.Module``; an existing directory
(:mod:`.local`) or file (:mod:`.files`); any other string is a Hub id or a paper-model alias
(:mod:`.hub`). :func:`register_source` adds your own. ``final_norm=True`` also reads the norm right
before the head (:mod:`.final_norm`, :mod:`.norm_loading`) into ``Unembedding.final_norm``.

Example:
    >>> load_unembedding(torch.ones(3, 2)).meta.source_kind
    'array'
    >>> [s.name for s in registered_sources()]
    ['unembedding', 'array', 'module', 'local-dir', 'local-file', 'hub']
    >>> find_source("gpt2").name
    'hub'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import ConfigError, SourceNotFoundError
from ..unembedding import Unembedding
from .files import SUFFIX_FORMATS, load_file, locate_file
from .in_memory import from_array, from_module, refuse_ref
from .local import load_from_directory, locate_in_directory
from .location import HeadLocation


@runtime_checkable
class Source(Protocol):
    """A ``name``, ``can_load`` (cheap: no reading, no network), ``locate`` (headers only;
    NotImplementedError where meaningless) and ``load`` (the head with its metadata)."""

    @property
    def name(self) -> str: ...

    def can_load(self, obj: Any) -> bool: ...

    def locate(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> HeadLocation: ...

    def load(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> Unembedding: ...


@dataclass(frozen=True)
class FunctionSource:
    """A :class:`Source` made of functions ``(obj, tensor, revision) -> ...`` (the built-ins)."""

    name: str
    can_load: Callable[[Any], bool]
    load_fn: Callable[[Any, str | None, str | None], Unembedding]
    locate_fn: Callable[[Any, str | None, str | None], HeadLocation] | None = None

    def locate(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> HeadLocation:
        if self.locate_fn is None:
            raise NotImplementedError(f"a {type(obj).__name__} has no file to locate a head in")
        return self.locate_fn(obj, tensor, revision)

    def load(
        self, obj: Any, *, tensor: str | None = None, revision: str | None = None
    ) -> Unembedding:
        return self.load_fn(obj, tensor, revision)


_SOURCES: list[Source] = []


def register_source(source: Source, *, before: str | None = None) -> None:
    """Add ``source`` last, or just before the source called ``before`` (names are unique); the
    built-in ``hub`` takes any string that does not look like a path: register strings before it."""
    if not isinstance(source, Source):
        raise TypeError(f"{source!r} is not a Source (name, can_load, locate, load)")
    names = [s.name for s in _SOURCES]
    if source.name in names:
        raise ConfigError(f"a source called {source.name!r} is already registered")
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
    """The registered sources, in the order they are asked."""
    return tuple(_SOURCES)


def find_source(obj: Any) -> Source:
    """The first registered source that can load ``obj`` (a path that none can: SourceNotFound)."""
    for source in _SOURCES:
        if source.can_load(obj):
            return source
    if isinstance(obj, str | os.PathLike):
        raise SourceNotFoundError(f"no such file or directory: {obj}")
    raise TypeError(f"cannot load an output embedding from {type(obj).__name__}")


def looks_like_path(text: str) -> bool:
    """True for strings that can only be paths (``./model``; never ``org/name`` or an alias)."""
    return (
        text.startswith((".", "/", "~"))
        or "\\" in text
        or text.count("/") > 1
        or text.lower().endswith((*SUFFIX_FORMATS, ".json"))
    )


def _path(obj: Any) -> Path | None:
    return _local_path(obj) if isinstance(obj, str | os.PathLike) else None


def _local_path(obj: str | os.PathLike) -> Path:
    return Path(obj).expanduser()


def _hub_load(name: Any, tensor: str | None, revision: str | None) -> Unembedding:
    from .hub import load_hub_unembedding  # imported on use: huggingface_hub is slow to import

    return load_hub_unembedding(str(name), revision=revision, tensor=tensor)


def _hub_locate(name: Any, tensor: str | None, revision: str | None) -> HeadLocation:
    from .hub import locate_hub_head

    return locate_hub_head(str(name), revision=revision, tensor=tensor).location


def _unembedding(obj: Unembedding, tensor: str | None, revision: str | None) -> Unembedding:
    refuse_ref("Unembedding", tensor, revision)
    return obj


def _array(obj: Any, tensor: str | None, revision: str | None) -> Unembedding:
    refuse_ref("tensor" if isinstance(obj, torch.Tensor) else "array", tensor, revision)
    return from_array(obj)


def _module(obj: torch.nn.Module, tensor: str | None, revision: str | None) -> Unembedding:
    refuse_ref("module", tensor, revision)
    return from_module(obj, tensor)


for _source in (
    FunctionSource("unembedding", lambda o: isinstance(o, Unembedding), _unembedding),
    FunctionSource("array", lambda o: isinstance(o, torch.Tensor | np.ndarray), _array),
    FunctionSource("module", lambda o: isinstance(o, torch.nn.Module), _module),
    FunctionSource(
        "local-dir",
        lambda o: (p := _path(o)) is not None and p.is_dir(),
        lambda o, t, r: load_from_directory(_local_path(o), t),
        lambda o, t, r: locate_in_directory(_local_path(o), t),
    ),
    FunctionSource(
        "local-file",
        lambda o: (p := _path(o)) is not None and p.is_file(),
        lambda o, t, r: load_file(_local_path(o), t),
        lambda o, t, r: locate_file(_local_path(o), t),
    ),
    FunctionSource(  # any other string that does not look like a path
        "hub",
        lambda o: isinstance(o, str | os.PathLike) and not looks_like_path(str(o)),
        _hub_load,
        _hub_locate,
    ),
):
    register_source(_source)


def load_unembedding(
    source: Any,
    *,
    tensor: str | None = None,
    revision: str | None = None,
    final_norm: bool = False,
) -> Unembedding:
    """The output embedding (LM head) of ``source`` with its metadata: a checkpoint directory or
    weight file, a Hub id or alias (``gpt2``), an ``nn.Module``, a tensor or array, or anything a
    registered :class:`Source` accepts. ``tensor`` forces the tensor; ``revision``: a Hub ref;
    ``final_norm``: also read the model's final norm (``Unembedding.final_norm``; a
    ``ConfigError`` naming ``fold_norm`` where the source has none).

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=20))
        >>> norm = load_unembedding(model, final_norm=True).final_norm
        >>> norm.weight_name, norm.bias_name, tuple(norm.scale.shape)
        ('transformer.ln_f.weight', 'transformer.ln_f.bias', (8,))
    """
    head = find_source(source).load(source, tensor=tensor, revision=revision)
    if final_norm:
        from .norm_loading import load_final_norm

        head = replace(head, final_norm=load_final_norm(source, head, revision=revision))
    return head


def locate_head(
    source: str | os.PathLike[str], *, tensor: str | None = None, revision: str | None = None
) -> HeadLocation:
    """Where the head of ``source`` is, reading headers only (what ``llmgeom inspect`` shows).

    Example:
        >>> import tempfile, safetensors.torch as st
        >>> path = f"{tempfile.mkdtemp()}/model.safetensors"
        >>> st.save_file({"lm_head.weight": torch.ones(7, 2)}, path)
        >>> location = locate_head(path)
        >>> location.key, location.shape, location.nbytes
        ('lm_head.weight', (7, 2), 56)
    """
    return find_source(source).locate(source, tensor=tensor, revision=revision)


__all__ = [
    "FunctionSource",
    "HeadLocation",
    "Source",
    "Unembedding",
    "find_source",
    "load_unembedding",
    "locate_head",
    "looks_like_path",
    "register_source",
    "registered_sources",
    "unregister_source",
]
