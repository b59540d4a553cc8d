"""Local Hugging Face checkpoint directories (single or sharded, safetensors or ``.bin``).

Only the head tensor is read: the model is never instantiated and no other tensor's bytes are
touched (safetensors: ``safe_open`` maps the one shard and reads the head's pages; ``.bin``: a
memory map of the one shard that holds it).

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

from ..errors import SourceNotFoundError
from ..unembedding import Unembedding
from .head_key import choose_head_key
from .layout import parse_weight_map, pick_weight_files
from .location import HeadLocation
from .weight_file import head_location, read_head, read_local_config, tensor_table, unembedding_at


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
        shapes, entries = tensor_table(weight_file, files.fmt)
    else:
        weight_file = directory / files.single
        shapes, entries = tensor_table(weight_file, files.fmt)
        choice = choose_head_key(
            config, shapes, tensor=tensor, shapes=shapes, source=str(directory)
        )
    if choice.key not in shapes:
        raise SourceNotFoundError(
            f"{weight_file}: does not contain {choice.key!r} as its index says"
        )
    return head_location(str(directory), weight_file, files.fmt, choice, shapes, entries, config)


def load_from_directory(
    directory: str | os.PathLike[str], tensor: str | None = None
) -> Unembedding:
    """Load the output embedding of a local checkpoint directory with its metadata."""
    directory = Path(directory)
    location = locate_in_directory(directory, tensor)
    return unembedding_at(
        location,
        read_head(location),
        source_kind="local-dir",
        file=str(Path(location.file).relative_to(directory)),
        tokenizer_dir=directory,
    )
