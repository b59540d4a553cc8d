"""Local Hugging Face checkpoint directories: every tiny family layout, format and sharding.

The checkpoints come from ``tests/checkpoints.py`` (exact Hub tensor names at toy size). Each
load is compared bit for bit with the tensor that was written, and every metadata field is
checked against the spec. "Reads only the head" is shown two ways: deleting the shards that do
not hold the head, and counting the bytes the process reads (``/proc/self/io``).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch
from checkpoints import SPECS, make_tensors, write_checkpoint

import llmgeom
from llmgeom.errors import InvalidMatrixError, TensorNotFoundError
from llmgeom.sources.local import load_from_directory, locate_in_directory

SAFETENSORS_CODES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def raw_bytes(tensor: torch.Tensor) -> bytes:
    """The C-order bytes of a tensor in its own dtype (as a checkpoint stores them)."""
    return tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes()


def header_end(path: Path) -> int:
    """Offset of the first data byte of a safetensors file (8 + header length)."""
    with open(path, "rb") as fh:
        return 8 + struct.unpack("<Q", fh.read(8))[0]


def head_shard(directory: Path, fmt: str, key: str) -> str:
    index = {"safetensors": "model.safetensors", "bin": "pytorch_model.bin"}[fmt] + ".index.json"
    return json.loads((directory / index).read_text())["weight_map"][key]


# ----------------------------------------------------------------------------- the full matrix


def transformers_head(directory: Path) -> tuple[torch.Tensor, bool, int]:
    """The oracle: (head, tied, d_model) of the checkpoint as transformers itself loads it."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(directory)
    finally:
        transformers.utils.logging.enable_progress_bar()
        transformers.logging.set_verbosity_warning()
    out, emb = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    return out.detach(), out is emb, model.config.get_text_config().hidden_size


@pytest.mark.parametrize("shards", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("name", list(SPECS))
def test_every_spec_format_and_sharding(tmp_path, name, fmt, shards):
    """The head, tying and width are transformers' own; names and tokenizer come from the spec."""
    spec = SPECS[name]
    directory = tmp_path / name
    head = write_checkpoint(spec, directory, fmt=fmt, shards=shards)
    if shards > 1:
        assert len(list(directory.glob(f"*-of-*{'.bin' if fmt == 'bin' else '.safetensors'}"))) > 1
    oracle, tied, d_model = transformers_head(directory)

    u = llmgeom.load_unembedding(directory)

    assert u.weight.dtype == oracle.dtype == head.dtype
    assert torch.equal(u.weight, oracle)
    meta = u.meta
    assert meta.source_kind == "local-dir"
    assert meta.source == str(directory)
    assert meta.tied is tied
    assert meta.d_model == d_model
    assert meta.tensor_name == spec.head
    assert meta.family == spec.family
    assert meta.tokenizer_len == spec.tokenizer_len
    assert meta.n_rows == spec.tensors[spec.head][0]
    assert meta.head_width == spec.tensors[spec.head][1]
    assert u.shape == spec.tensors[spec.head]
    assert meta.stored_dtype == str(spec.dtype).removeprefix("torch.")
    assert meta.sha256 == hashlib.sha256(raw_bytes(head)).hexdigest()
    assert meta.extra["head_rule"] == "skeleton"
    assert meta.extra["format"] == fmt
    if shards == 1:
        assert meta.file == ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    else:
        assert meta.file == head_shard(directory, fmt, spec.head)
    json.dumps(meta.to_dict(), allow_nan=False)  # metadata is JSON-ready


def test_sha256_is_hash_of_the_bytes_stored_in_the_file(tmp_path):
    """The checksum is of the head's bytes exactly as they lie in the safetensors file."""
    spec = SPECS["qwen2.5-untied"]  # bf16: no numpy dtype, bytes must still match
    write_checkpoint(spec, tmp_path)
    loc = locate_in_directory(tmp_path)
    start, stop = loc.byte_range
    stored = (tmp_path / "model.safetensors").read_bytes()[start:stop]
    assert llmgeom.load_unembedding(tmp_path).meta.sha256 == hashlib.sha256(stored).hexdigest()


def test_opt_350m_records_head_width_and_d_model_separately(tmp_path):
    spec = SPECS["opt-350m"]
    write_checkpoint(spec, tmp_path)
    meta = llmgeom.load_unembedding(tmp_path).meta
    assert (meta.head_width, meta.d_model) == (8, 16)
    assert meta.n_rows == 80 and meta.tokenizer_len == 73


def test_opt_66b_lm_head_copy_is_not_preferred_over_embed_tokens(tmp_path):
    spec = SPECS["opt-66b"]
    head = write_checkpoint(spec, tmp_path)
    u = llmgeom.load_unembedding(tmp_path)
    assert u.meta.tensor_name == "decoder.embed_tokens.weight"
    assert torch.equal(u.weight, head)


def test_pythia_padding_rows_are_kept_and_tokenizer_length_recorded(tmp_path):
    write_checkpoint(SPECS["pythia"], tmp_path)
    meta = llmgeom.load_unembedding(tmp_path).meta
    assert (meta.n_rows, meta.tokenizer_len) == (72, 60)


def test_no_tokenizer_files_means_no_tokenizer_length(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path, tokenizer=False)
    assert llmgeom.load_unembedding(tmp_path).meta.tokenizer_len is None


def test_vocab_json_plus_added_tokens_gives_tokenizer_length(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path, tokenizer=False)
    (tmp_path / "vocab.json").write_text(json.dumps({f"t{i}": i for i in range(50)}))
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<pad>": 50, "<eos>": 51}))
    assert llmgeom.load_unembedding(tmp_path).meta.tokenizer_len == 52


def test_pathlike_and_string_sources_agree(tmp_path):
    head = write_checkpoint(SPECS["gpt2"], tmp_path)
    assert torch.equal(llmgeom.load_unembedding(str(tmp_path)).weight, head)
    assert torch.equal(load_from_directory(tmp_path).weight, head)


# ------------------------------------------------------------------------ reads only the head


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("name", list(SPECS))
def test_sharded_checkpoint_loads_with_only_the_head_shard_present(tmp_path, name, fmt):
    spec = SPECS[name]
    head = write_checkpoint(spec, tmp_path, fmt=fmt, shards=3)
    keep = head_shard(tmp_path, fmt, spec.head)
    suffix = ".safetensors" if fmt == "safetensors" else ".bin"
    others = [p for p in tmp_path.glob(f"*-of-*{suffix}") if p.name != keep]
    assert others, "the test needs shards that do not hold the head"
    for p in others:
        p.unlink()
    u = llmgeom.load_unembedding(tmp_path)
    assert torch.equal(u.weight, head)
    assert u.meta.file == keep


def _bytes_read() -> int:
    """Bytes this process has read through read/pread system calls so far (/proc/self/io)."""
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


def _padded_checkpoint(spec, directory: Path) -> tuple[Path, torch.Tensor]:
    """The spec's tensors plus 16 MiB of other tensors around them, in one safetensors file."""
    big = {k: torch.randn(2**18, 16).to(spec.dtype) for k in ("pad.a.weight", "zz.b.weight")}
    tensors = {**make_tensors(spec), **big}
    path = directory / "model.safetensors"
    safetensors.torch.save_file(tensors, str(path), metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(spec.config))
    return path, tensors[spec.head]


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("name", ["gpt2", "pythia", "qwen2.5-untied", "opt-350m"])
def test_single_safetensors_reads_header_and_head_bytes_only(tmp_path, name):
    """What crosses from the file into the process: the header, config and the head's bytes,
    never the megabytes of other tensors (nothing is memory-mapped either: see below)."""
    path, head = _padded_checkpoint(SPECS[name], tmp_path)
    nbytes = head.numel() * head.element_size()
    assert path.stat().st_size > 500 * nbytes  # reading the other tensors would show
    llmgeom.load_unembedding(tmp_path)  # first use: imports and caches

    before = _bytes_read()
    u = llmgeom.load_unembedding(tmp_path)
    read = _bytes_read() - before

    assert torch.equal(u.weight, head)
    assert nbytes <= read <= nbytes + 64 * 1024


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_locate_in_directory_reads_only_the_header(tmp_path):
    path, head = _padded_checkpoint(SPECS["pythia"], tmp_path)
    locate_in_directory(tmp_path)
    before = _bytes_read()
    loc = locate_in_directory(tmp_path)
    assert _bytes_read() - before < 64 * 1024 < head.numel() * head.element_size() + 2**20
    start, stop = loc.byte_range
    assert path.read_bytes()[start:stop] == raw_bytes(head)


def test_a_loaded_head_survives_its_file_being_rewritten(tmp_path):
    """The head is in memory of its own, not a map of the file: truncating the file in place
    (a training run saving over it) must not pull its pages away (SIGBUS) nor change it."""
    path, head = _padded_checkpoint(SPECS["gpt2"], tmp_path)
    u = llmgeom.load_unembedding(tmp_path)
    path.write_bytes(b"rewritten")
    assert torch.equal(u.weight, head)


def test_f32_head_beside_a_u32_tensor(tmp_path):
    """A dtype torch reads only recently (U32) beside the head: located and read, as the
    reference reader does (the hand-written parser refused the whole file as corrupt)."""
    head = torch.randn(12, 4)
    ids = torch.arange(7).to(torch.uint32)
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file({"lm_head.weight": head, "token_ids": ids}, str(path))
    with safetensors.safe_open(str(path), framework="pt") as fh:  # the oracle
        expected = fh.get_tensor("lm_head.weight")
    u = llmgeom.load_unembedding(path)
    assert torch.equal(u.weight, expected) and torch.equal(u.weight, head)
    assert u.meta.tensor_name == "lm_head.weight"
    loc = locate_in_directory(tmp_path)
    start, stop = loc.byte_range
    assert (loc.dtype, loc.shape) == ("F32", (12, 4))
    assert path.read_bytes()[start:stop] == raw_bytes(head)
    with pytest.raises(InvalidMatrixError, match="token_ids"):  # 1-D: read, then refused
        llmgeom.load_unembedding(path, tensor="token_ids")


# ------------------------------------------------------------------------- locate_in_directory


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("name", list(SPECS))
def test_locate_in_directory_safetensors(tmp_path, name, shards):
    spec = SPECS[name]
    head = write_checkpoint(spec, tmp_path, shards=shards)
    loc = locate_in_directory(tmp_path)
    sharded = shards > 1
    expected = head_shard(tmp_path, "safetensors", spec.head) if sharded else "model.safetensors"
    assert Path(loc.file) == tmp_path / expected
    assert loc.source == str(tmp_path)
    assert loc.key == spec.head
    assert loc.fmt == "safetensors"
    assert loc.dtype == SAFETENSORS_CODES[spec.dtype]
    assert loc.shape == spec.tensors[spec.head]
    assert loc.nbytes == head.numel() * head.element_size()
    start, stop = loc.byte_range
    assert header_end(Path(loc.file)) <= start < stop <= loc.file_size
    assert loc.file_size == Path(loc.file).stat().st_size
    assert Path(loc.file).read_bytes()[start:stop] == raw_bytes(head)
    assert loc.choice.key == spec.head and loc.choice.tied is spec.tied
    assert loc.choice.family == spec.family and loc.choice.d_model == spec.d_model
    assert loc.config == spec.config
    summary = json.loads(json.dumps(loc.to_dict()))
    assert summary["nbytes"] == loc.nbytes and "config" not in summary


@pytest.mark.parametrize("shards", [1, 2])
def test_locate_in_directory_bin_has_key_and_shape_but_no_byte_range(tmp_path, shards):
    spec = SPECS["qwen2.5-untied"]
    write_checkpoint(spec, tmp_path, fmt="bin", shards=shards)
    loc = locate_in_directory(tmp_path)
    assert (loc.key, loc.fmt, loc.shape) == (spec.head, "bin", spec.tensors[spec.head])
    assert loc.byte_range is None and loc.nbytes is None
    expected = "pytorch_model.bin" if shards == 1 else head_shard(tmp_path, "bin", spec.head)
    assert Path(loc.file).name == expected


def test_safetensors_is_preferred_when_both_formats_are_present(tmp_path):
    spec = SPECS["gpt2"]
    head = write_checkpoint(spec, tmp_path, fmt="safetensors", seed=1)
    write_checkpoint(spec, tmp_path, fmt="bin", seed=2)
    assert locate_in_directory(tmp_path).fmt == "safetensors"
    assert torch.equal(llmgeom.load_unembedding(tmp_path).weight, head)


# ------------------------------------------------------------------------------ tensor override


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_tensor_override_picks_the_named_tensor(tmp_path, fmt, shards):
    spec = SPECS["qwen2.5-untied"]
    write_checkpoint(spec, tmp_path, fmt=fmt, shards=shards)
    expected = make_tensors(spec)["model.embed_tokens.weight"]
    u = llmgeom.load_unembedding(tmp_path, tensor="model.embed_tokens.weight")
    assert torch.equal(u.weight, expected) and u.weight.dtype == torch.bfloat16
    assert u.meta.tensor_name == "model.embed_tokens.weight"
    assert u.meta.extra["head_rule"] == "explicit"
    assert u.meta.family == "qwen2.5" and u.meta.d_model == 16


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_wrong_tensor_name_lists_candidates(tmp_path, fmt, shards):
    spec = SPECS["pythia"]
    write_checkpoint(spec, tmp_path, fmt=fmt, shards=shards)
    with pytest.raises(TensorNotFoundError) as err:
        llmgeom.load_unembedding(tmp_path, tensor="lm_head.weight")
    message = str(err.value)
    assert "'lm_head.weight'" in message
    assert "embed_out.weight" in message and "gpt_neox.embed_in.weight" in message
    assert "\n" not in message


def test_wrong_tensor_name_in_locate(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path)
    with pytest.raises(TensorNotFoundError, match=r"wte\.weight \[96, 16\]"):
        locate_in_directory(tmp_path, tensor="nope.weight")


def test_explicit_tensor_reports_tying_only_for_the_usual_head(tmp_path):
    spec = SPECS["gpt2"]
    write_checkpoint(spec, tmp_path / "g")
    assert llmgeom.load_unembedding(tmp_path / "g", tensor="wte.weight").meta.tied is True
    other = llmgeom.load_unembedding(tmp_path / "g", tensor="wpe.weight").meta
    assert other.tied is None and other.extra["head_rule"] == "explicit"


def test_an_older_safetensors_without_pread_gets_a_copy(tmp_path, monkeypatch):
    """safetensors < 0.8 has no backend argument: the mapped tensor is copied, so the file can
    still be rewritten under a loaded head."""
    real = safetensors.safe_open

    def old_safe_open(filename, framework, **kwargs):
        if kwargs:
            raise TypeError("safe_open() got an unexpected keyword argument 'backend'")
        return real(filename, framework)

    monkeypatch.setattr(safetensors, "safe_open", old_safe_open)
    path, head = _padded_checkpoint(SPECS["gpt2"], tmp_path)
    u = llmgeom.load_unembedding(tmp_path)
    path.write_bytes(b"rewritten")
    assert torch.equal(u.weight, head)
