"""llmgeom: the geometry of language models' output embeddings, and the scaling laws it explains.

Example:
    >>> import torch, llmgeom
    >>> report = llmgeom.measure(torch.eye(4, 2))
    >>> report.stats["mean_cos2"]
    0.0
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    ConfigError,
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
    "CorruptCheckpointError",
    "FitError",
    "HeadMetadata",
    "InsufficientMemoryError",
    "InvalidMatrixError",
    "LlmgeomError",
    "NetworkError",
    "SourceNotFoundError",
    "TensorNotFoundError",
    "Unembedding",
    "UnknownModelError",
    "__version__",
    "load_unembedding",
    "measure",
]


def __getattr__(name: str):  # lazy: `import llmgeom` does not import torch
    if name in ("HeadMetadata", "Unembedding"):
        from . import unembedding

        return getattr(unembedding, name)
    if name == "load_unembedding":
        from .sources import load_unembedding

        return load_unembedding
    if name == "measure":
        from .measurement import measure

        return measure
    raise AttributeError(f"module 'llmgeom' has no attribute {name!r}")
