"""Bad input: every failure is a typed llmgeom error with a clear message, never a side effect."""

from __future__ import annotations

import json
import os
import pickle
import socket
import struct
import sys
import types

import numpy as np
import pytest
import safetensors.torch
import torch
from checkpoints import SPECS, write_checkpoint, write_gguf

import llmgeom
from llmgeom.errors import (
    ConfigError,
    CorruptCheckpointError,
    InsufficientMemoryError,
    InvalidMatrixError,
    LlmgeomError,
    SourceNotFoundError,
)
from llmgeom.geometry.measurement import measure


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to reach the Hub or the network fails the test."""

    def no_hub(*args, **kwargs):
        raise AssertionError("a path-looking source must never be looked up on the Hub")

    def no_network(*args, **kwargs):
        raise AssertionError("no network access allowed")

    fake_hub = types.ModuleType("llmgeom.sources.hub")
    fake_hub.load_hub_unembedding = no_hub
    monkeypatch.setitem(sys.modules, "llmgeom.sources.hub", fake_hub)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


# ----------------------------------------------------------------------------- missing sources


def test_offline_guard_really_intercepts_hub_lookups(offline):
    with pytest.raises(AssertionError, match="never be looked up on the Hub"):
        llmgeom.load_unembedding("some-model-name")


def test_missing_absolute_path(tmp_path, offline):
    with pytest.raises(SourceNotFoundError, match="no such file or directory"):
        llmgeom.load_unembedding(tmp_path / "missing")
    with pytest.raises(SourceNotFoundError):
        llmgeom.load_unembedding(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "source", ["./nope", "x/y/z", "foo.safetensors", "../up/model.bin", "~/no-such-dir-llmgeom"]
)
def test_path_looking_string_is_not_sent_to_the_hub(tmp_path, monkeypatch, offline, source):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceNotFoundError) as err:
        llmgeom.load_unembedding(source)
    assert source in str(err.value)
    assert isinstance(err.value, FileNotFoundError)  # also catchable as the builtin


def test_directory_with_no_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SPECS["gpt2"].config))
    (tmp_path / "README.md").write_text("hello")
    with pytest.raises(SourceNotFoundError, match="no model weights found"):
        llmgeom.load_unembedding(tmp_path)


def test_empty_directory(tmp_path):
    with pytest.raises(SourceNotFoundError, match="no model weights found"):
        llmgeom.load_unembedding(tmp_path)


# ----------------------------------------------------------------------- truncated safetensors


def _data_start(path) -> int:
    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


@pytest.mark.parametrize("where", ["data", "header", "length-prefix"])
@pytest.mark.parametrize("as_dir", [True, False], ids=["dir", "file"])
def test_truncated_safetensors(tmp_path, where, as_dir):
    write_checkpoint(SPECS["gpt2"], tmp_path / "ck")
    path = tmp_path / "ck" / "model.safetensors"
    raw = path.read_bytes()
    start = _data_start(path)
    cut = {"data": start + (len(raw) - start) // 2, "header": start // 2, "length-prefix": 5}[where]
    path.write_bytes(raw[:cut])
    with pytest.raises(CorruptCheckpointError, match=r"truncated|too short"):
        llmgeom.load_unembedding(tmp_path / "ck" if as_dir else path)


@pytest.mark.parametrize(
    ("length", "reason"),
    [(0, "invalid JSON in header"), (2**40, "header too large"), (2**64 - 1, "header too large")],
)
def test_absurd_header_length(tmp_path, length, reason):
    """safetensors' own reason, on one line after the file name and its size."""
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b"{}" + b"\0" * 64)
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(path)
    message = str(err.value)
    assert message.startswith(f"{path}: truncated or corrupt safetensors file (74 bytes; {reason}")
    assert "\n" not in message


@pytest.mark.parametrize(
    "header",
    [
        b"not json at all",
        b"[1, 2, 3]",
        json.dumps({"w": {"dtype": "F32", "shape": [4, 2]}}).encode(),  # no data_offsets
        json.dumps({"w": {"dtype": "Q4", "shape": [4, 2], "data_offsets": [0, 32]}}).encode(),
        json.dumps({"w": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 16]}}).encode(),
    ],
    ids=["not-json", "not-object", "no-offsets", "bad-dtype", "wrong-size"],
)
def test_malformed_safetensors_header(tmp_path, header):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
    with pytest.raises(CorruptCheckpointError):
        llmgeom.load_unembedding(path, tensor="w")


def test_truncated_bin(tmp_path):
    write_checkpoint(SPECS["opt"], tmp_path, fmt="bin")
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptCheckpointError, match=r"pytorch_model\.bin"):
        llmgeom.load_unembedding(tmp_path)


def test_garbage_gguf(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + os.urandom(64))
    with pytest.raises(CorruptCheckpointError, match="GGUF"):
        llmgeom.load_unembedding(tmp_path / "m.gguf")


def test_npy_with_pickled_objects_is_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([[object(), 1]], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptCheckpointError):
        llmgeom.load_unembedding(tmp_path / "o.npy")


# -------------------------------------------------------------------------------- unsafe pickle


class _MkdirPayload:
    """Unpickling this object calls os.mkdir(marker): code execution if a loader allows it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _ShellPayload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def write_malicious(path, payload, zip_format=True):
    state = {"transformer.wte.weight": torch.randn(10, 4), "extra": payload}
    if zip_format:
        torch.save(state, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(state, fh, protocol=2)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "raw-pickle"])
@pytest.mark.parametrize("payload_cls", [_MkdirPayload, _ShellPayload], ids=["mkdir", "system"])
@pytest.mark.parametrize("layout", ["dir", "file.bin", "file.pt"])
def test_pickle_that_executes_code_is_refused(tmp_path, payload_cls, zip_format, layout):
    marker = tmp_path / "pwned"
    if layout == "dir":
        (tmp_path / "ck").mkdir()
        (tmp_path / "ck" / "config.json").write_text(json.dumps(SPECS["gpt2"].config))
        path, source = tmp_path / "ck" / "pytorch_model.bin", tmp_path / "ck"
    else:
        path = source = tmp_path / f"evil.{layout.split('.')[1]}"
    write_malicious(path, payload_cls(marker), zip_format)
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(source)
    assert "refused" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists(), "the pickle's code ran"


def test_malicious_pickle_control_really_executes_when_unsafe(tmp_path):
    """The payload is live: an unsafe loader would run it (so the refusal test means something)."""
    marker = tmp_path / "pwned"
    write_malicious(tmp_path / "evil.bin", _MkdirPayload(marker))
    torch.load(tmp_path / "evil.bin", weights_only=False)
    assert marker.is_dir()


def test_pickle_refusal_names_the_refused_global(tmp_path):
    write_malicious(tmp_path / "evil.bin", _MkdirPayload(tmp_path / "pwned"))
    with pytest.raises(CorruptCheckpointError, match="mkdir"):
        llmgeom.load_unembedding(tmp_path / "evil.bin")


# ------------------------------------------------------------------------ index and config.json


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_index_points_to_missing_shard(tmp_path, fmt):
    spec = SPECS["pythia"]
    write_checkpoint(spec, tmp_path, fmt=fmt, shards=3)
    stem = "model.safetensors" if fmt == "safetensors" else "pytorch_model.bin"
    index_name = stem + ".index.json"
    shard = json.loads((tmp_path / index_name).read_text())["weight_map"][spec.head]
    (tmp_path / shard).unlink()
    with pytest.raises(SourceNotFoundError, match=f"missing shard {shard}"):
        llmgeom.load_unembedding(tmp_path)


def test_index_maps_head_to_a_shard_that_lacks_it(tmp_path):
    spec = SPECS["pythia"]
    write_checkpoint(spec, tmp_path, shards=3)
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    other = next(f for k, f in index["weight_map"].items() if f != index["weight_map"][spec.head])
    index["weight_map"][spec.head] = other
    index_path.write_text(json.dumps(index))
    with pytest.raises(SourceNotFoundError, match=r"does not contain 'embed_out\.weight'"):
        llmgeom.load_unembedding(tmp_path)


@pytest.mark.parametrize("content", ["{not json", '{"metadata": {}}', '{"weight_map": {}}', "[]"])
def test_malformed_index(tmp_path, content):
    write_checkpoint(SPECS["gpt2"], tmp_path, shards=2)
    (tmp_path / "model.safetensors.index.json").write_text(content)
    with pytest.raises(CorruptCheckpointError, match=r"index\.json"):
        llmgeom.load_unembedding(tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_malformed_config_json(tmp_path, content):
    write_checkpoint(SPECS["gpt2"], tmp_path)
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(CorruptCheckpointError, match=r"config\.json"):
        llmgeom.load_unembedding(tmp_path)


def test_malformed_tokenizer_json(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": {}}')
    with pytest.raises(CorruptCheckpointError, match=r"tokenizer\.json"):
        llmgeom.load_unembedding(tmp_path)


# ----------------------------------------------------------------------------- memory budget


def _gguf(path):
    return write_gguf(path, "gpt2", {"token_embd.weight": (np.ones((64, 8), np.float32), None)})


@pytest.mark.parametrize("kind", ["dir-safetensors", "dir-bin", "npy", "gguf", "safetensors"])
def test_tiny_memory_budget_is_refused_clearly(tmp_path, monkeypatch, kind):
    spec = SPECS["gpt2"]  # head: 96 x 16 float32 = 6144 bytes
    if kind.startswith("dir-"):
        write_checkpoint(spec, tmp_path, fmt=kind.removeprefix("dir-"))
        source = tmp_path
    elif kind == "npy":
        source = tmp_path / "h.npy"
        np.save(source, np.ones((96, 16), dtype=np.float32))
    elif kind == "gguf":
        source = _gguf(tmp_path / "m.gguf")
    else:
        write_checkpoint(spec, tmp_path)
        source = tmp_path / "model.safetensors"
    monkeypatch.setenv("LLMGEOM_MAX_MEMORY", "1kB")
    with pytest.raises(InsufficientMemoryError) as err:
        llmgeom.load_unembedding(source)
    message = str(err.value)
    assert "1.0 kB" in message and "LLMGEOM_MAX_MEMORY" in message and "needs" in message
    assert isinstance(err.value, MemoryError)


def test_memory_budget_applies_to_measure_of_an_array(monkeypatch):
    monkeypatch.setenv("LLMGEOM_MAX_MEMORY", "1kB")
    with pytest.raises(InsufficientMemoryError, match="normalised float32 matrix"):
        measure(torch.randn(100, 8), pairs="gram", device="cpu", progress=False)


def test_unreadable_memory_budget(monkeypatch, tmp_path):
    np.save(tmp_path / "h.npy", np.ones((4, 2), dtype=np.float32))
    monkeypatch.setenv("LLMGEOM_MAX_MEMORY", "lots")
    with pytest.raises(ConfigError, match="'lots'"):
        llmgeom.load_unembedding(tmp_path / "h.npy")


# ------------------------------------------------------------------------ NaN, zero, tiny rows


def _direct(W):
    """Exact pair statistics of the rows of W, the O(n²) way (float64)."""
    W = np.asarray(W, dtype=np.float64)
    U = W / (np.linalg.norm(W, axis=1, keepdims=True) + 1e-9)
    C = U @ U.T
    iu = np.triu_indices(len(W), 1)
    return C, iu


def test_nan_rows_are_an_error_naming_the_rows():
    W = torch.randn(20, 8)
    W[3, 1] = float("nan")
    W[7, 2] = float("inf")
    W[11, 0] = -float("inf")
    with pytest.raises(InvalidMatrixError) as err:
        measure(W, device="cpu", progress=False)
    message = str(err.value)
    assert "3 row(s)" in message and "rows 3, 7, 11" in message and "drop_nonfinite=True" in message


def test_many_nan_rows_message_is_bounded():
    W = torch.randn(40, 4)
    W[::2] = float("nan")
    with pytest.raises(InvalidMatrixError) as err:
        measure(W, device="cpu", progress=False)
    assert "20 row(s)" in str(err.value) and "..." in str(err.value)
    assert "38" not in str(err.value)


def test_drop_nonfinite_skips_and_reports_them(tmp_path):
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(20, 8, generator=gen)
    W[3, 1] = float("nan")
    W[7, 2] = float("inf")
    report = measure(W, drop_nonfinite=True, device="cpu", progress=False)
    good = [i for i in range(20) if i not in (3, 7)]
    C, iu = _direct(W[good].numpy())
    assert report.n_rows_used == 18 and report.diagnostics["variant"]["n_rows_selected"] == 20
    assert report.diagnostics["variant"]["n_nonfinite_rows_dropped"] == 2
    assert report.row_norms.n_nonfinite == 2 and report.row_norms.count == 18
    assert report.mean_cos2 == pytest.approx(np.mean(C[iu] ** 2), rel=1e-6)
    assert report.mean_abs_cos.value == pytest.approx(np.mean(np.abs(C[iu])), rel=1e-6)
    assert report.mean_cos == pytest.approx(np.mean(C[iu]), rel=1e-6, abs=1e-12)  # kept rows' sum
    assert report.diagnostics["n_pairs"] == 18 * 17 // 2
    # top pair reported in the ORIGINAL row numbering
    A = np.abs(C)
    np.fill_diagonal(A, -1)
    a, b = np.unravel_index(np.argmax(A), A.shape)
    top = report.diagnostics["top_pairs"][0]
    assert {top["i"], top["j"]} == {good[a], good[b]}
    json.dumps(report.to_dict(), allow_nan=False)


def test_zero_rows_are_counted_and_excluded_and_never_produce_nan():
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(25, 6, generator=gen)
    W[0] = 0
    W[9] = 0
    report = measure(W, device="cpu", progress=False, bins=200)
    good = [i for i in range(25) if i not in (0, 9)]
    C, iu = _direct(W[good].numpy())
    assert report.diagnostics["variant"]["n_zero_rows_excluded"] == 2
    assert report.row_norms.n_zero == 2 and report.row_norms.min == 0.0
    assert report.n_rows_used == 23 and report.diagnostics["n_pairs"] == 23 * 22 // 2
    assert report.mean_cos2 == pytest.approx(np.mean(C[iu] ** 2), rel=1e-6)
    assert sum(report.diagnostics["histogram"]["counts"]) == 23 * 22 // 2
    record = report.to_dict()
    text = json.dumps(record, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    for pair in report.diagnostics["top_pairs"]:
        assert pair["i"] in good and pair["j"] in good
    assert set(report.arrays["partner_per_row"].tolist()) <= set(good)


@pytest.mark.parametrize("pairs", ["exact", "sample", "gram"])
def test_zero_and_nan_rows_json_is_clean_in_every_pair_mode(pairs):
    W = torch.randn(30, 5)
    W[4] = 0
    W[5, 0] = float("nan")
    report = measure(
        W, pairs=pairs, sample_rows=20, drop_nonfinite=True, device="cpu", progress=False
    )
    json.dumps(report.to_dict(), allow_nan=False)
    assert report.diagnostics["variant"]["n_zero_rows_excluded"] == 1
    assert report.diagnostics["variant"]["n_nonfinite_rows_dropped"] == 1


@pytest.mark.parametrize(
    "W",
    [torch.randn(1, 8), torch.zeros(5, 8), torch.cat([torch.randn(1, 8), torch.zeros(3, 8)])],
    ids=["one-row", "all-zero", "one-nonzero"],
)
def test_fewer_than_two_usable_rows(W):
    with pytest.raises(InvalidMatrixError, match="at least 2"):
        measure(W, device="cpu", progress=False)


def test_one_row_file(tmp_path):
    np.save(tmp_path / "one.npy", np.ones((1, 4), dtype=np.float32))
    with pytest.raises(InvalidMatrixError, match="got 1"):
        measure(tmp_path / "one.npy", device="cpu", progress=False)


def test_wrong_tensor_that_is_not_2d(tmp_path):
    tensors = {"v": torch.randn(8), "w": torch.randn(9, 3)}
    safetensors.torch.save_file(tensors, tmp_path / "a.safetensors")
    with pytest.raises(InvalidMatrixError, match="2-D"):
        llmgeom.load_unembedding(tmp_path / "a.safetensors", tensor="v")


def test_rows_tokenizer_without_tokenizer(tmp_path):
    write_checkpoint(SPECS["pythia"], tmp_path, tokenizer=False)
    with pytest.raises(ConfigError, match="tokenizer"):
        measure(tmp_path, rows="tokenizer", pairs="gram", device="cpu", progress=False)


def test_rows_tokenizer_longer_than_the_head(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path)
    vocab = {f"t{i}": i for i in range(200)}
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    with pytest.raises(InvalidMatrixError, match="200 tokens but the head only 96 rows"):
        measure(tmp_path, rows="tokenizer", pairs="gram", device="cpu", progress=False)


def test_unknown_modes():
    with pytest.raises(ConfigError):
        measure(torch.randn(4, 2), pairs="all", progress=False)
    with pytest.raises(ConfigError):
        measure(torch.randn(4, 2), rows="some", progress=False)


def test_center_with_identical_rows_is_an_invalid_matrix():
    with pytest.raises(InvalidMatrixError, match="at least 2"):
        measure(torch.ones(5, 3), center=True, device="cpu", progress=False)


def test_every_error_is_an_llmgeom_error():
    for cls in (
        SourceNotFoundError,
        CorruptCheckpointError,
        InsufficientMemoryError,
        InvalidMatrixError,
        ConfigError,
    ):
        assert issubclass(cls, LlmgeomError)
