"""Single weight files: .safetensors, .npy, .bin/.pt and GGUF (written with gguf.GGUFWriter)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import gguf
import numpy as np
import pytest
import safetensors.torch
import torch
from checkpoints import SPECS, make_tensors, write_checkpoint, write_gguf

import llmgeom
from llmgeom.errors import ConfigError, TensorNotFoundError


def save_st(path, tensors):
    safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def sha(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().view(-1).view(torch.uint8).numpy()).hexdigest()


# --------------------------------------------------------------------------------- safetensors


def test_safetensors_by_name(tmp_path):
    a, b = torch.randn(30, 8), torch.randn(20, 8)
    path = save_st(tmp_path / "weights.safetensors", {"a": a, "b": b})
    u = llmgeom.load_unembedding(path, tensor="b")
    assert torch.equal(u.weight, b)
    assert u.meta.tensor_name == "b" and u.meta.source_kind == "file"
    assert u.meta.extra == {"format": "safetensors", "head_rule": "explicit"}
    assert u.meta.file == "weights.safetensors" and u.meta.sha256 == sha(b)


def test_safetensors_wrong_name_lists_candidates(tmp_path):
    path = save_st(tmp_path / "w.safetensors", {"a": torch.randn(30, 8), "v": torch.randn(8)})
    with pytest.raises(TensorNotFoundError, match=r"'zzz'.*a \[30, 8\]"):
        llmgeom.load_unembedding(path, tensor="zzz")


@pytest.mark.parametrize(
    "name", ["qwen2.5-untied", "qwen2.5-tied", "pythia", "opt-350m", "llama-tied"]
)
def test_safetensors_automatic_with_config_beside_it(tmp_path, name):
    spec = SPECS[name]
    head = write_checkpoint(spec, tmp_path)
    u = llmgeom.load_unembedding(tmp_path / "model.safetensors")
    assert torch.equal(u.weight, head) and u.weight.dtype == spec.dtype
    meta = u.meta
    assert meta.source_kind == "file" and meta.source == str(tmp_path / "model.safetensors")
    assert meta.tensor_name == spec.head
    assert (meta.tied, meta.family, meta.d_model) == (spec.tied, spec.family, spec.d_model)
    assert (meta.n_rows, meta.head_width) == spec.tensors[spec.head]
    assert meta.stored_dtype == str(spec.dtype).removeprefix("torch.")
    assert meta.extra["head_rule"] == "skeleton"
    assert meta.sha256 == sha(head)


def test_safetensors_known_names_without_config_untied(tmp_path):
    t = {
        "model.embed_tokens.weight": torch.randn(50, 8),
        "lm_head.weight": torch.randn(50, 8),
        "model.norm.weight": torch.randn(8),
    }
    u = llmgeom.load_unembedding(save_st(tmp_path / "m.safetensors", t))
    assert torch.equal(u.weight, t["lm_head.weight"])
    assert (u.meta.tensor_name, u.meta.tied, u.meta.extra["head_rule"]) == (
        "lm_head.weight",
        False,
        "known-names",
    )
    assert u.meta.family is None and u.meta.d_model is None


def test_safetensors_known_names_without_config_tied(tmp_path):
    # wpe is the taller 2-D tensor: a "tallest tensor" rule would pick the wrong one
    t = {"transformer.wte.weight": torch.randn(50, 8), "transformer.wpe.weight": torch.randn(64, 8)}
    u = llmgeom.load_unembedding(save_st(tmp_path / "m.safetensors", t))
    assert torch.equal(u.weight, t["transformer.wte.weight"])
    assert (u.meta.tensor_name, u.meta.tied) == ("transformer.wte.weight", True)


def test_safetensors_only_tall_candidate_is_chosen(tmp_path):
    t = {"foo": torch.randn(40, 8), "bar": torch.randn(8, 40), "baz": torch.randn(8)}
    u = llmgeom.load_unembedding(save_st(tmp_path / "m.safetensors", t))
    assert torch.equal(u.weight, t["foo"])
    assert u.meta.extra["head_rule"] == "only-candidate"


def test_safetensors_ambiguous_lists_candidates_with_shapes(tmp_path):
    t = {"foo": torch.randn(40, 8), "bar": torch.randn(30, 8), "baz": torch.randn(8)}
    with pytest.raises(TensorNotFoundError) as err:
        llmgeom.load_unembedding(save_st(tmp_path / "m.safetensors", t))
    message = str(err.value)
    assert "foo [40, 8]" in message and "bar [30, 8]" in message
    assert "pass tensor=NAME" in message and "--" not in message  # the parameter, not the flag
    assert "baz" not in message  # only 2-D candidates are listed
    assert message.index("foo") < message.index("bar")  # tallest first


def test_safetensors_no_2d_tensor(tmp_path):
    with pytest.raises(TensorNotFoundError, match="no 2-D tensors"):
        llmgeom.load_unembedding(save_st(tmp_path / "m.safetensors", {"v": torch.randn(8)}))


# ------------------------------------------------------------------------------------------ npy


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_npy(tmp_path, dtype):
    array = np.random.default_rng(0).standard_normal((25, 6)).astype(dtype)
    np.save(tmp_path / "head.npy", array)
    u = llmgeom.load_unembedding(tmp_path / "head.npy")
    assert u.weight.dtype == torch.from_numpy(array).dtype
    np.testing.assert_array_equal(u.weight.numpy(), array)
    assert (u.meta.source_kind, u.meta.tensor_name, u.meta.file) == ("file", "array", "head.npy")
    assert (u.meta.n_rows, u.meta.head_width) == (25, 6)
    assert u.meta.sha256 == hashlib.sha256(array.tobytes()).hexdigest()
    assert u.meta.extra == {"format": "npy", "head_rule": "array"}


def test_npy_fortran_order_is_read_correctly(tmp_path):
    array = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(6, 4))
    np.save(tmp_path / "f.npy", array)
    u = llmgeom.load_unembedding(tmp_path / "f.npy")
    np.testing.assert_array_equal(u.weight.numpy(), array)


def test_npy_rejects_tensor_name(tmp_path):
    np.save(tmp_path / "h.npy", np.ones((4, 2), np.float32))
    with pytest.raises(ConfigError, match="tensor"):
        llmgeom.load_unembedding(tmp_path / "h.npy", tensor="x")


# ------------------------------------------------------------------------------------- bin / pt


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth"])
def test_torch_pickle_single_file(tmp_path, suffix):
    spec = SPECS["opt"]
    tensors = make_tensors(spec)
    path = tmp_path / f"weights{suffix}"
    torch.save(tensors, path)
    u = llmgeom.load_unembedding(path)  # known names, no config beside it
    head = tensors[spec.head]
    assert torch.equal(u.weight, head) and u.weight.dtype == torch.float16
    assert u.meta.tensor_name == spec.head and u.meta.extra["format"] == "bin"
    assert u.meta.sha256 == sha(head)


def test_torch_pickle_with_config_beside_it(tmp_path):
    spec = SPECS["pythia"]
    head = write_checkpoint(spec, tmp_path, fmt="bin")
    u = llmgeom.load_unembedding(tmp_path / "pytorch_model.bin")
    assert torch.equal(u.weight, head)
    assert (u.meta.tensor_name, u.meta.tied, u.meta.family) == ("embed_out.weight", False, "pythia")


def test_torch_pickle_state_dict_wrapper_and_name(tmp_path):
    a, b = torch.randn(12, 4), torch.randn(9, 4)
    torch.save({"state_dict": {"a": a, "b": b}, "step": 3}, tmp_path / "ckpt.pt")
    u = llmgeom.load_unembedding(tmp_path / "ckpt.pt", tensor="b")
    assert torch.equal(u.weight, b)
    with pytest.raises(TensorNotFoundError, match=r"'c'.*a \[12, 4\]"):
        llmgeom.load_unembedding(tmp_path / "ckpt.pt", tensor="c")


def test_torch_pickle_legacy_non_zip_format(tmp_path):
    t = {"lm_head.weight": torch.randn(10, 4)}
    torch.save(t, tmp_path / "old.bin", _use_new_zipfile_serialization=False)
    assert torch.equal(llmgeom.load_unembedding(tmp_path / "old.bin").weight, t["lm_head.weight"])


def test_unknown_suffix_is_a_config_error(tmp_path):
    (tmp_path / "w.h5").write_bytes(b"\0" * 16)
    with pytest.raises(ConfigError, match=r"unknown file type '\.h5'"):
        llmgeom.load_unembedding(tmp_path / "w.h5")


# ----------------------------------------------------------------------------------------- GGUF


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_gguf_tied_token_embd(tmp_path, dtype):
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((40, 12)).astype(dtype)
    path = write_gguf(tmp_path / "m.gguf", "gpt2", {"token_embd.weight": (emb, None)}, 24)
    u = llmgeom.load_unembedding(path)
    assert u.weight.dtype == torch.float32  # dequantised
    np.testing.assert_array_equal(u.weight.numpy(), emb.astype(np.float32))
    meta = u.meta
    assert (meta.tensor_name, meta.tied, meta.family) == ("token_embd.weight", True, "gpt2")
    assert (meta.n_rows, meta.head_width, meta.d_model) == (40, 12, 24)
    assert meta.stored_dtype == ("gguf:F32" if dtype == np.float32 else "gguf:F16")
    assert meta.sha256 == hashlib.sha256(emb.tobytes()).hexdigest()
    assert meta.extra["gguf_architecture"] == "gpt2" and meta.file == "m.gguf"


def test_gguf_untied_q8_0_output(tmp_path):
    rng = np.random.default_rng(2)
    n, m = 48, 64  # width a multiple of the Q8_0 block size 32
    out = rng.standard_normal((n, m)).astype(np.float32)
    emb = rng.standard_normal((n, m)).astype(np.float32)
    qtype = gguf.GGMLQuantizationType.Q8_0
    quantised = gguf.quantize(out, qtype)
    path = write_gguf(
        tmp_path / "m.gguf",
        "qwen2",
        {"token_embd.weight": (emb, None), "output.weight": (quantised, qtype)},
        m,
    )
    u = llmgeom.load_unembedding(path)
    meta = u.meta
    assert (meta.tensor_name, meta.tied, meta.family) == ("output.weight", False, "qwen2.5")
    assert meta.stored_dtype == "gguf:Q8_0" and meta.d_model == m
    assert u.shape == (n, m) and u.weight.dtype == torch.float32
    expected = gguf.dequantize(quantised, qtype)
    np.testing.assert_array_equal(u.weight.numpy(), expected)
    # Q8_0: per block of 32 a scale d = max|x|/127 stored as f16: |error| <= d/2 + 127 d 2^-11
    blocks = np.abs(out).reshape(n, m // 32, 32).max(axis=2, keepdims=True) / 127
    err = np.abs(u.weight.numpy() - out).reshape(n, m // 32, 32)
    assert np.all(err <= 0.57 * blocks) and err.max() > 0
    assert meta.sha256 == hashlib.sha256(quantised.tobytes()).hexdigest()
    # the input embedding is still reachable by name; like an explicit safetensors tensor that
    # is not the head, it is described as neither tied nor untied
    v = llmgeom.load_unembedding(path, tensor="token_embd.weight")
    np.testing.assert_array_equal(v.weight.numpy(), emb)
    assert v.meta.tied is None and v.meta.extra["head_rule"] == "explicit"
    w = llmgeom.load_unembedding(path, tensor="output.weight")
    assert w.meta.tied is False and w.meta.extra["head_rule"] == "explicit"


@pytest.mark.parametrize(
    ("arch", "family"),
    [("gpt2", "gpt2"), ("gptneox", "pythia"), ("qwen2", "qwen2.5"), ("llama", "llama")],
)
def test_gguf_architecture_to_family(tmp_path, arch, family):
    emb = np.ones((6, 4), dtype=np.float32) * np.arange(1, 7, dtype=np.float32)[:, None]
    path = write_gguf(tmp_path / "m.gguf", arch, {"token_embd.weight": (emb, None)}, 32)
    meta = llmgeom.load_unembedding(path).meta
    assert (meta.family, meta.d_model, meta.extra["gguf_architecture"]) == (family, 32, arch)


def test_gguf_without_embedding_length(tmp_path):
    emb = np.eye(6, 4, dtype=np.float32)
    path = write_gguf(tmp_path / "m.gguf", "gpt2", {"token_embd.weight": (emb, None)})
    assert llmgeom.load_unembedding(path).meta.d_model is None


def test_gguf_missing_head_lists_tensors(tmp_path):
    ffn = np.ones((6, 4), np.float32)
    path = write_gguf(tmp_path / "m.gguf", "gpt2", {"blk.0.ffn.weight": (ffn, None)})
    with pytest.raises(TensorNotFoundError, match=r"blk\.0\.ffn\.weight \[6, 4\]"):
        llmgeom.load_unembedding(path)
    with pytest.raises(TensorNotFoundError, match="nope"):
        llmgeom.load_unembedding(path, tensor="nope")


def test_gguf_measurement_json_is_clean(tmp_path):
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((30, 8)).astype(np.float16)
    path = write_gguf(tmp_path / "m.gguf", "gpt2", {"token_embd.weight": (emb, None)}, 8)
    from llmgeom.geometry.measurement import measure

    record = measure(path, pairs="gram", progress=False).to_dict()
    json.dumps(record, allow_nan=False)
    assert record["model"]["stored_dtype"] == "gguf:F16"


def test_measure_f32_gguf_does_not_crash(tmp_path):
    # in a subprocess: the failure mode is a segmentation fault that would kill pytest
    emb = np.random.default_rng(4).standard_normal((30, 8)).astype(np.float32)
    path = write_gguf(tmp_path / "m.gguf", "gpt2", {"token_embd.weight": (emb, None)}, 8)
    before = path.read_bytes()
    code = (
        "import sys, json; from llmgeom.geometry.measurement import measure; "
        "r = measure(sys.argv[1], pairs='gram', device='cpu', progress=False); "
        "print(json.dumps(r.mean_cos2))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-500:]}"
    U = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    C = U @ U.T
    exact = (np.sum(C.astype(np.float64) ** 2) - 30) / (30 * 29)
    assert abs(float(proc.stdout) - exact) < 1e-6
    assert path.read_bytes() == before


def test_tokenizer_beside_a_single_file_gives_the_tokenizer_length(tmp_path):
    spec = SPECS["pythia"]
    write_checkpoint(spec, tmp_path / "ckpt")
    u = llmgeom.load_unembedding(tmp_path / "ckpt" / "model.safetensors")
    assert u.meta.tensor_name == "embed_out.weight"
    assert u.meta.tokenizer_len == spec.tokenizer_len
    report = llmgeom.measure(
        tmp_path / "ckpt" / "model.safetensors", rows="tokenizer", pairs="gram"
    )
    assert report.n_rows_used == spec.tokenizer_len


def test_complex_npy_is_refused(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.ones((4, 3), dtype=np.complex64))
    with pytest.raises(llmgeom.InvalidMatrixError, match="real-valued"):
        llmgeom.load_unembedding(path)
