"""Local Hugging Face checkpoint directories (single or sharded, safetensors or ``.bin``).

Only the head tensor is read: the model is never instantiated and no other tensor's bytes are
touched (safetensors: one byte range; ``.bin``: a memory map of the one shard that holds it).

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

from ..errors import InvalidMatrixError, SourceNotFoundError
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from .head_key import HeadChoice, choose_head_key
from .layout import parse_config, parse_weight_map, pick_weight_files
from .location import HeadLocation
from .safetensors_format import TensorEntry, read_entry, read_header
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


def shapes_of(path: Path, fmt: str) -> tuple[dict[str, tuple[int, ...]], dict]:
    """(key -> shape, safetensors entries or {}) of one weight file."""
    if fmt == "safetensors":
        entries, _ = read_header(path)
        return {k: e.shape for k, e in entries.items()}, entries
    return bin_shapes(path), {}


def locate_in_directory(
    directory: str | os.PathLike[str], tensor: str | None = None
) -> HeadLocation:
    """Find the head tensor of a checkpoint directory without reading its data."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceNotFoundError(f"no such checkpoint directory: {directory}")
    config = read_local_config(directory)
    files = pick_weight_files([p.name for p in directory.iterdir()], str(directory))
    if files.index:
        index_path = directory / files.index
        weight_map = parse_weight_map(index_path.read_bytes(), str(index_path))
        choice = choose_head_key(config, weight_map, tensor=tensor, source=str(directory))
        weight_file = directory / weight_map[choice.key]
        if not weight_file.is_file():
            raise SourceNotFoundError(
                f"{directory}: the index maps {choice.key!r} to a missing shard "
                f"{weight_map[choice.key]}"
            )
        shapes, entries = shapes_of(weight_file, files.fmt)
    else:
        weight_file = directory / files.single
        shapes, entries = shapes_of(weight_file, files.fmt)
        choice = choose_head_key(
            config, shapes, tensor=tensor, shapes=shapes, source=str(directory)
        )
    if choice.key not in shapes:
        raise SourceNotFoundError(
            f"{weight_file}: does not contain {choice.key!r} as its index says"
        )
    return location_in_file(str(directory), weight_file, files.fmt, choice, shapes, entries, config)


def location_in_file(
    source: str,
    weight_file: Path,
    fmt: str,
    choice: HeadChoice,
    shapes: dict[str, tuple[int, ...]],
    entries: dict,
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


def read_located_tensor(location: HeadLocation) -> torch.Tensor:
    """Read the tensor a :class:`HeadLocation` points to (local files only)."""
    if location.nbytes is not None:
        ensure_fits(location.nbytes, f"tensor {location.key!r}")
    if location.fmt == "safetensors" and location.byte_range is not None:
        start, stop = location.byte_range  # located from the header: no second parse
        entry = TensorEntry(location.key, location.dtype, location.shape, start, stop)
        return read_entry(location.file, entry)
    return read_bin_tensor(location.file, location.key)


def load_from_directory(
    directory: str | os.PathLike[str], tensor: str | None = None
) -> Unembedding:
    """Load the output embedding of a local checkpoint directory with its metadata."""
    directory = Path(directory)
    location = locate_in_directory(directory, tensor)
    weight = read_located_tensor(location)
    choice = location.choice
    meta = HeadMetadata(
        source=str(directory),
        source_kind="local-dir",
        family=choice.family,
        tensor_name=location.key,
        tied=choice.tied,
        d_model=choice.d_model,
        tokenizer_len=local_tokenizer_length(directory),
        stored_dtype=str(weight.dtype).removeprefix("torch."),
        file=str(Path(location.file).relative_to(directory)),
        sha256=tensor_sha256(weight),
        extra={"head_rule": choice.rule, "format": location.fmt},
    )
    return unembedding_from(weight, meta, f"{location.file}: tensor {location.key!r}")


def unembedding_from(weight: torch.Tensor, meta: HeadMetadata, where: str) -> Unembedding:
    """``Unembedding(weight, meta)``; a refused matrix's error names ``where`` it came from."""
    try:
        return Unembedding(weight, meta)
    except InvalidMatrixError as err:
        raise InvalidMatrixError(f"{where}: {err}") from None
