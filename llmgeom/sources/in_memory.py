"""In-memory sources: a model with ``get_output_embeddings()`` (``nn.Module``), a tensor, an array.

Example:
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> u = from_module(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=20)))
    >>> u.shape, u.meta.family, u.meta.tied, u.meta.tensor_name
    ((20, 8), 'gpt2', True, 'transformer.wte.weight')
    >>> from_array(np.eye(3, 2)).meta.source_kind
    'array'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import InvalidMatrixError, TensorNotFoundError
from ..options import inapplicable
from ..unembedding import HeadMetadata, Unembedding
from .families import family_label


def _text_config(config: Any) -> Any:
    """The text part of a transformers config (itself for plain language models)."""
    try:
        return config.get_text_config()
    except Exception:  # no getter, or an unusual config object
        return config


def _module_tied(module: torch.nn.Module, weight: Any, text_config: Any) -> bool | None:
    """Whether the output embedding IS the input embedding; the config says so if no getter."""
    hf_module: Any = module  # the getter is a transformers method, untyped on nn.Module
    try:
        in_weight = getattr(hf_module.get_input_embeddings(), "weight", None)
    except (NotImplementedError, AttributeError, TypeError):
        in_weight = None
    if isinstance(in_weight, torch.Tensor) and isinstance(weight, torch.Tensor):
        return in_weight is weight
    tied = getattr(text_config, "tie_word_embeddings", None)
    return tied if isinstance(tied, bool) else None


def refuse_ref(kind: str, tensor: str | None, revision: str | None) -> None:
    """An in-memory object has no Hub revision, and a tensor or array no tensor names: a
    ``ConfigError`` naming the parameter, never a silently ignored argument.

    Example:
        >>> refuse_ref("array", None, "main")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: revision='main' does not apply to an in-memory array (it ...
    """
    if revision is not None:
        why = f" to an in-memory {kind} (it names a Hub branch, tag or commit)"
        raise inapplicable("revision", revision, why)
    if tensor is not None and kind != "module":
        why = f" to an in-memory {kind} (it is the matrix itself); pass the matrix you want"
        raise inapplicable("tensor", tensor, why)


def _named_weight(module: torch.nn.Module, tensor: str) -> torch.Tensor:
    named: dict[str, torch.Tensor] = dict(module.named_parameters(remove_duplicate=False))
    named.update(dict(module.named_buffers(remove_duplicate=False)))
    weight = named.get(tensor)
    if weight is None:
        shown = ", ".join(n for n, p in named.items() if p.ndim == 2)
        raise TensorNotFoundError(
            f"{type(module).__name__} has no parameter {tensor!r} (2-D parameters: "
            f"{shown or 'none'})"
        )
    if weight.ndim != 2:
        raise InvalidMatrixError(
            f"{tensor} of {type(module).__name__} has shape {tuple(weight.shape)}, not a matrix"
        )
    return weight


def _output_weight(module: torch.nn.Module) -> tuple[Any, Any]:
    """(the head's weight, what ``get_output_embeddings()`` returned)."""
    getter = getattr(module, "get_output_embeddings", None)
    head = getter() if callable(getter) else None
    return getattr(head, "weight", head), head


def from_module(module: torch.nn.Module, tensor: str | None = None) -> Unembedding:
    """The output embedding of a model with ``get_output_embeddings()`` (or its parameter
    called ``tensor``); tied when the model's output embedding IS its input embedding; family
    (:mod:`.families`) and ``d_model`` from a transformers config."""
    head_weight, head = _output_weight(module)
    weight = head_weight if tensor is None else _named_weight(module, tensor)
    if not isinstance(weight, torch.Tensor):
        raise InvalidMatrixError(
            f"{type(module).__name__} has no output embedding (get_output_embeddings() "
            f"returned {type(head).__name__}); pass tensor=NAME or the weight tensor instead"
        )
    config = getattr(module, "config", None)
    text_config = _text_config(config)
    model_type = getattr(config, "model_type", None)
    model_type = model_type if isinstance(model_type, str) else None
    d_model = getattr(text_config, "hidden_size", None)
    param_names = [n for n, p in module.named_parameters(remove_duplicate=False) if p is weight]
    meta = HeadMetadata(
        source=getattr(config, "_name_or_path", None) or f"<{type(module).__name__}>",
        source_kind="module",
        family=family_label(model_type),
        tensor_name=tensor or (param_names[0] if param_names else None),
        tied=_module_tied(module, head_weight, text_config),
        d_model=d_model if isinstance(d_model, int) else None,
        extra={"model_type": model_type} if model_type is not None else {},
    )
    return Unembedding(weight.detach(), meta)


def from_array(matrix: torch.Tensor | np.ndarray) -> Unembedding:
    """A 2-D tensor or array as an :class:`Unembedding` (shares its memory)."""
    return Unembedding(torch.as_tensor(matrix).detach(), HeadMetadata("<array>", "array"))
