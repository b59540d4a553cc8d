"""One local weight file of a checkpoint (safetensors or ``.bin``), shared by the directory and
single-file sources: its tensor table, the head's :class:`HeadLocation`, the head's bytes, and
the files beside it (``config.json``, tokenizer) that describe the head.

Example:
    >>> import tempfile, pathlib, torch, safetensors.torch as st
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> st.save_file({"lm_head.weight": torch.ones(6, 2)}, d / "model.safetensors")
    >>> shapes, entries = tensor_table(d / "model.safetensors", "safetensors")
    >>> shapes, entries["lm_head.weight"].nbytes, read_local_config(d)
    ({'lm_head.weight': (6, 2)}, 48, None)
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InvalidMatrixError
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from .head_key import HeadChoice
from .layout import parse_config
from .location import HeadLocation
from .safetensors_format import TensorEntry, local_entries, read_tensor
from .tensor_digest import tensor_sha256
from .tokenizer_len import tokenizer_length_from_json, tokenizer_length_from_vocab
from .torch_bin import bin_shapes, read_bin_tensor


def read_local_config(directory: Path) -> dict | None:
    """``config.json`` of a checkpoint directory, or None when there is none."""
    path = directory / "config.json"
    return parse_config(path.read_bytes(), str(path)) if path.is_file() else None


def local_tokenizer_length(directory: Path) -> int | None:
    """``len(tokenizer)`` from the tokenizer files in ``directory``, if any."""
    tokenizer = directory / "tokenizer.json"
    if tokenizer.is_file():
        return tokenizer_length_from_json(tokenizer.read_bytes(), str(tokenizer))
    vocab = directory / "vocab.json"
    if vocab.is_file():
        added = directory / "added_tokens.json"
        return tokenizer_length_from_vocab(
            vocab.read_bytes(), added.read_bytes() if added.is_file() else None, str(vocab)
        )
    return None


def tensor_table(path: Path, fmt: str) -> tuple[dict[str, tuple[int, ...]], dict[str, TensorEntry]]:
    """(name -> shape, safetensors entries or ``{}``) of one weight file, data unread."""
    if fmt == "safetensors":
        entries = local_entries(path)
        return {k: e.shape for k, e in entries.items()}, entries
    return bin_shapes(path), {}


def head_location(
    source: str,
    weight_file: Path,
    fmt: str,
    choice: HeadChoice,
    shapes: dict[str, tuple[int, ...]],
    entries: dict[str, TensorEntry],
    config: dict | None,
) -> HeadLocation:
    """The :class:`HeadLocation` of ``choice.key`` in one local weight file."""
    entry = entries.get(choice.key)
    return HeadLocation(
        source=source,
        file=str(weight_file),
        key=choice.key,
        fmt=fmt,
        dtype=entry.dtype if entry else None,
        shape=shapes[choice.key],
        byte_range=(entry.start, entry.stop) if entry else None,
        file_size=weight_file.stat().st_size,
        choice=choice,
        config=config,
    )


def read_head(location: HeadLocation) -> torch.Tensor:
    """The tensor a local safetensors or ``.bin`` :class:`HeadLocation` points to."""
    if location.nbytes is not None:
        ensure_fits(location.nbytes, f"tensor {location.key!r}")
    if location.fmt == "safetensors":
        return read_tensor(location.file, location.key)
    return read_bin_tensor(location.file, location.key)


def unembedding_at(
    location: HeadLocation,
    weight: torch.Tensor,
    *,
    source_kind: str,
    file: str,
    tokenizer_dir: Path,
) -> Unembedding:
    """The :class:`Unembedding` of a head read from ``location``, with its metadata."""
    choice = location.choice
    meta = HeadMetadata(
        source=location.source,
        source_kind=source_kind,
        family=getattr(choice, "family", None),
        tensor_name=location.key,
        tied=getattr(choice, "tied", None),
        d_model=getattr(choice, "d_model", None),
        tokenizer_len=local_tokenizer_length(tokenizer_dir),
        file=file,
        sha256=tensor_sha256(weight),
        extra={"format": location.fmt, "head_rule": getattr(choice, "rule", "array")},
    )
    try:
        return Unembedding(weight, meta)
    except InvalidMatrixError as err:  # name where the refused matrix came from
        raise InvalidMatrixError(f"{location.file}: tensor {location.key!r}: {err}") from None
