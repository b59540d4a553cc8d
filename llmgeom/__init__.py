"""llmgeom: the geometry of language models' output embeddings, and the scaling laws it explains.

Example:
    >>> import torch, llmgeom
    >>> result = llmgeom.measure(torch.eye(4, 2))
    >>> result.mean_cos2
    0.0
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import Any

from ._lazy import lazy_attribute
from .errors import (
    ConfigError,
    CorpusError,
    CorruptCheckpointError,
    FitError,
    InsufficientMemoryError,
    InvalidMatrixError,
    LlmgeomError,
    NetworkError,
    SourceNotFoundError,
    TensorNotFoundError,
    UnknownModelError,
)

__all__ = [
    "ConfigError",
    "CorpusError",
    "CorruptCheckpointError",
    "FitError",
    "HeadMetadata",
    "InsufficientMemoryError",
    "InvalidMatrixError",
    "LlmgeomError",
    "MeasureOptions",
    "MeasureResult",
    "NetworkError",
    "SourceNotFoundError",
    "TensorNotFoundError",
    "TokenTable",
    "Unembedding",
    "UnknownModelError",
    "__version__",
    "compute_loss",
    "count_tokens",
    "load_unembedding",
    "measure",
    "to_pandas",
    "token_table",
]

_LAZY = {  # name -> module (relative); `import llmgeom` does not import torch
    "HeadMetadata": "unembedding",
    "Unembedding": "unembedding",
    "load_unembedding": "sources",
    "measure": "geometry.measurement",
    "MeasureOptions": "options",
    "MeasureResult": "geometry.result",
    "compute_loss": "text.loss",
    "count_tokens": "text.freq",
    "to_pandas": "records",
    "token_table": "text.token_table",
    "TokenTable": "records.token_table",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)
