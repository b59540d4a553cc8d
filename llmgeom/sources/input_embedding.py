"""The input embedding of the model a head was loaded from (one more tensor), for the
under-trained-token indicator of an untied model: a module's ``get_input_embeddings()``, a local
checkpoint's tensor (only its shard is read; its name from the model's meta-device skeleton, a
family alias or the well-known names, as the head's: :mod:`.head_key`), or a GGUF file's
``token_embd``. None for a tied head (the head IS the input embedding).

Not covered: in-memory arrays, ``.npy`` files and bare tensors (they hold the head only) and Hub
ids (download the checkpoint and pass its folder): :class:`TensorNotFoundError`, one line.

Example:
    >>> from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    >>> from llmgeom.sources.in_memory import from_module
    >>> model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=20, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
    ...     tie_word_embeddings=False))
    >>> found = load_input_embedding(model, from_module(model))
    >>> found.name, tuple(found.weight.shape)
    ('gpt_neox.embed_in.weight', (20, 8))
    >>> keys = ["embed_out.weight", "gpt_neox.embed_in.weight"]
    >>> choose_input_key({"model_type": "gpt_neox"}, keys)
    'gpt_neox.embed_in.weight'
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import TensorNotFoundError
from ..unembedding import Unembedding
from .families import family_for_model_type
from .head_key import INPUT_EMBEDDING_NAMES, _key, _match, _skeleton_head_names, config_info
from .norm_loading import checkpoint_shards, read_checkpoint_tensor

GGUF_INPUT = "token_embd.weight"


@dataclass(frozen=True)
class InputEmbedding:
    """The input embedding's ``weight`` (as stored: not copied, not converted) and its name."""

    weight: torch.Tensor
    name: str | None


def choose_input_key(config: Mapping[str, Any] | None, keys: Collection[str]) -> str | None:
    """The input-embedding tensor among a checkpoint's ``keys`` (None when none is found)."""
    names: tuple[str, ...] = ()
    if config:
        names = _skeleton_head_names(_key(config), "input")
        family = family_for_model_type(config_info(config).model_type)
        aliases = family.checkpoint_aliases if family else {}
        names = (*names, *(a for n in names for a in aliases.get(n, ())))
    return _match([*names, *INPUT_EMBEDDING_NAMES], keys)


def _from_module(module: Any, head: torch.Tensor) -> InputEmbedding | None:
    getter = getattr(module, "get_input_embeddings", None)
    embedding = getter() if callable(getter) else None
    weight = getattr(embedding, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise TensorNotFoundError(f"{type(module).__name__} has no input embedding")
    if weight is head or weight.data_ptr() == head.data_ptr():
        return None
    names = [n for n, p in module.named_parameters(remove_duplicate=False) if p is weight]
    return InputEmbedding(weight.detach(), names[0] if names else None)


def _from_gguf(path: Path, head_key: str | None) -> InputEmbedding | None:
    import gguf

    from .files import _gguf_reader

    if head_key == GGUF_INPUT:
        return None
    tensors = {t.name: t for t in _gguf_reader(path).tensors}
    if GGUF_INPUT not in tensors:
        raise TensorNotFoundError(f"{path} has no tensor {GGUF_INPUT}")
    entry = tensors[GGUF_INPUT]
    data = np.array(gguf.dequantize(entry.data, entry.tensor_type), dtype=np.float32)
    return InputEmbedding(torch.from_numpy(data.reshape(-1, data.shape[-1])), GGUF_INPUT)


def _from_checkpoint(path: Path, unemb: Unembedding) -> InputEmbedding | None:
    config, shard_of = checkpoint_shards(path)
    key = choose_input_key(config, shard_of)
    if key is None:
        raise TensorNotFoundError(f"{path}: no input-embedding tensor found")
    if key == unemb.meta.tensor_name:
        return None
    return InputEmbedding(read_checkpoint_tensor(shard_of[key], key), key)


def load_input_embedding(
    source: Any, unemb: Unembedding, *, revision: str | None = None
) -> InputEmbedding | None:
    """The input embedding of the model whose head ``unemb`` was loaded from ``source``; None
    when the head is tied (it is the input embedding). ``revision`` is the head's (a Hub
    source is not covered: see the module docstring)."""
    meta = unemb.meta
    if meta.tied:
        return None
    kind = meta.source_kind
    if kind == "module":
        return _from_module(source, unemb.weight)
    if kind in ("local-dir", "file") and isinstance(source, str | os.PathLike):
        path = Path(os.fspath(source)).expanduser()
        if path.is_file() and path.suffix.lower() == ".gguf":
            return _from_gguf(path, meta.tensor_name)
        bare = meta.extra.get("head_rule") in ("bare-tensor", "array")
        if not (path.is_file() and path.suffix.lower() == ".npy") and not bare:
            return _from_checkpoint(path, unemb)
        raise TensorNotFoundError(f"{path} holds the head only, no input embedding")
    if kind == "hub":
        raise TensorNotFoundError(
            f"{meta.source}: the input embedding is not read from the Hub; download the "
            "checkpoint and pass its folder"
        )
    raise TensorNotFoundError(f"a head from a {kind!r} source has no input embedding")
