"""In-memory sources: a ``torch.nn.Module`` with ``get_output_embeddings()``, a tensor, an array.

Example:
    >>> import torch
    >>> head = torch.nn.Linear(4, 10, bias=False)   # weight is [10, 4]
    >>> class Tiny(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.head = head
    ...     def get_output_embeddings(self):
    ...         return self.head
    >>> from_module(Tiny()).shape
    (10, 4)
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidMatrixError
from ..unembedding import HeadMetadata, Unembedding


def from_module(module: torch.nn.Module, name: str | None = None) -> Unembedding:
    """The output embedding of a model object (anything with ``get_output_embeddings()``)."""
    getter = getattr(module, "get_output_embeddings", None)
    head = getter() if callable(getter) else None
    weight = getattr(head, "weight", head)
    if not isinstance(weight, torch.Tensor):
        raise InvalidMatrixError(
            f"{type(module).__name__} has no output embedding (get_output_embeddings() returned "
            f"{type(head).__name__}); pass the weight tensor instead"
        )
    config = getattr(module, "config", None)
    tied = None
    inputs = getattr(module, "get_input_embeddings", None)
    if callable(inputs):
        in_weight = getattr(inputs(), "weight", None)
        tied = in_weight is weight if isinstance(in_weight, torch.Tensor) else None
    param_names = [n for n, p in module.named_parameters(remove_duplicate=False) if p is weight]
    meta = HeadMetadata(
        source=name or getattr(config, "_name_or_path", None) or f"<{type(module).__name__}>",
        source_kind="module",
        tensor_name=param_names[0] if param_names else None,
        tied=tied,
        d_model=getattr(config, "hidden_size", None) if config is not None else None,
    )
    return Unembedding(weight.detach(), meta)


def from_array(matrix: torch.Tensor | np.ndarray, name: str | None = None) -> Unembedding:
    """Wrap a 2-D tensor or array as an :class:`Unembedding`."""
    tensor = torch.from_numpy(np.asarray(matrix)) if isinstance(matrix, np.ndarray) else matrix
    meta = HeadMetadata(source=name or "<array>", source_kind="array")
    return Unembedding(tensor.detach(), meta)
