"""Fuzz targets of the weight files other than torch ``.bin`` (issue 19): ``.npy`` heads, counts
``.npz``, safetensors (the local reader and the header parser of the ranged Hub read) and GGUF.

Each input goes through llmgeom's public entry (``llmgeom.load_unembedding(path)``,
``load_counts(path)``) and, where one exists, the inner parser, and is compared with the format's
reference reader (``numpy.load(allow_pickle=False)``, ``safetensors.safe_open``,
``gguf.GGUFReader``): the same tensor, bit for bit, or a typed llmgeom error
(:func:`fuzz_harness.check`). The seeds are structured inputs
(:mod:`fuzz_files_structures`: bases and edits of each format's structure, named so that they
replay) on which the campaign and the suite apply byte mutations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fuzz_files_structures import GGUF, NPY, NPZ, SAFETENSORS
from fuzz_harness import Outcome, Target, check

import llmgeom
from llmgeom.geometry.weights import load_counts
from llmgeom.sources import locate_head
from llmgeom.sources.files import _npy_head
from llmgeom.sources.formats.safetensors_format import DTYPES
from llmgeom.sources.hub.locate import remote_header

_HEADS_GGUF = ("output.weight", "token_embd.weight")
GGUF_TIME_LIMIT_S = 5.0  # llmgeom answers these small files in milliseconds


def _same_bits(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """The same array exactly: dtype, shape and every bit (NaN payloads included)."""
    return (
        ours.dtype == theirs.dtype
        and ours.shape == theirs.shape
        and np.ascontiguousarray(ours).tobytes() == np.ascontiguousarray(theirs).tobytes()
    )


def _tensor_bytes(tensor: Any) -> bytes:
    import torch

    return tensor.contiguous().view(torch.uint8).numpy().tobytes()


def _warm_up(folder: Path, name: str, data: bytes, *loads: Any) -> None:
    """Load a valid seed once before fuzzing: the modules a first load imports lazily (torch's
    own) are imported here, not during a checked input (where an import is a side effect)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    for load in loads:
        load(path)


def _both(inner: Outcome, public: Outcome) -> Outcome:
    """One outcome for the two checks of an input (the public entry's, the inner's detail)."""
    detail = f"{public.detail} / inner {inner.kind} {inner.detail}".strip()
    return Outcome(public.kind, detail)


# --------------------------------------------------------------------------- .npy


def _npy_seeds(folder: Path) -> dict[str, bytes]:
    seeds = NPY.seeds(single_on=("f32", "f64-v2", "f32-v3", "f16-fortran"))
    _warm_up(folder, "head.npy", seeds["f32"], llmgeom.load_unembedding)
    return seeds


def run_npy(folder: Path, data: bytes) -> Outcome:
    path = folder / "head.npy"
    path.write_bytes(data)

    def reference() -> np.ndarray:
        return np.load(path, allow_pickle=False)

    def same_public(ours: Any, theirs: np.ndarray) -> bool:
        native = theirs.astype(theirs.dtype.newbyteorder("="))
        return _same_bits(ours.weight.numpy(), native)

    inner = check(lambda: _npy_head(path, None)[1], reference, same=_same_bits)
    public = check(lambda: llmgeom.load_unembedding(path), reference, same=same_public)
    return _both(inner, public)


# --------------------------------------------------------------------------- counts .npz


def _npz_seeds(folder: Path) -> dict[str, bytes]:
    seeds = NPZ.seeds(single_on=("i64", "f64-deflate"))
    _warm_up(folder, "counts.npz", seeds["i64"], load_counts)
    return seeds


def run_counts_npz(folder: Path, data: bytes) -> Outcome:
    path = folder / "counts.npz"
    path.write_bytes(data)

    def reference() -> Any:
        with np.load(path, allow_pickle=False) as archive:
            return archive["counts"]

    def same(ours: Any, theirs: Any) -> bool:
        theirs = np.asarray(theirs)
        return (
            theirs.ndim == 1
            and theirs.dtype.kind in "iuf"
            and _same_bits(ours.counts, theirs.astype(np.float64))
        )

    return check(lambda: load_counts(path), reference, same=same)


# --------------------------------------------------------------------------- safetensors


def _safetensors_seeds(folder: Path) -> dict[str, bytes]:
    seeds = SAFETENSORS.seeds(single_on=("f32", "f16-two"))
    _warm_up(folder, "model.safetensors", seeds["f32"], llmgeom.load_unembedding)
    return seeds


class _BytesClient:
    """What :func:`remote_header` asks of a Hub client: ranges of one file's bytes."""

    repo_id = "fuzz/model"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_range(self, sha: str, filename: str, start: int, stop: int) -> bytes:
        return self.data[start:stop]


def run_safetensors(folder: Path, data: bytes) -> Outcome:
    import safetensors

    path = folder / "model.safetensors"
    path.write_bytes(data)

    def reference() -> dict[str, tuple[str, list[int], Any]]:
        """Name -> (dtype, shape, tensor or None where torch has no such dtype)."""
        with safetensors.safe_open(str(path), "pt") as fh:
            out = {}
            for name in fh.keys():
                piece = fh.get_slice(name)
                dtype = piece.get_dtype()
                tensor = fh.get_tensor(name) if dtype in DTYPES else None
                out[name] = (dtype, piece.get_shape(), tensor)
            return out

    def same_entries(entries: dict, theirs: dict) -> bool:
        if set(entries) != set(theirs):
            return False
        for name, entry in entries.items():
            dtype, shape, tensor = theirs[name]
            if (entry.dtype, list(entry.shape)) != (dtype, list(shape)):
                return False
            if tensor is not None and data[entry.start : entry.stop] != _tensor_bytes(tensor):
                return False
        return True

    def same_public(ours: Any, theirs: dict) -> bool:
        tensor = theirs[ours.meta.tensor_name][2]
        return (
            tensor is not None
            and ours.weight.dtype == tensor.dtype
            and ours.weight.shape == tensor.shape
            and _tensor_bytes(ours.weight) == _tensor_bytes(tensor)
        )

    client = _BytesClient(data)
    inner = check(
        lambda: remote_header(client, "0" * 40, path.name, len(data)), reference, same=same_entries
    )
    public = check(lambda: llmgeom.load_unembedding(path), reference, same=same_public)
    return _both(inner, public)


# --------------------------------------------------------------------------- GGUF


def _gguf_seeds(folder: Path) -> dict[str, bytes]:
    from checkpoints import write_gguf

    seeds = GGUF.seeds(single_on=("untied", "tied-q8"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(19)
    head = rng.standard_normal((6, 4)).astype(np.float32)
    written = write_gguf(
        folder / "writer.gguf", "gpt2", {"output.weight": (head, None)}, embedding_length=4
    )
    seeds["writer"] = Path(written).read_bytes()
    _warm_up(folder, "model.gguf", seeds["untied"], locate_head, llmgeom.load_unembedding)
    return seeds


def _bounded_gguf_reader(path: Path) -> Any:
    """``gguf.GGUFReader(path)`` with its one unbounded loop bounded: an array of scalars longer
    than the rest of the file is an error. The reader itself loops over such an array element
    by element past the end of the file (2**63 times where a string's length is read as an
    array's): an answer that never comes, and a SIGALRM landing inside that loop was seen lost
    under pytest (the harness's one-shot timer then never stops it)."""
    import gguf

    class Reader(gguf.GGUFReader):
        def _get_field_parts(self, orig_offs: int, raw_type: int) -> Any:
            if raw_type == gguf.GGUFValueType.ARRAY:
                item, length = self._get(orig_offs, np.uint32), self._get(orig_offs + 4, np.uint64)
                if len(item) and len(length):
                    scalar = self.gguf_scalar_to_np.get(gguf.GGUFValueType(int(item[0])))
                    rest = len(self.data) - orig_offs - 12
                    if scalar is not None and int(length[0]) * np.dtype(scalar).itemsize > rest:
                        raise ValueError("an array of scalars runs past the end of the file")
            return super()._get_field_parts(orig_offs, raw_type)

    return Reader(path)


def _gguf_reference(path: Path, dequantize: bool) -> tuple[str, Any]:
    import gguf

    reader = _bounded_gguf_reader(path)
    tensors = {t.name: t for t in reader.tensors}
    name = next(n for n in _HEADS_GGUF if n in tensors)
    entry = tensors[name]
    if not dequantize:
        start = int(entry.data_offset)
        return name, (entry.shape.tolist()[::-1], (start, start + int(entry.n_bytes)))
    return name, np.array(gguf.dequantize(entry.data, entry.tensor_type), dtype=np.float32)


def run_gguf(folder: Path, data: bytes) -> Outcome:
    path = folder / "model.gguf"
    path.write_bytes(data)

    def same_location(ours: Any, theirs: tuple[str, Any]) -> bool:
        name, (shape, byte_range) = theirs
        return (ours.key, list(ours.shape), ours.byte_range) == (name, shape, byte_range)

    def same_public(ours: Any, theirs: tuple[str, np.ndarray]) -> bool:
        name, array = theirs
        return ours.meta.tensor_name == name and _same_bits(ours.weight.numpy(), array)

    inner = check(
        lambda: locate_head(path),
        lambda: _gguf_reference(path, dequantize=False),
        same=same_location,
        time_limit_s=GGUF_TIME_LIMIT_S,
    )
    public = check(
        lambda: llmgeom.load_unembedding(path),
        lambda: _gguf_reference(path, dequantize=True),
        same=same_public,
        time_limit_s=GGUF_TIME_LIMIT_S,
    )
    return _both(inner, public)


TARGETS = [
    Target("npy", _npy_seeds, run_npy),
    Target("counts-npz", _npz_seeds, run_counts_npz),
    Target("safetensors", _safetensors_seeds, run_safetensors),
    Target("gguf", _gguf_seeds, run_gguf),
]

#: the structured inputs of each target (for the suite's Hypothesis strategies)
STRUCTURES = {"npy": NPY, "counts-npz": NPZ, "safetensors": SAFETENSORS, "gguf": GGUF}
