"""Where a head tensor lives, decided before any of its bytes are read (``llmgeom inspect``).

Example:
    >>> loc = HeadLocation(source="gpt2", file="model.safetensors", key="wte.weight",
    ...                    fmt="safetensors", dtype="F32", shape=(50257, 768),
    ...                    byte_range=(8, 8 + 50257 * 768 * 4))
    >>> loc.nbytes
    154389504
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .head_key import HeadChoice


@dataclass(frozen=True)
class HeadLocation:
    """The file, tensor key, format, dtype, shape and byte range of a head tensor."""

    source: str
    file: str  # path (local) or file name inside the repository (Hub)
    key: str
    fmt: str  # "safetensors" | "bin" | "gguf" | "npy"
    dtype: str | None = None  # as stored (safetensors code, torch or numpy dtype name)
    shape: tuple[int, ...] | None = None
    byte_range: tuple[int, int] | None = None  # [start, stop) when the format allows it
    file_size: int | None = None  # bytes of the whole file holding the tensor, if known
    choice: HeadChoice | None = None
    config: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def nbytes(self) -> int | None:
        """Bytes of the tensor itself (None when the format does not say)."""
        return None if self.byte_range is None else self.byte_range[1] - self.byte_range[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the config)."""
        return {**{k: v for k, v in asdict(self).items() if k != "config"}, "nbytes": self.nbytes}
