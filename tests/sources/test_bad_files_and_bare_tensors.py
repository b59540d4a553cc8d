"""Broken single files give one-line typed errors; a bare ``torch.save(tensor)`` is a head."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import torch
from checkpoints import SPECS, write_checkpoint, write_gguf

import llmgeom
from llmgeom.errors import (
    ConfigError,
    CorruptCheckpointError,
    InvalidMatrixError,
    LlmgeomError,
    TensorNotFoundError,
)
from llmgeom.sources.files import locate_file
from llmgeom.sources.formats.torch_bin import BARE_TENSOR_KEY


def _one_line(err: BaseException) -> str:
    message = str(err)
    assert "\n" not in message and "Traceback" not in message
    return message


# ----------------------------------------------------------------------------------- .npy files


def test_empty_npy(tmp_path):
    path = tmp_path / "e.npy"
    path.write_bytes(b"")
    for call in (llmgeom.load_unembedding, locate_file):
        with pytest.raises(CorruptCheckpointError) as err:
            call(path)
        assert _one_line(err.value) == f"{path}: empty file (0 bytes), not a .npy array"


@pytest.mark.parametrize(
    "data",
    [b"garbage that is not numpy at all", os.urandom(64), b"\x93NU"],
    ids=["text", "random", "short"],
)
def test_garbage_npy_never_suggests_unpickling(tmp_path, data):
    path = tmp_path / "g.npy"
    path.write_bytes(data)
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(path)
    message = _one_line(err.value)
    assert message == f"{path}: not a .npy file (no .npy magic string at the start)"
    assert "pickle" not in message


def test_npy_of_python_objects_is_refused_without_advice_to_unpickle(tmp_path):
    path = tmp_path / "o.npy"
    np.save(path, np.array([[object(), 1]], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(path)
    message = _one_line(err.value)
    assert message.startswith(f"{path}: the array holds Python objects (dtype object)")
    assert "allow_pickle" not in message


def _npy_bytes(array: np.ndarray, tmp_path) -> bytes:
    np.save(tmp_path / "src.npy", array)
    return (tmp_path / "src.npy").read_bytes()


@pytest.mark.parametrize(("cut", "part"), [(30, "the header"), (-20, "the array data")])
def test_truncated_npy(tmp_path, cut, part):
    raw = _npy_bytes(np.ones((10, 4), np.float32), tmp_path)
    path = tmp_path / "t.npy"
    path.write_bytes(raw[:cut])
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(path)
    size = len(raw[:cut])
    assert _one_line(err.value) == f"{path}: truncated .npy file ({size} bytes; {part} ends early)"


def test_npy_with_an_unknown_format_version(tmp_path):
    raw = bytearray(_npy_bytes(np.ones((3, 2), np.float32), tmp_path))
    raw[6:8] = bytes([9, 1])
    path = tmp_path / "v.npy"
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match=r"format version 9\.1; known: 1\.0, 2\.0"):
        llmgeom.load_unembedding(path)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "the array's dtype <U1 is not numeric"),
        (np.ones(7, np.float32), "the array has shape [7]; an output embedding must be 2-D"),
        (np.ones((2, 3, 4), np.float32), "the array has shape [2, 3, 4]"),
    ],
    ids=["strings", "1-D", "3-D"],
)
def test_npy_that_is_not_a_numeric_matrix(tmp_path, array, message):
    path = tmp_path / "a.npy"
    np.save(path, array)
    for call in (llmgeom.load_unembedding, locate_file):  # `inspect` refuses it too
        with pytest.raises(InvalidMatrixError) as err:
            call(path)
        assert _one_line(err.value).startswith(f"{path}: {message}")


def test_npy_filesystem_error_names_the_path_once(tmp_path, monkeypatch):
    path = tmp_path / "h.npy"
    np.save(path, np.ones((4, 2), np.float32))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(PermissionError) as err:
        llmgeom.load_unembedding(path)
    assert str(err.value).count(str(path)) == 1


# ------------------------------------------------------------------------------------- GGUF


def _gguf_bytes(tmp_path) -> bytes:
    emb = np.arange(512, dtype=np.float32).reshape(64, 8)
    return write_gguf(
        tmp_path / "whole.gguf", "gpt2", {"token_embd.weight": (emb, None)}, 8
    ).read_bytes()


def test_every_truncation_of_a_gguf_file_is_one_clear_error(tmp_path):
    raw = _gguf_bytes(tmp_path)
    path = tmp_path / "cut.gguf"
    data_start = len(raw) - 64 * 8 * 4
    cuts = sorted(
        {
            0,
            3,
            7,
            8,
            12,
            23,
            24,
            40,
            data_start - 1,
            data_start,
            data_start + 1,
            len(raw) - 4,
            len(raw) - 1,
            *range(0, len(raw), 37),
        }
    )
    for cut in cuts:
        path.write_bytes(raw[:cut])
        for call in (locate_file, llmgeom.load_unembedding):
            with pytest.raises(CorruptCheckpointError) as err:
                call(path)
            message = _one_line(err.value)
            assert message.startswith(f"{path}: truncated or corrupt GGUF file ({cut} bytes; "), (
                cut,
                message,
            )
            assert "dtype" not in message and "reshape" not in message, (cut, message)
    path.write_bytes(raw)  # the control: the whole file reads
    assert llmgeom.load_unembedding(path).weight[63, 7].item() == 511.0


def test_gguf_with_an_unknown_version_or_no_magic(tmp_path):
    raw = bytearray(_gguf_bytes(tmp_path))
    path = tmp_path / "v.gguf"
    path.write_bytes(bytes(raw[:4] + struct.pack("<I", 99) + raw[8:]))
    with pytest.raises(CorruptCheckpointError) as err:
        locate_file(path)
    assert _one_line(err.value).endswith("format version 99; readable: 2, 3)")
    path.write_bytes(b"PK\x03\x04" + bytes(raw[4:]))
    with pytest.raises(CorruptCheckpointError) as err:
        locate_file(path)
    assert _one_line(err.value) == f"{path}: not a GGUF file (no GGUF magic number at the start)"


# --------------------------------------------------------------------------- .bin / .pt files


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file (0 bytes), not a PyTorch checkpoint"),
        (
            b"hello, I am a text file\n",
            "not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)",
        ),
    ],
    ids=["empty", "text"],
)
@pytest.mark.parametrize("suffix", [".bin", ".pt"])
def test_empty_or_non_checkpoint_bin(tmp_path, data, message, suffix):
    path = tmp_path / f"w{suffix}"
    path.write_bytes(data)
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(path)
    assert _one_line(err.value) == f"{path}: {message}"


def test_truncated_bin_message_is_one_short_sentence(tmp_path):
    write_checkpoint(SPECS["opt"], tmp_path, fmt="bin")
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(tmp_path)
    message = _one_line(err.value)
    assert message.startswith(f"{path}: truncated or corrupt PyTorch checkpoint (")
    assert "If you are seeing this error" not in message and len(message) < 300


def test_bin_filesystem_error_names_the_path_once(tmp_path, monkeypatch):
    path = tmp_path / "w.bin"
    torch.save({"lm_head.weight": torch.ones(5, 2)}, path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(torch, "load", denied)
    with pytest.raises(PermissionError) as err:
        llmgeom.load_unembedding(path)
    assert str(err.value).count(str(path)) == 1


@pytest.mark.parametrize("suffix", [".pt", ".bin", ".pth"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_bare_tensor_saved_with_torch_save_is_the_head(tmp_path, suffix, dtype):
    weight = torch.randn(50, 8, generator=torch.Generator().manual_seed(3)).to(dtype)
    path = tmp_path / f"head{suffix}"
    torch.save(weight, path)
    u = llmgeom.load_unembedding(path)
    assert torch.equal(u.weight, weight) and u.weight.dtype == dtype
    meta = u.meta
    assert (meta.source_kind, meta.tensor_name, meta.file) == ("file", BARE_TENSOR_KEY, path.name)
    assert (meta.n_rows, meta.head_width, meta.family, meta.tied) == (50, 8, None, None)
    assert meta.extra == {"format": "bin", "head_rule": "bare-tensor"}
    loc = locate_file(path)
    assert (loc.key, loc.fmt, loc.shape) == (BARE_TENSOR_KEY, "bin", (50, 8))
    assert loc.dtype == str(dtype).removeprefix("torch.")
    W = weight.double().numpy()
    U = W / (np.linalg.norm(W, axis=1, keepdims=True) + 1e-9)
    C = U @ U.T
    iu = np.triu_indices(50, 1)
    report = llmgeom.measure(path, pairs="gram", device="cpu", progress=False)
    assert report.mean_cos2 == pytest.approx(np.mean(C[iu] ** 2), rel=1e-5)


def test_bare_tensor_must_be_2d_and_takes_no_tensor_name(tmp_path):
    path = tmp_path / "v.pt"
    torch.save(torch.ones(5), path)
    for call in (llmgeom.load_unembedding, locate_file):
        with pytest.raises(InvalidMatrixError) as err:
            call(path)
        assert _one_line(err.value) == (
            f"{path}: the file holds one tensor of shape [5]; an "
            "output embedding must be 2-D [n_rows, m]"
        )
    torch.save(torch.ones(6, 2), path)
    with pytest.raises(ConfigError, match=r"one bare tensor; tensor='lm_head\.weight' does not"):
        llmgeom.load_unembedding(path, tensor="lm_head.weight")


def test_other_pickled_objects_are_still_refused(tmp_path):
    path = tmp_path / "l.pt"
    torch.save([torch.ones(3, 2)], path)
    with pytest.raises(
        CorruptCheckpointError, match=r"neither a state dict nor a tensor \(got list"
    ):
        llmgeom.load_unembedding(path)


def test_state_dict_with_a_key_named_like_the_bare_tensor_is_a_state_dict(tmp_path):
    path = tmp_path / "s.pt"
    torch.save({BARE_TENSOR_KEY: torch.ones(3, 2), "lm_head.weight": torch.ones(9, 2)}, path)
    u = llmgeom.load_unembedding(path)
    assert u.meta.tensor_name == "lm_head.weight" and u.meta.extra["head_rule"] == "known-names"


# -------------------------------------------------------------------------- error context


def test_a_head_that_is_not_2d_names_the_file_and_tensor(tmp_path):
    import safetensors.torch

    safetensors.torch.save_file(
        {"v": torch.randn(8), "w": torch.randn(9, 3)}, tmp_path / "a.safetensors"
    )
    with pytest.raises(InvalidMatrixError) as err:
        llmgeom.load_unembedding(tmp_path / "a.safetensors", tensor="v")
    assert _one_line(err.value) == (
        f"{tmp_path / 'a.safetensors'}: tensor 'v': an output "
        "embedding must be 2-D [n_rows, m], got shape (8,)"
    )


def test_malformed_tokenizer_error_names_its_full_path(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": {}}')
    with pytest.raises(CorruptCheckpointError) as err:
        llmgeom.load_unembedding(tmp_path)
    assert (
        str(err.value) == f"{tmp_path / 'tokenizer.json'}: not a tokenizer.json with a model vocab"
    )


def test_missing_gguf_tensor_is_still_a_tensor_error(tmp_path):
    raw = _gguf_bytes(tmp_path)
    path = tmp_path / "m.gguf"
    path.write_bytes(raw)
    with pytest.raises(TensorNotFoundError, match=r"no tensor output\.weight"):
        locate_file(path, tensor="output.weight")
    assert issubclass(TensorNotFoundError, LlmgeomError)
