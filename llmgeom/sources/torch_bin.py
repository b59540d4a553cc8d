"""Read one tensor from a PyTorch ``.bin`` checkpoint, safely.

Pickles are loaded with ``weights_only=True`` (a pickle that tries to run code is refused) and
memory-mapped when the file uses the zip format, so only the pages of the requested tensor are
read from disk.

Example:
    >>> import tempfile, torch
    >>> path = tempfile.mktemp(suffix=".bin")
    >>> torch.save({"decoder.embed_tokens.weight": torch.ones(5, 3)}, path)
    >>> read_bin_tensor(path, "decoder.embed_tokens.weight").shape
    torch.Size([5, 3])
    >>> torch.save(torch.ones(4, 2), path)   # a bare tensor reads under BARE_TENSOR_KEY
    >>> bin_shapes(path)
    {'tensor': (4, 2)}
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import CorruptCheckpointError
from ..memory import ensure_fits
from ._reasons import short_reason
from .safetensors_format import require_entry


def _refusal_reason(err: Exception) -> str:
    """The line of torch's weights_only refusal that names what was refused."""
    text = str(err)
    match = re.search(r"(unsupported global|unsupported operand|global [\w.]+ )[^\n]*", text, re.I)
    reason = match.group(0) if match else (text.strip().splitlines() or [type(err).__name__])[0]
    return reason.strip()[:200]


def refused_error(err: Exception, source: str) -> CorruptCheckpointError:
    """The error for a pickle that ``weights_only`` loading refused (not plain weights)."""
    return CorruptCheckpointError(
        f"{source}: refused to load: the pickle is not plain weights ({_refusal_reason(err)})"
    )


BARE_TENSOR_KEY = "tensor"  # the name a lone ``torch.save(tensor)`` is reported under


class BareTensor(dict):
    """The state dict of a file holding one bare tensor: ``{BARE_TENSOR_KEY: tensor}``."""


def load_state_dict(path: str | os.PathLike[str]) -> Mapping[str, torch.Tensor]:
    """Load a ``.bin`` state dict lazily (mmap) and safely (``weights_only=True``).

    A file that holds one bare tensor (``torch.save(tensor)``) reads as a :class:`BareTensor`
    mapping :data:`BARE_TENSOR_KEY` to it.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"{path}: empty file (0 bytes), not a PyTorch checkpoint")
    mmap = zipfile.is_zipfile(path)
    if not mmap:
        with path.open("rb") as fh:
            prefix = fh.read(4)
        # a torch.save pickle (protocol >= 2) starts with PROTO; a cut-short zip with "PK\3\4"
        if not prefix.startswith((b"\x80", b"PK\x03\x04")):
            raise CorruptCheckpointError(
                f"{path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)"
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise refused_error(err, str(path)) from None
    except OSError as err:
        if err.filename is not None:  # a filesystem error about the path: already names it
            raise
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt PyTorch checkpoint ({short_reason(err)})"
        ) from None
    except (RuntimeError, EOFError, ValueError) as err:
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt PyTorch checkpoint ({short_reason(err)})"
        ) from None
    if isinstance(state, torch.Tensor):
        return BareTensor({BARE_TENSOR_KEY: state})
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise CorruptCheckpointError(
            f"{path}: neither a state dict nor a tensor (got {type(state).__name__})"
        )
    return state


def tensor_shapes(state: Mapping[str, object]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors in a loaded state dict (non-tensors skipped)."""
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


def bin_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors in a ``.bin`` file (memory-mapped, nothing copied)."""
    return tensor_shapes(load_state_dict(path))


def read_bin_tensor(path: str | os.PathLike[str], name: str) -> torch.Tensor:
    """Copy tensor ``name`` out of a ``.bin`` file and release the rest."""
    state = load_state_dict(path)
    shapes = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    require_entry(shapes, name, str(path))
    ensure_fits(state[name].numel() * state[name].element_size(), f"tensor {name!r}")
    tensor = state[name].clone()
    del state
    return tensor
