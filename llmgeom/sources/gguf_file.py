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
import struct
from pathlib import Path

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
# GGUF architecture names that differ from config.json model types
_ARCH_TO_MODEL_TYPE = {"gptneox": "gpt_neox"}


def _field(reader, key: str):
    field = reader.fields.get(key)
    try:
        return field.contents() if field is not None else None
    except Exception:  # pragma: no cover - malformed metadata is not fatal
        return None


def _corrupt(path: Path, size: int, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"{path}: truncated or corrupt GGUF file ({size} bytes; {what})")


def _open(path: Path):
    """A ``gguf.GGUFReader`` of ``path``; a one-line error for anything that is not a whole GGUF."""
    import gguf

    size = path.stat().st_size
    if size == 0:
        raise _corrupt(path, size, "empty")
    with path.open("rb") as fh:
        prefix = fh.read(8)
    if not b"GGUF".startswith(prefix[:4]):
        raise CorruptCheckpointError(f"{path}: not a GGUF file (no GGUF magic number at the start)")
    if len(prefix) < 8:
        raise _corrupt(path, size, "the header ends early")
    versions = getattr(gguf.gguf_reader, "READER_SUPPORTED_VERSIONS", (2, 3))
    little, big = struct.unpack("<I", prefix[4:]), struct.unpack(">I", prefix[4:])
    if little[0] not in versions and big[0] not in versions:
        known = ", ".join(str(v) for v in versions)
        raise _corrupt(path, size, f"format version {little[0]}; readable: {known}")
    try:
        reader = gguf.GGUFReader(path)
    except OSError as err:
        if err.filename is not None:  # a filesystem error about the path: already names it
            raise
        raise _corrupt(path, size, short_reason(err)) from None
    except Exception:  # gguf reports a cut-short file with numpy's reshape/view errors
        raise _corrupt(
            path, size, "the metadata, tensor table or tensor data end early or are malformed"
        ) from None
    for entry in reader.tensors:
        stop = int(entry.data_offset) + int(entry.n_bytes)
        if stop > size:
            raise _corrupt(path, size, f"tensor {entry.name} ends at byte {stop}")
    return reader


def _pick(reader, path: Path, tensor: str | None) -> tuple[object, HeadChoice]:
    """The head's tensor entry and how it was chosen (tying, family and width from metadata)."""
    tensors = {t.name: t for t in reader.tensors}
    usual = next((n for n in HEAD_NAMES if n in tensors), None)
    name = usual if tensor is None else (tensor if tensor in tensors else None)
    if name is None:
        listing = ", ".join(
            f"{t.name} {list(reversed(t.shape.tolist()))}" for t in reader.tensors[:8]
        )
        wanted = tensor or " or ".join(HEAD_NAMES)
        raise TensorNotFoundError(f"{path}: no tensor {wanted} (has: {listing})")
    arch = _field(reader, "general.architecture")
    family = family_for_model_type(_ARCH_TO_MODEL_TYPE.get(arch, arch))
    d_model = _field(reader, f"{arch}.embedding_length") if arch else None
    # as for safetensors: an explicit tensor is described as tied or not only if it is the head
    tied = usual == HEAD_NAMES[1] if name == usual else None
    choice = HeadChoice(
        key=name,
        tied=tied,
        family=family.name if family else None,
        rule="explicit" if tensor is not None else "gguf-names",
        d_model=int(d_model) if d_model else None,
    )
    return tensors[name], choice


def locate_gguf(path: str | os.PathLike[str], tensor: str | None = None) -> HeadLocation:
    """Where the head is in a GGUF file (name, quantisation, logical shape, byte range)."""
    path = Path(path)
    reader = _open(path)
    entry, choice = _pick(reader, path, tensor)
    start = int(entry.data_offset)
    return HeadLocation(
        source=str(path),
        file=str(path),
        key=entry.name,
        fmt="gguf",
        dtype=f"gguf:{entry.tensor_type.name}",
        shape=tuple(reversed(entry.shape.tolist())),
        byte_range=(start, start + int(entry.n_bytes)),
        file_size=path.stat().st_size,
        choice=choice,
    )


def load_gguf(path: str | os.PathLike[str], tensor: str | None = None) -> Unembedding:
    """Read (and dequantise) the output embedding from a GGUF file."""
    import gguf

    path = Path(path)
    reader = _open(path)
    entry, choice = _pick(reader, path, tensor)
    name = entry.name
    ensure_fits(int(entry.n_elements) * 4, f"tensor {name!r} dequantised to float32")
    qtype = entry.tensor_type
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
