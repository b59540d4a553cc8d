"""``llmgeom inspect`` on single weight files: headers only, the right tensor and byte range."""

from __future__ import annotations

import json

import gguf
import numpy as np
import torch
from checkpoints import SPECS, write_checkpoint

from llmgeom.cli import main
from llmgeom.sources.files import locate_file


def inspect_json(capsys, path, *extra):
    assert main(["inspect", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)["location"]


def test_inspect_bin_file_names_the_head(tmp_path, capsys):
    spec = SPECS["opt"]
    write_checkpoint(spec, tmp_path / "opt", fmt="bin")
    loc = inspect_json(capsys, tmp_path / "opt" / "pytorch_model.bin")
    assert loc["key"] == spec.head and loc["fmt"] == "bin"
    assert loc["shape"] == list(spec.tensors[spec.head])


def test_inspect_npy_gives_the_data_byte_range(tmp_path, capsys):
    path = tmp_path / "head.npy"
    array = np.arange(24, dtype=np.float32).reshape(6, 4)
    np.save(path, array)
    loc = inspect_json(capsys, path)
    start, stop = loc["byte_range"]
    assert loc["shape"] == [6, 4] and stop - start == array.nbytes
    stored = np.frombuffer(path.read_bytes()[start:stop], dtype=np.float32)
    assert stored.tolist() == array.ravel().tolist()


def test_inspect_gguf_reports_quantisation_and_logical_shape(tmp_path, capsys):
    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    emb = np.random.default_rng(0).standard_normal((40, 64)).astype(np.float32)
    writer.add_tensor("token_embd.weight", emb)
    writer.add_tensor(
        "output.weight",
        gguf.quantize(emb, gguf.GGMLQuantizationType.Q8_0),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    loc = inspect_json(capsys, path)
    assert loc["key"] == "output.weight" and loc["dtype"] == "gguf:Q8_0"
    assert loc["shape"] == [40, 64]
    start, stop = loc["byte_range"]
    assert stop - start == 40 * 68  # Q8_0: 34 bytes per 32 values
    tied = locate_file(path, tensor="token_embd.weight")
    assert tied.nbytes == emb.nbytes
    raw = np.frombuffer(path.read_bytes()[tied.byte_range[0] : tied.byte_range[1]], np.float32)
    assert torch.equal(torch.from_numpy(raw.reshape(40, 64).copy()), torch.from_numpy(emb))
