"""How a Hugging Face checkpoint lays out its weight files (local or on the Hub): safetensors
are preferred to ``.bin`` pickles, each single or sharded with an ``*.index.json``.

Example:
    >>> pick_weight_files(["config.json", "pytorch_model.bin", "model.safetensors"])
    WeightFiles(fmt='safetensors', index=None, single='model.safetensors')
    >>> pick_weight_files(["pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin"]).fmt
    'bin'
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..errors import CorruptCheckpointError, SourceNotFoundError

# (format, index file, single file), in order of preference
_LAYOUTS = (
    ("safetensors", "model.safetensors.index.json", "model.safetensors"),
    ("bin", "pytorch_model.bin.index.json", "pytorch_model.bin"),
)


@dataclass(frozen=True)
class WeightFiles:
    """A checkpoint's weight format, and its index file (sharded) or its one weight file."""

    fmt: str  # "safetensors" | "bin"
    index: str | None
    single: str | None


def pick_weight_files(filenames: Collection[str], source: str = "checkpoint") -> WeightFiles:
    """Choose the weight files of a checkpoint from the names of its files."""
    names = set(filenames)
    for fmt, index, single in _LAYOUTS:
        if index in names:
            return WeightFiles(fmt, index, None)
        if single in names:
            return WeightFiles(fmt, None, single)
    for fmt, suffix in (("safetensors", ".safetensors"), ("bin", ".bin")):
        found = [n for n in names if n.endswith(suffix) and "/" not in n]
        if len(found) == 1:
            return WeightFiles(fmt, None, found[0])
    raise SourceNotFoundError(
        f"{source}: no model weights found (expected model.safetensors, "
        "model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json)"
    )


def parse_weight_map(raw: str | bytes, source: str = "index") -> dict[str, str]:
    """The ``weight_map`` (tensor name -> shard file) of an index JSON file."""
    try:
        weight_map = json.loads(raw)["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CorruptCheckpointError(
            f"{source}: not a valid weight index (no weight_map)"
        ) from None
    if not isinstance(weight_map, Mapping) or not weight_map:
        raise CorruptCheckpointError(f"{source}: empty weight_map")
    return {str(k): str(v) for k, v in weight_map.items()}


def parse_config(raw: str | bytes, source: str = "config.json") -> dict:
    """Parse ``config.json`` into a dictionary (clear error when malformed)."""
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CorruptCheckpointError(f"{source}: malformed JSON ({err})") from None
    if not isinstance(config, dict):
        raise CorruptCheckpointError(f"{source}: not a JSON object")
    return config
