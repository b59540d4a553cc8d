"""Read one tensor from a local PyTorch ``.bin`` checkpoint, safely.

``torch.load(weights_only=True)`` refuses a pickle that tries to run code; zip-format files are
memory-mapped, so only the requested tensor's pages are read from disk, once their storages are
checked to be plain entries of the right size (a memory-mapped ``torch.load`` checks neither: it
would read a compressed entry's bytes, or the next entry's, as weights); other files are read
whole by ``torch.load``, which checks them.

Example:
    >>> import tempfile, torch
    >>> path = f"{tempfile.mkdtemp()}/pytorch_model.bin"
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
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from ...errors import CorruptCheckpointError
from ...memory import ensure_fits
from .._reasons import short_reason
from .safetensors_format import require_entry
from .torch_zip import (
    check_storage_records,
    names_odd_global,
    pickle_bytes,
    refused_error,
    storages_mappable,
)

# what torch.load raises on a malformed file besides its UnpicklingError: the pickle's own
# reductions called with bad arguments (TypeError...), zip and struct errors of the archive
_MALFORMED = (
    RuntimeError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    AssertionError,  # the legacy format's reader asserts what it expects
    OverflowError,
    zipfile.BadZipFile,
    struct.error,
)


BARE_TENSOR_KEY = "tensor"  # the name a lone ``torch.save(tensor)`` is reported under


class BareTensor(dict):
    """The state dict of a file holding one bare tensor: ``{BARE_TENSOR_KEY: tensor}``."""


def load_state_dict(path: str | os.PathLike[str]) -> Mapping[str, torch.Tensor]:
    """Load a ``.bin`` state dict lazily (mmap) and safely (``weights_only=True``); a bare
    ``torch.save(tensor)`` reads as a :class:`BareTensor`."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"{path}: empty file (0 bytes), not a PyTorch checkpoint")
    try:
        mmap = zipfile.is_zipfile(path)
    except zipfile.BadZipFile:  # an end record zipfile refuses ("spans multiple disks")
        mmap = True  # a damaged zip: torch.load, unmapped, decides
    if mmap:
        with path.open("rb") as fh:
            mmap = storages_mappable(fh, str(path))
            if not mmap:
                check_storage_records(fh, str(path))
    else:
        with path.open("rb") as fh:
            prefix = fh.read(4)
        # a torch.save pickle (protocol >= 2) starts with PROTO; a cut-short zip with "PK\3\4"
        if not prefix.startswith((b"\x80", b"PK\x03\x04")):
            raise CorruptCheckpointError(
                f"{path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)"
            )
    with path.open("rb") as fh:
        if names_odd_global(pickle_bytes(fh)):
            raise CorruptCheckpointError(
                f"{path}: refused to load: the pickle names a global that is no Python name"
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise refused_error(err, str(path)) from None
    except (OSError, *_MALFORMED) as err:
        if isinstance(err, OSError) and err.filename is not None:  # a filesystem error: names it
            raise
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt PyTorch checkpoint ({short_reason(err)})"
        ) from None
    if isinstance(state, torch.Tensor):
        return BareTensor({BARE_TENSOR_KEY: state})
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
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
    require_entry(tensor_shapes(state), name, str(path))
    tensor = state[name]
    nbytes = tensor.numel() * tensor.element_size()
    if nbytes > tensor.untyped_storage().nbytes():  # a view repeating its bytes (stride 0)
        raise CorruptCheckpointError(
            f"{path}: tensor {name!r} of shape {list(tensor.shape)} repeats its "
            f"{tensor.untyped_storage().nbytes()} stored bytes (a stride of 0): not a weight matrix"
        )
    ensure_fits(nbytes, f"tensor {name!r}")
    return tensor.clone()  # the rest of the mapped file is released on return
