"""Reading the final norm (:mod:`.final_norm`) beside a loaded head, from the same source: a
module's parameters, a local checkpoint (the norm's shard only), a GGUF file's ``output_norm``,
or the Hub (:mod:`.hub.final_norm`: one more small range read). Arrays carry none: pass an
:class:`~llmgeom.unembedding.Unembedding` with ``final_norm=`` to fold a matrix of your own.

Example:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16))
    >>> from llmgeom.sources.in_memory import from_array, from_module
    >>> norm = load_final_norm(model, from_module(model))
    >>> norm.kind, norm.weight_name, norm.bias
    ('rmsnorm', 'model.norm.weight', None)
    >>> load_final_norm(torch.ones(3, 2), from_array(torch.ones(3, 2)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: fold_norm=True does not apply to an in-memory array ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..options import inapplicable
from ..unembedding import FinalNorm, Unembedding
from .families import gguf_model_type
from .final_norm import GGUF_NORM, check_width, choose_norm_keys, make_final_norm, norm_rule
from .formats.safetensors_format import local_entries, read_tensor
from .formats.torch_bin import load_state_dict, read_bin_tensor, tensor_shapes
from .layout import parse_weight_map, pick_weight_files
from .local import read_local_config


def _module_norm(module: torch.nn.Module) -> FinalNorm:
    config: Any = getattr(module, "config", None)
    config_dict = config.to_dict() if hasattr(config, "to_dict") else {}
    params = dict(module.named_parameters(remove_duplicate=False))
    name = type(module).__name__
    weight, bias = choose_norm_keys(config_dict, params, source=name)
    rule = norm_rule(config_dict.get("model_type"))
    return make_final_norm(rule, params[weight], params[bias] if bias else None, (weight, bias))


def _file_keys(path: Path) -> list[str]:
    if path.suffix.lower() == ".safetensors":
        return list(local_entries(path))
    return list(tensor_shapes(load_state_dict(path)))


def read_checkpoint_tensor(path: Path, key: str) -> torch.Tensor:
    """The tensor ``key`` of one safetensors or ``.bin`` file."""
    read = read_tensor if path.suffix.lower() == ".safetensors" else read_bin_tensor
    return read(path, key)


def checkpoint_shards(path: Path) -> tuple[dict | None, dict[str, Path]]:
    """``(config.json or None, tensor name -> the file holding it)`` of a checkpoint directory
    or of one safetensors/.bin file in one (headers and the index only)."""
    directory = path if path.is_dir() else path.parent
    config = read_local_config(directory)
    if path.is_dir():
        files = pick_weight_files([p.name for p in directory.iterdir()], str(directory))
        if files.index:
            index = directory / files.index
            weight_map = parse_weight_map(index.read_bytes(), str(index))
            shard_of = {key: directory / shard for key, shard in weight_map.items()}
        else:
            assert files.single is not None  # one weight file or an index
            shard_of = dict.fromkeys(_file_keys(directory / files.single), directory / files.single)
    else:
        shard_of = dict.fromkeys(_file_keys(path), path)
    return config, shard_of


def _checkpoint_norm(path: Path) -> FinalNorm:
    """The final norm of a checkpoint directory or of one safetensors/.bin file in one (only
    the norm's shard is read)."""
    config, shard_of = checkpoint_shards(path)
    weight, bias = choose_norm_keys(config, shard_of, source=str(path))
    rule = norm_rule((config or {}).get("model_type"))
    bias_tensor = None if bias is None else read_checkpoint_tensor(shard_of[bias], bias)
    return make_final_norm(
        rule, read_checkpoint_tensor(shard_of[weight], weight), bias_tensor, (weight, bias)
    )


def _gguf_norm(path: Path) -> FinalNorm:
    """``output_norm`` of a GGUF file, its kind from the architecture's family rule."""
    import gguf

    from .files import _field, _gguf_reader

    reader = _gguf_reader(path)
    tensors = {t.name: t for t in reader.tensors}
    model_type = gguf_model_type(_field(reader, "general.architecture"))
    rule = norm_rule(model_type)
    if GGUF_NORM.weight not in tensors:
        raise inapplicable("fold_norm", True, f": {path} has no tensor {GGUF_NORM.weight}")

    def read(name: str | None) -> torch.Tensor | None:
        if name is None or name not in tensors:
            return None
        entry = tensors[name]
        data = np.array(gguf.dequantize(entry.data, entry.tensor_type), dtype=np.float32)
        return torch.from_numpy(data.reshape(-1))

    bias_name = GGUF_NORM.bias if rule.bias and GGUF_NORM.bias in tensors else None
    convention = "1+gamma, stored shifted" if rule.shift else "gamma"
    weight = read(GGUF_NORM.weight)
    assert weight is not None  # checked above
    bias = read(bias_name)
    return FinalNorm(
        weight,
        bias,
        rule.kind,
        GGUF_NORM.weight,
        bias_name,
        convention,  # stored: the scale
    )


def _local_norm(source: Any, unemb: Unembedding) -> FinalNorm:
    path = Path(os.fspath(source)).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _gguf_norm(path)
    if path.is_file() and path.suffix.lower() == ".npy":
        raise inapplicable("fold_norm", True, f" to {path}: a .npy file holds the head only")
    if unemb.meta.extra.get("head_rule") == "bare-tensor":
        raise inapplicable("fold_norm", True, f" to {path}: the file holds one bare tensor")
    return _checkpoint_norm(path)


def load_final_norm(source: Any, unemb: Unembedding, *, revision: str | None = None) -> FinalNorm:
    """The final norm of the model whose head ``unemb`` was loaded from ``source``, checked
    against the head's width; a ``ConfigError`` naming ``fold_norm`` where there is none."""
    kind = unemb.meta.source_kind
    if isinstance(source, Unembedding) or kind == "array":
        if unemb.final_norm is not None:
            norm = unemb.final_norm
        else:
            why = (
                " to an in-memory array (it has no final norm): pass "
                "Unembedding(weight, meta, final_norm=FinalNorm(...)) to fold a norm of your own"
            )
            raise inapplicable("fold_norm", True, why)
    elif kind == "module":
        norm = _module_norm(source)
    elif kind in ("local-dir", "file"):
        norm = _local_norm(source, unemb)
    elif kind == "hub":
        from .hub.final_norm import load_hub_final_norm

        norm = load_hub_final_norm(unemb)
    else:
        raise inapplicable("fold_norm", True, f" to a head from a {kind!r} source")
    return check_width(norm, unemb.shape[1], unemb.meta.source)
