"""Failures against the fake Hub: each gives a clear typed error and leaves no cache entry."""

from __future__ import annotations

import socket

import pytest
import safetensors.torch
import torch
from conftest import point_hub_at
from hub_repos import GATED_TOKEN
from hub_server import head_files
from huggingface_hub import constants

from llmgeom.errors import (
    CorruptCheckpointError,
    NetworkError,
    SourceNotFoundError,
    UnknownModelError,
)
from llmgeom.sources.hub import cache as hub_cache
from llmgeom.sources.hub import load_hub_unembedding
from llmgeom.sources.hub.http import HubClient, hub_settings


def _on_head(repo, filename="model.safetensors"):
    start, _ = repo.head_range(filename)

    def match(method, path, rng):
        return (
            "/lfs/" in path
            and path.endswith(filename)
            and bool(rng)
            and rng.startswith(f"bytes={start}-")
        )

    return match


def test_missing_repository(fake_hub, tmp_path):
    with pytest.raises(SourceNotFoundError, match=r"no such repository.*HF_TOKEN"):
        load_hub_unembedding("test-org/does-not-exist")
    assert head_files(tmp_path) == [] and fake_hub.requests == 1


def test_unknown_revision(fake_hub, tmp_path):
    with pytest.raises(SourceNotFoundError, match=r"no revision 'step999'"):
        load_hub_unembedding("pythia-70m", revision="step999")
    assert head_files(tmp_path) == []


def test_missing_file(fake_hub, tiny):
    client = HubClient(hub_settings(), "openai-community/gpt2")
    with pytest.raises(SourceNotFoundError, match=r"has no file nope.json"):
        client.get_bytes(tiny["gpt2"].shas["main"], "nope.json")


def test_index_points_to_a_missing_shard(fake_hub, tiny, tmp_path):
    files = dict(tiny["qwen_sharded"].files["main"])
    del files["model-00002-of-00002.safetensors"]
    fake_hub.add_commit("test-org/lost-shard", files)
    with pytest.raises(SourceNotFoundError, match=r"model-00002-of-00002.safetensors"):
        load_hub_unembedding("test-org/lost-shard")
    assert head_files(tmp_path) == []


def test_repository_without_weights(fake_hub, tmp_path):
    fake_hub.add_commit("test-org/no-weights", {"config.json": b"{}", "README.md": b"hi"})
    with pytest.raises(SourceNotFoundError, match=r"no model weights"):
        load_hub_unembedding("test-org/no-weights")


def test_truncated_file_on_the_hub(fake_hub, tiny, tmp_path):
    files = dict(tiny["gpt2"].files["main"])
    data = tiny["gpt2"].files["main"]["model.safetensors"]
    n = int.from_bytes(data[:8], "little")
    files["model.safetensors"] = data[: 8 + n + 64]  # header intact, data cut short
    fake_hub.add_commit("test-org/truncated", files)
    with pytest.raises(CorruptCheckpointError, match=r"truncated file on the Hub"):
        load_hub_unembedding("test-org/truncated")
    assert head_files(tmp_path) == []


def test_malformed_header(fake_hub, tiny, tmp_path):
    files = dict(tiny["gpt2"].files["main"])
    files["model.safetensors"] = (20).to_bytes(8, "little") + b"{not json at all....}" + b"\0" * 64
    fake_hub.add_commit("test-org/garbled", files)
    with pytest.raises(CorruptCheckpointError, match=r"malformed safetensors header"):
        load_hub_unembedding("test-org/garbled")


def test_truncated_response_recovers(fake_hub, tiny, tmp_path):
    repo = tiny["gpt2"]
    fake_hub.add_fault(_on_head(repo), cut=1000, times=1)  # connection drops after 1000 bytes
    u = load_hub_unembedding("gpt2")
    assert torch.equal(u.weight, repo.head)
    resumed = [r.range for r in fake_hub.records if r.server == "cdn" and r.status == 206]
    start, stop = repo.head_range()
    assert f"bytes={start + 1000}-{stop - 1}" in resumed  # resumed where it stopped
    # the 1000 bytes received before the cut are kept, not fetched twice
    assert fake_hub.bytes_for("model.safetensors") == (stop - start) + repo.header_bytes(
        "model.safetensors"
    )


def test_truncated_response_every_time(fake_hub, tiny, tmp_path, fast_sleep):
    start, _ = tiny["gpt2"].head_range()

    def on_head_data(method, path, rng):
        return "/lfs/" in path and bool(rng) and int(rng[6:].split("-")[0]) >= start

    fault = fake_hub.add_fault(on_head_data, cut=0, times=None)  # headers, then nothing
    with pytest.raises(NetworkError, match=r"connection to .* failed for model.safetensors"):
        load_hub_unembedding("gpt2")
    # the streamed try, then http_get's try and its 5 resumes, one second apart (not slept)
    assert fault.hits == 7 and fast_sleep == [1] * 5
    assert head_files(tmp_path) == []


def test_server_error_mid_download_recovers(fake_hub, tiny, tmp_path, fast_sleep):
    repo = tiny["gpt2"]
    fault = fake_hub.add_fault(_on_head(repo), status=500, times=2)
    u = load_hub_unembedding("gpt2")
    assert fault.hits == 2 and torch.equal(u.weight, repo.head)
    assert fast_sleep == [1, 2]  # http_backoff's schedule
    assert len(head_files(tmp_path)) == 3


def test_server_error_permanent(fake_hub, tiny, tmp_path, fast_sleep):
    fault = fake_hub.add_fault(_on_head(tiny["gpt2"]), status=503, times=None)
    with pytest.raises(NetworkError, match=r"HTTP 503 from .* for model.safetensors bytes"):
        load_hub_unembedding("gpt2")
    # bounded: 1 try + 5 retries, waits doubling to the 8 s cap (huggingface_hub's policy)
    assert fault.hits == 6 and fast_sleep == [1, 2, 4, 8, 8]
    assert head_files(tmp_path) == []


def test_api_error_then_recovery(fake_hub, tiny, fast_sleep):
    fake_hub.add_fault(lambda m, p, r: p.startswith("/api/models/"), status=502, times=1)
    assert torch.equal(load_hub_unembedding("gpt2").weight, tiny["gpt2"].head)
    assert fast_sleep == [1]


def test_gated_repository_needs_the_token(fake_hub, tiny, tmp_path, monkeypatch):
    with pytest.raises(SourceNotFoundError, match=r"gated.*set HF_TOKEN"):
        load_hub_unembedding("test-org/gated-gpt2")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(SourceNotFoundError, match=r"HF_TOKEN.*not accepted"):
        load_hub_unembedding("test-org/gated-gpt2")
    assert head_files(tmp_path) == []
    monkeypatch.setenv("HF_TOKEN", GATED_TOKEN)
    fake_hub.reset()
    u = load_hub_unembedding("test-org/gated-gpt2")
    assert torch.equal(u.weight, tiny["gated"].head)
    assert all(r.auth == f"Bearer {GATED_TOKEN}" for r in fake_hub.records if r.server == "hub")


def test_offline_with_cache(fake_hub, tiny, monkeypatch):
    load_hub_unembedding("pythia-70m", revision="step143000")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 at import
    monkeypatch.setenv("LLMGEOM_HUB_REF_TTL", "0")  # offline: any cached resolution is used
    fake_hub.reset()
    u = load_hub_unembedding("pythia-70m", revision="step143000")
    assert fake_hub.requests == 0 and torch.equal(u.weight, tiny["pythia"].heads["step143000"])


def test_offline_without_cache(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 at import
    with pytest.raises(NetworkError, match=r"HF_HUB_OFFLINE=1.*no cached resolution of revision"):
        load_hub_unembedding("gpt2")
    assert fake_hub.requests == 0


def test_offline_names_the_missing_tensor(fake_hub, tiny, monkeypatch):
    load_hub_unembedding("gpt2")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 at import
    fake_hub.reset()
    with pytest.raises(NetworkError, match=r"no cached wpe.weight for commit .* in .*assets"):
        load_hub_unembedding("gpt2", tensor="wpe.weight")
    assert fake_hub.requests == 0


def test_unreachable_endpoint_is_bounded(fake_hub, monkeypatch, tmp_path, fast_sleep):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    point_hub_at(monkeypatch, f"http://127.0.0.1:{port}", tmp_path / "hf-home")
    with pytest.raises(NetworkError, match=r"cannot reach http://127.0.0.1:\d+ for revision"):
        load_hub_unembedding("gpt2")
    assert fast_sleep == [1, 2, 4, 8, 8]  # the library's bounded retries, then the error
    assert head_files(tmp_path) == []


def test_no_dns_fails_at_once_without_retries(fake_hub, monkeypatch, tmp_path, fast_sleep):
    # a host name that never resolves (RFC 2606 .invalid): a machine without network
    point_hub_at(monkeypatch, "https://no-such-host.invalid", tmp_path / "hf-home")
    with pytest.raises(NetworkError, match=r"host name does not resolve"):
        load_hub_unembedding("gpt2")
    assert fast_sleep == []  # no retry schedule for a name that cannot resolve
    assert head_files(tmp_path) == []


def test_no_dns_still_uses_the_cache(fake_hub, tiny, monkeypatch, tmp_path):
    load_hub_unembedding("pythia-70m", revision="step143000")  # fills the cache
    monkeypatch.setattr(constants, "ENDPOINT", "https://no-such-host.invalid")
    fake_hub.reset()
    u = load_hub_unembedding("pythia-70m", revision="step143000")
    assert fake_hub.requests == 0 and torch.equal(u.weight, tiny["pythia"].heads["step143000"])


def test_interrupted_cache_write_leaves_nothing(fake_hub, tiny, tmp_path, monkeypatch):
    def half_write(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", half_write)
    with pytest.raises(KeyboardInterrupt):
        load_hub_unembedding("gpt2")
    assert head_files(tmp_path) == []


def test_damaged_cache_entry_is_a_miss(fake_hub, tiny, tmp_path, monkeypatch):
    load_hub_unembedding("gpt2")
    [tensor_file] = [p for p in head_files(tmp_path) if p.suffix == ".safetensors"]
    tensor_file.write_bytes(tensor_file.read_bytes()[:-8])  # size no longer matches the sidecar
    fake_hub.reset()
    u = load_hub_unembedding("gpt2")
    assert fake_hub.requests > 0 and torch.equal(u.weight, tiny["gpt2"].head)


def test_unknown_names(fake_hub):
    with pytest.raises(UnknownModelError, match=r"Did you mean pythia-410m"):
        load_hub_unembedding("pythia-410")
    assert fake_hub.requests == 0


def test_bad_ttl_value(fake_hub, monkeypatch):
    monkeypatch.setenv("LLMGEOM_HUB_REF_TTL", "soon")
    from llmgeom.errors import ConfigError

    with pytest.raises(ConfigError, match=r"LLMGEOM_HUB_REF_TTL"):
        hub_cache.ref_ttl_seconds()


def test_saved_tensor_roundtrip_helper():
    # sanity check of the fixture's encoder: bytes decode to the same tensor
    t = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(safetensors.torch.load(safetensors.torch.save({"a": t}))["a"], t)


def test_unwritable_cache_folder_is_a_config_error(fake_hub, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the assets cache should be")
    monkeypatch.setattr(constants, "HF_ASSETS_CACHE", str(blocker))  # as HF_ASSETS_CACHE=...
    from llmgeom.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot create the llmgeom cache folder.*HF_ASSETS"):
        load_hub_unembedding("gpt2")
    assert fake_hub.requests == 0
