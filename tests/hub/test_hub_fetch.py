"""Fetching the head of every family from the local fake Hub: exact matrix, bytes, cache."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from hub_server import cache_files, head_files
from huggingface_hub import constants

from llmgeom.errors import TensorNotFoundError
from llmgeom.sources import load_unembedding
from llmgeom.sources.hub import WholeFileDownloadWarning, load_hub_unembedding

SAFETENSORS = {  # short name -> (weight files whose header is read, head file)
    "gpt2": (["model.safetensors"], "model.safetensors"),
    "pythia": (["model.safetensors"], "model.safetensors"),
    "qwen_tied": (["model.safetensors"], "model.safetensors"),
    "qwen_sharded": (["model-00002-of-00002.safetensors"], "model-00002-of-00002.safetensors"),
}
BIN = {
    "opt": "pytorch_model.bin",
    "opt350": "pytorch_model.bin",
    "opt_sharded": "pytorch_model-00001-of-00002.bin",
}
EXPECTED = {  # short name -> (family, tied, d_model)
    "gpt2": ("gpt2", True, 16),
    "pythia": ("pythia", False, 16),
    "qwen_tied": ("qwen2.5", True, 16),
    "qwen_sharded": ("qwen2.5", False, 16),
    "opt": ("opt", True, 16),
    "opt350": ("opt", True, 16),
    "opt_sharded": ("opt", True, 16),
}


def _small_json_bytes(repo, ref="main") -> int:
    files = repo.files[ref]
    return sum(len(files[f]) for f in files if f.endswith(".json") and f != "tokenizer.json")


@pytest.mark.parametrize("name", sorted(SAFETENSORS))
def test_safetensors_head_only(fake_hub, tiny, name, tmp_path):
    repo = tiny[name]
    u = load_hub_unembedding(repo.repo_id)
    assert torch.equal(u.weight, repo.head) and u.weight.dtype == repo.head.dtype
    family, tied, d_model = EXPECTED[name]
    meta = u.meta
    assert (meta.family, meta.tied, meta.d_model) == (family, tied, d_model)
    assert meta.tensor_name == repo.key and meta.source_kind == "hub"
    assert meta.repo_id == repo.repo_id and meta.revision == "main"
    assert meta.commit_sha == repo.shas["main"]
    headers_read, head_file = SAFETENSORS[name]
    assert meta.file == head_file
    # bytes served: the head + the header(s), nothing else of the weight files ...
    head_bytes = repo.head.numel() * repo.head.element_size()
    header_bytes = sum(repo.header_bytes(f) for f in headers_read)
    weight_files = [f for f in repo.files["main"] if f.endswith(".safetensors")]
    weights_served = sum(fake_hub.bytes_for(f) for f in weight_files)
    assert weights_served == head_bytes + header_bytes
    file_size = len(repo.files["main"][head_file])
    assert weights_served < file_size or name == "qwen_sharded"  # that shard is little but the head
    # ... plus the API answer and config/index (no tokenizer for a paper model)
    api_bytes = sum(r.sent for r in fake_hub.records if r.path.startswith("/api/models/"))
    assert fake_hub.bytes_sent == weights_served + _small_json_bytes(repo) + api_bytes
    assert fake_hub.bytes_sent == meta.extra["hub"]["bytes_transferred"]
    assert not any("tokenizer" in r.path for r in fake_hub.records)
    # every ranged read of a weight file stays inside the header or the head's byte range
    start, stop = meta.extra["hub"]["byte_range"]
    for record in fake_hub.records:
        if record.server == "cdn":
            lo, hi = (int(x) for x in record.range.removeprefix("bytes=").split("-"))
            assert hi < repo.header_bytes(head_file) or (lo >= start and hi < stop), record
    # a second call is served by the cache: zero requests
    fake_hub.reset()
    again = load_hub_unembedding(repo.repo_id)
    assert fake_hub.requests == 0
    assert torch.equal(again.weight, repo.head) and again.meta.commit_sha == repo.shas["main"]
    assert again.meta.extra["hub"]["cache"] == "hit" and again.meta.sha256 == meta.sha256
    assert len(head_files(tmp_path)) == 3  # tensor file, sidecar, auto.json


@pytest.mark.parametrize("name", sorted(BIN))
def test_bin_repo_reads_one_shard_by_ranges(fake_hub, tiny, name, tmp_path):
    # zip-format .bin shards are read by HTTP ranges (central directory, data.pkl, head), no
    # whole-file download and no warning; tests/hub/test_hub_bin_ranges.py checks the byte counts
    repo = tiny[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", WholeFileDownloadWarning)
        u = load_hub_unembedding(repo.repo_id)
    assert torch.equal(u.weight, repo.head) and u.weight.dtype == torch.float16
    assert (u.meta.family, u.meta.tied, u.meta.d_model) == EXPECTED[name]
    assert u.meta.tensor_name == "decoder.embed_tokens.weight"
    shard = BIN[name]
    assert u.meta.file == shard and not u.meta.extra["hub"]["whole_file_downloaded"]
    served = {r.path.rsplit("/", 1)[-1] for r in fake_hub.records if r.server == "cdn"}
    assert served == {shard}  # never the other shard
    assert all(r.range for r in fake_hub.records if r.server == "cdn")  # ranged requests only
    assert 0 < fake_hub.bytes_for(shard) <= len(repo.files["main"][shard])
    assert fake_hub.bytes_sent == u.meta.extra["hub"]["bytes_transferred"]
    # nothing in the Hugging Face file cache; the head is in llmgeom's cache
    assert not list((tmp_path / "hf-home" / "hub").glob(f"models--*/snapshots/*/{shard}"))
    fake_hub.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_hub_unembedding(repo.repo_id)
    assert fake_hub.requests == 0 and torch.equal(again.weight, repo.head)


def test_safetensors_conversion_revision_avoids_the_whole_file(fake_hub, tiny, tmp_path):
    repo = tiny["opt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no whole-file warning
        u = load_hub_unembedding("opt-125m", revision="refs/pr/1")
    assert torch.equal(u.weight, repo.head) and u.meta.commit_sha == repo.shas["refs/pr/1"]
    assert fake_hub.bytes_for("model.safetensors") == (
        repo.head.numel() * 2 + repo.header_bytes("model.safetensors", "refs/pr/1")
    )
    assert not any(r.path.endswith(".bin") for r in fake_hub.records)
    refs = tmp_path / "hf-home/assets/llmgeom/facebook--opt-125m/refs"
    assert (refs / "refs%2Fpr%2F1.json").is_file()


def test_opt350_projection_layout(fake_hub, tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error", WholeFileDownloadWarning)  # read by ranges now
        u = load_hub_unembedding("opt-350m")
    assert u.shape == (80, 8) and u.meta.d_model == 16  # head 8 wide, model 16 wide


def test_aliases_resolve_to_registry_repos(fake_hub, tiny):
    u = load_hub_unembedding("qwen2.5-7b")
    assert u.meta.repo_id == "Qwen/Qwen2.5-7B" and u.meta.tensor_name == "lm_head.weight"
    assert torch.equal(u.weight, tiny["qwen_sharded"].head)
    # tiny stand-ins do not have the registry's head shape: its tokenizer length is not trusted
    assert u.meta.tokenizer_len is None


def test_revisions_branch_tag_commit(fake_hub, tiny):
    repo = tiny["pythia"]
    for ref in ("main", "step143000", "step1000"):
        u = load_hub_unembedding("pythia-70m", revision=ref)
        assert torch.equal(u.weight, repo.heads[ref]), ref
        assert u.meta.commit_sha == repo.shas[ref] and u.meta.revision == ref
    u = load_hub_unembedding(f"EleutherAI/pythia-70m@{repo.shas['step1000']}")
    assert torch.equal(u.weight, repo.heads["step1000"])
    fake_hub.reset()
    for ref in ("step143000", repo.shas["step1000"]):
        again = load_hub_unembedding("pythia-70m", revision=ref)
        assert torch.equal(again.weight, repo.heads.get(ref, repo.heads["step1000"]))
    assert fake_hub.requests == 0


def test_branch_resolution_ttl(fake_hub, tiny, monkeypatch):
    """A cached branch is reused for LLMGEOM_HUB_REF_TTL seconds; 0: one API call, no data."""
    repo = tiny["gpt2"]
    load_hub_unembedding("gpt2")
    monkeypatch.setenv("LLMGEOM_HUB_REF_TTL", "0")
    fake_hub.reset()
    u = load_hub_unembedding("gpt2")
    assert [r.path.split("?")[0] for r in fake_hub.records] == [
        "/api/models/openai-community/gpt2/revision/main"
    ]
    assert u.meta.extra["hub"]["cache"] == "hit" and torch.equal(u.weight, repo.head)


def test_moved_branch_downloads_the_new_commit(fake_hub, tiny, monkeypatch):
    files = dict(tiny["pythia"].files["main"])
    fake_hub.add_commit("test-org/moving", files)
    first = load_hub_unembedding("test-org/moving")
    newer = dict(tiny["pythia"].files["step1000"])
    sha = fake_hub.add_commit("test-org/moving", newer)  # main moves on
    monkeypatch.setenv("LLMGEOM_HUB_REF_TTL", "0")
    second = load_hub_unembedding("test-org/moving")
    assert second.meta.commit_sha == sha != first.meta.commit_sha
    assert torch.equal(second.weight, tiny["pythia"].heads["step1000"])


def test_tokenizer_length_for_other_repos(fake_hub, tiny):
    u = load_hub_unembedding("test-org/tiny-pythia")
    assert u.meta.tokenizer_len == 66 and u.shape == (72, 16)  # padded rows beyond the tokenizer
    tokenizer = tiny["pythia_other"].files["main"]["tokenizer.json"]
    assert fake_hub.bytes_for("tokenizer.json") == len(tokenizer)
    fake_hub.reset()
    v = load_hub_unembedding("test-org/tiny-pythia", revision="step1000", tokenizer=False)
    assert v.meta.tokenizer_len is None
    assert not any("tokenizer" in r.path for r in fake_hub.records)


def test_explicit_tensor_and_wrong_name(fake_hub, tiny, tmp_path):
    u = load_hub_unembedding("pythia-70m", tensor="gpt_neox.embed_in.weight")
    assert u.meta.tensor_name == "gpt_neox.embed_in.weight" and u.shape == (72, 16)
    assert not torch.equal(u.weight, tiny["pythia"].head)
    v = load_hub_unembedding("pythia-70m")  # the default head is cached separately
    assert torch.equal(v.weight, tiny["pythia"].head)
    with pytest.raises(TensorNotFoundError, match=r"no_such.weight"):
        load_hub_unembedding("pythia-70m", tensor="no_such.weight")
    names = sorted(p.name for p in head_files(tmp_path))
    assert names == [
        "auto.json",
        "embed_out.weight.json",
        "embed_out.weight.safetensors",
        "gpt_neox.embed_in.weight.json",
        "gpt_neox.embed_in.weight.safetensors",
    ]


def test_token_sent_to_the_hub_not_to_the_cdn(fake_hub, tiny, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abc")
    load_hub_unembedding("gpt2")
    hub_side = [r for r in fake_hub.records if r.server == "hub"]
    assert hub_side and all(r.auth == "Bearer hf_abc" for r in hub_side)
    assert all(r.auth is None for r in fake_hub.records if r.server == "cdn")


def test_cache_layout_under_hf_home(fake_hub, tiny, tmp_path):
    u = load_hub_unembedding("gpt2")
    sha = tiny["gpt2"].shas["main"]
    base = tmp_path / "hf-home" / "assets" / "llmgeom" / "openai-community--gpt2"
    assert (base / sha / "wte.weight.safetensors").is_file()
    side = json.loads((base / sha / "wte.weight.json").read_text())
    assert side["meta"]["commit_sha"] == sha and side["meta"]["sha256"] == u.meta.sha256
    assert json.loads((base / "refs" / "main.json").read_text())["sha"] == sha
    assert all(str(p).startswith(str(tmp_path)) for p in cache_files(tmp_path))


def test_hf_assets_cache_overrides(fake_hub, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_ASSETS_CACHE", str(tmp_path / "assets-elsewhere"))
    load_hub_unembedding("gpt2")
    assert list((tmp_path / "assets-elsewhere" / "llmgeom").rglob("wte.weight.safetensors"))


def test_load_unembedding_dispatches_to_the_hub(fake_hub, tiny):
    u = load_unembedding("qwen2.5-0.5b")
    assert torch.equal(u.weight, tiny["qwen_tied"].head)
    assert u.meta.tensor_name == "model.embed_tokens.weight" and u.meta.tied is True
