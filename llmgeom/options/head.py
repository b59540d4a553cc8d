"""The options of reading one head, shared by every analysis that reads one (``measure`` and
``tokens``): each a function that returns a fresh declared field (a dataclass field belongs to
one class), so the flag, the default and the help text are written once.

Example:
    >>> from dataclasses import dataclass, fields
    >>> @dataclass(frozen=True)
    ... class Reading:
    ...     tensor: str | None = tensor_option()
    ...     device: str = device_option()
    >>> [(f.name, f.default, f.metadata["flag"]) for f in fields(Reading)]
    [('tensor', None, '--tensor'), ('device', 'auto', '--device')]
"""

from __future__ import annotations

from typing import Any

from ..devices import DEVICE_HELP
from .checks import check_int, naming
from .declare import option


def tensor_option() -> Any:
    """``tensor``: the head's tensor name (``--tensor``; default: found automatically)."""
    return option(
        None, "tensor name of the head (default: automatic)", flag="--tensor", metavar="NAME"
    )


def revision_option() -> Any:
    """``revision``: the Hub branch, tag or commit (``--revision``)."""
    return option(None, "Hub branch, tag or commit", flag="--revision", metavar="REV")


def device_option() -> Any:
    """``device``: where the statistics run (``--device``; default ``auto``)."""
    return option("auto", DEVICE_HELP, flag="--device")


def drop_nonfinite_option() -> Any:
    """``drop_nonfinite``: skip rows with NaN/inf instead of failing (``--drop-nonfinite``)."""
    return option(False, "skip rows with NaN/inf instead of failing", flag="--drop-nonfinite")


def fold_norm_option() -> Any:
    """``fold_norm``: analyse the head with the final norm folded in (``--fold-norm``)."""
    return option(
        False,
        "measure the matrix that produces the logits: the head's rows scaled by the final norm's "
        "weight (Gemma: 1 + weight), read with the head; a LayerNorm bias gives per-token logit "
        "offsets (saved beside the result)",
        flag="--fold-norm",
    )


def progress_option() -> Any:
    """``progress``: None (automatic) or False (``--no-progress``); never compared."""
    return option(None, "no progress bars", flag="--no-progress", const=False, compare=False)


def parse_memory_budget(text: str) -> int:
    """A ``memory_budget`` given as text (``512MB``, ``2GiB``) in bytes; a ConfigError naming
    ``memory_budget`` otherwise.

    Example:
        >>> parse_memory_budget("2GiB")
        2147483648
    """
    from ..memory import parse_size

    with naming("memory_budget"):
        return parse_size(text)


def memory_budget_option() -> Any:
    """``memory_budget``: the bytes the blocks of products may use (``--memory-budget``;
    default: automatic)."""
    return option(
        None,
        "memory for one block of products, e.g. 512MB (default: automatic)",
        flag="--memory-budget",
        metavar="SIZE",
        parse=parse_memory_budget,
    )


def check_memory_budget(value: Any) -> None:
    """A ConfigError unless ``memory_budget`` is None or a positive number of bytes.

    Example:
        >>> check_memory_budget(0)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: memory_budget must be a positive size, e.g. 512MB, got 0
    """
    must = "a positive size, e.g. 512MB"
    check_int("memory_budget", value, minimum=1, optional=True, must=must)
