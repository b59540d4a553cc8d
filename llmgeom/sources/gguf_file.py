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
from typing import Any

import numpy as np
import torch

from ..errors import CorruptCheckpointError, InvalidMatrixError, TensorNotFoundError
from ..memory import ensure_fits
from ..unembedding import HeadMetadata, Unembedding
from ._reasons import short_reason
from .families import family_for_model_type
from .head_key import HeadChoice
from .location import HeadLocation
from .tensor_digest import tensor_sha256

HEAD_NAMES = ("output.weight", "token_embd.weight")  # untied head first, tied embedding second
_ARCH_TO_MODEL_TYPE = {"gptneox": "gpt_neox"}  # GGUF architectures named unlike config.json's


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    try:
        return field.contents() if field is not None else None
    except Exception:  # pragma: no cover - malformed metadata is not fatal
        return None


def _open(path: Path) -> Any:
    """A ``gguf.GGUFReader`` of ``path``; a one-line error for anything that is not a whole GGUF."""
    import gguf

    size = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
    if size and not b"GGUF".startswith(prefix[:4]):
        raise CorruptCheckpointError(f"{path}: not a GGUF file (no GGUF magic number at the start)")
    versions = getattr(gguf.gguf_reader, "READER_SUPPORTED_VERSIONS", (2, 3))
    version = int.from_bytes(prefix[4:], "little")
    problem = None
    if size == 0:
        problem = "empty"
    elif len(prefix) < 8:
        problem = "the header ends early"
    elif version not in versions and int.from_bytes(prefix[4:], "big") not in versions:
        problem = f"format version {version}; readable: {', '.join(map(str, versions))}"
    else:
        try:
            reader = gguf.GGUFReader(path)
        except OSError as err:
            if err.filename is not None:  # a filesystem error about the path: already names it
                raise
            problem = short_reason(err)
        except Exception:  # gguf reports a cut-short file with numpy's reshape/view errors
            problem = "the metadata, tensor table or tensor data end early or are malformed"
    if problem:
        raise CorruptCheckpointError(
            f"{path}: truncated or corrupt GGUF file ({size} bytes; {problem})"
        )
    return reader


def _head(path: Path, tensor: str | None) -> tuple[Any, Any, HeadChoice]:
    """The reader, the head's tensor entry and how it was chosen (from the GGUF metadata)."""
    reader = _open(path)
    tensors = {t.name: t for t in reader.tensors}
    usual = next((n for n in HEAD_NAMES if n in tensors), None)
    name = usual if tensor is None else (tensor if tensor in tensors else None)
    if name is None:
        listing = ", ".join(f"{t.name} {t.shape.tolist()[::-1]}" for t in reader.tensors[:8])
        wanted = tensor or " or ".join(HEAD_NAMES)
        raise TensorNotFoundError(f"{path}: no tensor {wanted} (has: {listing})")
    arch = _field(reader, "general.architecture")
    family = family_for_model_type(_ARCH_TO_MODEL_TYPE.get(arch, arch))
    d_model = _field(reader, f"{arch}.embedding_length") if arch else None
    choice = HeadChoice(
        key=name,
        # as for safetensors: an explicit tensor is described as tied only if it is the head
        tied=usual == HEAD_NAMES[1] if name == usual else None,
        family=family.name if family else None,
        rule="explicit" if tensor is not None else "gguf-names",
        d_model=int(d_model) if d_model else None,
    )
    return reader, tensors[name], choice


def locate_gguf(path: str | os.PathLike[str], tensor: str | None = None) -> HeadLocation:
    """Where the head is in a GGUF file (name, quantisation, logical shape, byte range)."""
    path = Path(path)
    _, entry, choice = _head(path, tensor)
    start = int(entry.data_offset)
    return HeadLocation(
        source=str(path),
        file=str(path),
        key=entry.name,
        fmt="gguf",
        dtype=f"gguf:{entry.tensor_type.name}",
        shape=tuple(entry.shape.tolist()[::-1]),
        byte_range=(start, start + int(entry.n_bytes)),
        file_size=path.stat().st_size,
        choice=choice,
    )


def load_gguf(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Read (and dequantise) the output embedding from a GGUF file."""
    import gguf

    path = Path(path)
    reader, entry, choice = _head(path, tensor)
    name, qtype = entry.name, entry.tensor_type
    ensure_fits(int(entry.n_elements) * 4, f"tensor {name!r} dequantised to float32")
    try:
        # a private, writable float32 copy (F32 tensors would otherwise alias the read-only mmap)
        data = np.array(gguf.dequantize(entry.data, qtype), dtype=np.float32, copy=True)
    except NotImplementedError:
        raise CorruptCheckpointError(
            f"{path}: {name} is stored as {qtype.name}, which the installed gguf package "
            "cannot dequantise"
        ) from None
    if data.ndim != 2:
        raise InvalidMatrixError(
            f"{path}: {name} has shape {list(data.shape)}; an output embedding must be "
            "2-D [n_rows, m]"
        )
    meta = HeadMetadata(
        source=str(path),
        source_kind="file",
        family=choice.family,
        tensor_name=name,
        tied=choice.tied,
        d_model=choice.d_model,
        stored_dtype=f"gguf:{qtype.name}",
        file=path.name,
        sha256=tensor_sha256(np.asarray(entry.data)),
        extra={
            "format": "gguf",
            "gguf_architecture": _field(reader, "general.architecture"),
            "head_rule": choice.rule,
        },
    )
    return Unembedding(torch.from_numpy(data), meta)
