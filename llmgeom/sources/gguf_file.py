"""GGUF files (llama.cpp): the head is ``output.weight`` when untied, else ``token_embd.weight``.

Quantised tensors are dequantised with the ``gguf`` package to float32.

Example:
    >>> import tempfile, numpy as np, gguf
    >>> path = tempfile.mktemp(suffix=".gguf")
    >>> w = gguf.GGUFWriter(path, "gpt2")
    >>> w.add_tensor("token_embd.weight", np.ones((6, 4), dtype=np.float32))
    >>> w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    >>> u = load_gguf(path)
    >>> u.meta.tensor_name, u.meta.tied, u.shape
    ('token_embd.weight', True, (6, 4))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import CorruptCheckpointError, TensorNotFoundError
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from .families import family_for_model_type
from .location import HeadLocation
from .tensor_digest import tensor_sha256

HEAD_NAMES = ("output.weight", "token_embd.weight")  # untied head first, tied embedding second
# GGUF architecture names that differ from config.json model types
_ARCH_TO_MODEL_TYPE = {"gptneox": "gpt_neox"}


def _field(reader, key: str):
    field = reader.fields.get(key)
    try:
        return field.contents() if field is not None else None
    except Exception:  # pragma: no cover - malformed metadata is not fatal
        return None


def _open(path: Path):
    import gguf

    try:
        return gguf.GGUFReader(path)
    except Exception as err:
        raise CorruptCheckpointError(f"{path}: not a readable GGUF file ({err})") from None


def _pick(reader, path: Path, tensor: str | None):
    tensors = {t.name: t for t in reader.tensors}
    name = next((n for n in ((tensor,) if tensor else HEAD_NAMES) if n in tensors), None)
    if name is None:
        listing = ", ".join(
            f"{t.name} {list(reversed(t.shape.tolist()))}" for t in reader.tensors[:8]
        )
        wanted = tensor or " or ".join(HEAD_NAMES)
        raise TensorNotFoundError(f"{path}: no tensor {wanted} (has: {listing})")
    return tensors[name]


def locate_gguf(path: str | os.PathLike[str], tensor: str | None = None) -> HeadLocation:
    """Where the head is in a GGUF file (name, quantisation, logical shape, byte range)."""
    path = Path(path)
    entry = _pick(_open(path), path, tensor)
    start = int(entry.data_offset)
    return HeadLocation(
        source=str(path), file=str(path), key=entry.name, fmt="gguf",
        dtype=f"gguf:{entry.tensor_type.name}", shape=tuple(reversed(entry.shape.tolist())),
        byte_range=(start, start + int(entry.n_bytes)), file_size=path.stat().st_size,
    )


def load_gguf(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Read (and dequantise) the output embedding from a GGUF file."""
    import gguf

    path = Path(path)
    reader = _open(path)
    entry = _pick(reader, path, tensor)
    name = entry.name
    ensure_fits(int(entry.n_elements) * 4, f"tensor {name!r} dequantised to float32")
    qtype = entry.tensor_type
    # a private, writable float32 copy (F32 tensors would otherwise alias the read-only mmap)
    data = np.array(gguf.dequantize(entry.data, qtype), dtype=np.float32, copy=True)
    if data.ndim != 2:
        raise CorruptCheckpointError(f"{path}: {name} has shape {list(data.shape)}, expected 2-D")
    arch = _field(reader, "general.architecture")
    family = family_for_model_type(_ARCH_TO_MODEL_TYPE.get(arch, arch))
    d_model = _field(reader, f"{arch}.embedding_length") if arch else None
    meta = HeadMetadata(
        source=str(path),
        source_kind="file",
        family=family.name if family else None,
        tensor_name=name,
        tied=name == "token_embd.weight",
        d_model=int(d_model) if d_model else None,
        stored_dtype=f"gguf:{qtype.name}",
        file=path.name,
        sha256=tensor_sha256(np.asarray(entry.data)),
        extra={"format": "gguf", "gguf_architecture": arch},
    )
    return Unembedding(torch.from_numpy(data), meta)
