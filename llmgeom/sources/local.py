"""Local Hugging Face checkpoints: a directory (single or sharded, safetensors or ``.bin``) or
one weight file, with the ``config.json`` and tokenizer files beside it. Only the head's bytes
are read (``safe_open``, or a memory map of the ``.bin`` shard); no model is built.

Example:
    >>> import json, tempfile, pathlib, torch, safetensors.torch as st
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 4}))
    >>> st.save_file({"wte.weight": torch.randn(10, 4), "wpe.weight": torch.randn(8, 4)},
    ...              d / "model.safetensors")
    >>> u = load_from_directory(d)
    >>> u.meta.tensor_name, u.meta.family, u.shape
    ('wte.weight', 'gpt2', (10, 4))
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import ConfigError, InvalidMatrixError, SourceNotFoundError
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from .formats.safetensors_format import local_entries, read_tensor
from .formats.torch_bin import (
    BARE_TENSOR_KEY,
    BareTensor,
    load_state_dict,
    read_bin_tensor,
    tensor_shapes,
)
from .head_key import HeadChoice, choose_head_key
from .layout import parse_config, parse_weight_map, pick_weight_files
from .location import HeadLocation
from .tensor_digest import tensor_sha256
from .tokenizer_len import tokenizer_length_from_json, tokenizer_length_from_vocab


def read_local_config(directory: Path) -> dict | None:
    """``config.json`` of a checkpoint directory, or None when there is none."""
    path = directory / "config.json"
    return parse_config(path.read_bytes(), str(path)) if path.is_file() else None


def local_tokenizer_length(directory: Path) -> int | None:
    """``len(tokenizer)`` from the tokenizer files in ``directory``, if any."""
    if (tokenizer := directory / "tokenizer.json").is_file():
        return tokenizer_length_from_json(tokenizer.read_bytes(), str(tokenizer))
    if (vocab := directory / "vocab.json").is_file():
        added = directory / "added_tokens.json"
        added_raw = added.read_bytes() if added.is_file() else None
        return tokenizer_length_from_vocab(vocab.read_bytes(), added_raw, str(vocab))
    return None


def locate_weight_file(
    path: Path,
    tensor: str | None,
    source: Path,
    choice: HeadChoice | None = None,
    config: dict | None = None,
) -> HeadLocation:
    """The head in a safetensors or ``.bin`` file of ``source`` (its directory, or the file):
    ``choice`` (made from a shard index with ``config``, which the caller read), else chosen
    with the config beside it (a 2-D bare tensor is the head)."""
    if choice is None:
        config = read_local_config(path.parent if source == path else source)
    fmt = "safetensors" if path.suffix.lower() == ".safetensors" else "bin"
    entries, dtype = {}, None
    if fmt == "safetensors":
        entries = local_entries(path)
        shapes = {k: e.shape for k, e in entries.items()}
    else:
        state = load_state_dict(path)
        shapes = tensor_shapes(state)
        if choice is None and isinstance(state, BareTensor):
            weight = state[BARE_TENSOR_KEY]
            if tensor is not None:
                raise ConfigError(
                    f"{path}: the file holds one bare tensor; tensor={tensor!r} does not apply",
                    parameter="tensor",
                )
            if weight.ndim != 2:
                raise InvalidMatrixError(
                    f"{path}: the file holds one tensor of shape {list(weight.shape)}; an output "
                    "embedding must be 2-D [n_rows, m]"
                )
            choice, config = HeadChoice(BARE_TENSOR_KEY, None, None, "bare-tensor"), None
            dtype = str(weight.dtype).removeprefix("torch.")
    if choice is None:
        choice = choose_head_key(config, shapes, tensor=tensor, shapes=shapes, source=str(source))
    elif choice.key not in shapes:
        raise SourceNotFoundError(f"{path}: does not contain {choice.key!r} as its index says")
    entry = entries.get(choice.key)
    return HeadLocation(
        source=str(source),
        file=str(path),
        key=choice.key,
        fmt=fmt,
        dtype=entry.dtype if entry else dtype,
        shape=shapes[choice.key],
        byte_range=(entry.start, entry.stop) if entry else None,
        file_size=path.stat().st_size,
        choice=choice,
        config=config,
    )


def locate_in_directory(directory: str | os.PathLike, tensor: str | None = None) -> HeadLocation:
    """Find the head tensor of a checkpoint directory without reading its data."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceNotFoundError(f"no such checkpoint directory: {directory}")
    files = pick_weight_files([p.name for p in directory.iterdir()], str(directory))
    if files.single:
        return locate_weight_file(directory / files.single, tensor, directory)
    assert files.index is not None  # a checkpoint has one weight file or an index
    index_path = directory / files.index
    weight_map = parse_weight_map(index_path.read_bytes(), str(index_path))
    config = read_local_config(directory)
    choice = choose_head_key(config, weight_map, tensor=tensor, source=str(directory))
    shard = weight_map[choice.key]
    if not (directory / shard).is_file():
        raise SourceNotFoundError(
            f"{directory}: the index maps {choice.key!r} to a missing shard {shard}"
        )
    return locate_weight_file(directory / shard, tensor, directory, choice, config)


def load_located(location: HeadLocation, weight: torch.Tensor | None = None) -> Unembedding:
    """The :class:`Unembedding` at a local ``location`` (``weight``: the head, if already read)."""
    path = Path(location.file)
    in_directory = location.source != location.file  # else a single file: its own source
    directory = Path(location.source) if in_directory else path.parent
    if weight is None:
        if location.nbytes is not None:
            ensure_fits(location.nbytes, f"tensor {location.key!r}")
        read = read_tensor if location.fmt == "safetensors" else read_bin_tensor
        weight = read(location.file, location.key)
    choice = location.choice  # None for a .npy array
    meta = HeadMetadata(
        source=location.source,
        source_kind="local-dir" if in_directory else "file",
        family=getattr(choice, "family", None),
        tensor_name=location.key,
        tied=getattr(choice, "tied", None),
        d_model=getattr(choice, "d_model", None),
        tokenizer_len=local_tokenizer_length(directory),
        file=str(path.relative_to(directory)),
        sha256=tensor_sha256(weight),
        extra={"format": location.fmt, "head_rule": getattr(choice, "rule", "array")},
    )
    try:
        return Unembedding(weight, meta)
    except InvalidMatrixError as err:  # name where the refused matrix came from
        raise InvalidMatrixError(f"{location.file}: tensor {location.key!r}: {err}") from None


def load_from_directory(directory: str | os.PathLike, tensor: str | None = None) -> Unembedding:
    """Load the output embedding of a local checkpoint directory with its metadata."""
    return load_located(locate_in_directory(directory, tensor))
