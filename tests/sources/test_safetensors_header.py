"""The header parser the Hub source uses on ranged bytes agrees with the reference validator.

Each header is judged twice: by ``llmgeom.sources.formats.safetensors_format.parse_header`` and by
``safetensors.deserialize`` on the whole file (header plus exactly the data it describes). The
two must accept and refuse the same files, and agree on every accepted tensor's byte range.
"""

from __future__ import annotations

import json
import struct

import pytest
import safetensors
import safetensors.torch
import torch

from llmgeom.errors import CorruptCheckpointError
from llmgeom.sources.formats.safetensors_format import (
    header_length,
    parse_header,
    tensor_from_bytes,
)


def _entry(dtype: str, shape: list[int], begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


HEADERS = {
    "valid": {"a": _entry("F32", [2, 2], 0, 16), "b": _entry("BF16", [3], 16, 22)},
    "u32-beside-f32": {
        "lm_head.weight": _entry("F32", [3, 2], 0, 24),
        "i": _entry("U32", [2], 24, 32),
    },
    "gap": {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 12, 20)},
    "overlap": {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)},
    "not-from-zero": {"a": _entry("F32", [2], 8, 16)},
    "wrong-size": {"a": _entry("F32", [2, 2], 0, 12)},
    "unknown-dtype": {"a": _entry("Q4", [2], 0, 8)},
    "empty-tensor": {"a": _entry("F32", [0, 4], 0, 0), "b": _entry("F16", [2], 0, 4)},
}


def _file(header: dict) -> tuple[bytes, bytes]:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # the reference writer pads the header to 8 bytes
    ends = [e["data_offsets"][1] for e in header.values()]
    return raw, struct.pack("<Q", len(raw)) + raw + b"\x01" * max(ends)


@pytest.mark.parametrize("case", list(HEADERS))
def test_parser_agrees_with_the_reference_validator(case):
    raw, data = _file(HEADERS[case])
    try:
        reference = dict(safetensors.deserialize(data))
    except Exception:  # SafetensorError
        reference = None
    assert header_length(data[:8]) == len(raw)
    if reference is None:
        with pytest.raises(CorruptCheckpointError):
            parse_header(raw)
        return
    entries, _ = parse_header(raw)
    assert set(entries) == set(reference)
    for name, entry in entries.items():
        assert entry.dtype == reference[name]["dtype"]
        assert list(entry.shape) == reference[name]["shape"]
        assert bytes(reference[name]["data"]) == data[entry.start : entry.stop]


def test_parsed_entries_read_the_saved_tensors():
    tensors = {"w": torch.randn(5, 3), "v": torch.arange(4).to(torch.uint32)}
    data = safetensors.torch.save(tensors)
    entries, _ = parse_header(data[8 : 8 + header_length(data[:8])])
    for name, tensor in tensors.items():
        entry = entries[name]
        assert torch.equal(
            tensor_from_bytes(
                data[entry.start : entry.stop], entry.name, entry.torch_dtype, entry.shape
            ),
            tensor,
        )
