"""The output-embedding matrix and what we know about where it came from.

Every source (local directory, single file, Hub repository, in-memory module or array) returns an
:class:`Unembedding`: the ``[n_rows, m]`` tensor plus :class:`HeadMetadata`, and, when asked for
(``fold_norm``), the model's :class:`FinalNorm`: the scale (and bias) of the norm right before
the head (:mod:`llmgeom.sources.final_norm`).

Example:
    >>> import torch
    >>> meta = HeadMetadata(source="<array>", source_kind="array")
    >>> u = Unembedding(torch.eye(3, 2), meta)
    >>> u.shape, u.meta.n_rows, u.meta.head_width, u.meta.stored_dtype
    ((3, 2), 3, 2, 'float32')
    >>> meta.n_rows is None   # the caller's metadata is not modified
    True
    >>> norm = FinalNorm(torch.tensor([2.0, 1.0]), None, "rmsnorm", "model.norm.weight")
    >>> Unembedding(torch.eye(3, 2), meta, final_norm=norm).final_norm.describe()["kind"]
    'rmsnorm'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from .errors import InvalidMatrixError


@dataclass
class HeadMetadata:
    """Provenance of an output-embedding matrix (recorded in every result file)."""

    source: str
    source_kind: str  # "local-dir" | "file" | "hub" | "module" | "array"
    family: str | None = None
    tensor_name: str | None = None
    tied: bool | None = None
    n_rows: int | None = None
    head_width: int | None = None
    d_model: int | None = None
    tokenizer_len: int | None = None
    stored_dtype: str | None = None
    file: str | None = None
    sha256: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    commit_sha: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    name: str | None = None  # the name the user gave (measure --name, a sweep's [[models]])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class FinalNorm:
    """The norm applied to the hidden state right before the head: ``logit_j = (scale ⊙ x + bias)
    · w_j`` with ``x`` the normalised state (LayerNorm: ``(h − mean)/std``; RMSNorm: ``h/rms``).

    ``scale`` is the multiplier the model applies (Gemma's ``1 + γ`` already added), ``bias`` the
    LayerNorm bias (None for RMSNorm); ``weight_name``/``bias_name`` the tensors they came from
    and ``convention`` how ``scale`` follows from the stored weight (``"gamma"``: as stored,
    ``"1+gamma"``: one added, ``"1+gamma, stored shifted"``: a GGUF file stores ``1 + γ``)."""

    scale: torch.Tensor
    bias: torch.Tensor | None
    kind: str  # "layernorm" | "rmsnorm"
    weight_name: str | None = None
    bias_name: str | None = None
    convention: str = "gamma"

    def __post_init__(self) -> None:
        for name, vector in (("scale", self.scale), ("bias", self.bias)):
            if vector is not None and (vector.ndim != 1 or vector.shape != self.scale.shape):
                raise InvalidMatrixError(
                    f"a final norm's {name} must be a vector of the scale's length, got shape "
                    f"{tuple(vector.shape)}"
                )

    def describe(self) -> dict[str, Any]:
        """What the record says about the norm (names, kind, convention, width)."""
        return {
            "kind": self.kind,
            "weight": self.weight_name,
            "bias": self.bias_name,
            "convention": self.convention,
            "width": int(self.scale.shape[0]),
        }


@dataclass
class Unembedding:
    """An output-embedding matrix ``weight`` (one row per vocabulary entry) with its metadata and,
    where read, the model's :class:`FinalNorm`."""

    weight: torch.Tensor
    meta: HeadMetadata
    final_norm: FinalNorm | None = None

    def __post_init__(self) -> None:
        if self.weight.ndim != 2:
            raise InvalidMatrixError(
                f"an output embedding must be 2-D [n_rows, m], got shape {tuple(self.weight.shape)}"
            )
        if self.weight.is_complex() or self.weight.dtype == torch.bool:
            raise InvalidMatrixError(
                f"an output embedding must be real-valued, got dtype {self.weight.dtype}"
            )
        n, m = self.weight.shape
        # a copy with the derived fields: the caller's HeadMetadata (maybe shared) is left as is
        self.meta = replace(
            self.meta,
            n_rows=int(n),
            head_width=int(m),
            stored_dtype=self.meta.stored_dtype or str(self.weight.dtype).removeprefix("torch."),
            extra=dict(self.meta.extra),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, head_width)``."""
        return (int(self.weight.shape[0]), int(self.weight.shape[1]))
