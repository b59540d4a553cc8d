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
