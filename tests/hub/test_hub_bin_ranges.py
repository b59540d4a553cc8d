"""``.bin`` heads read by HTTP ranges (zip central directory, data.pkl, head) from the fake Hub.

The shared tiny OPT repositories fit in one 64 kB block; the repositories made here are bigger
(a 128 kB head in a 2.3 MB shard), or the block size is shrunk, so the byte counts mean something.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import warnings
import zipfile

import pytest
import torch
from hub_server import head_files

from llmgeom.cli import main
from llmgeom.errors import CorruptCheckpointError, NetworkError
from llmgeom.sources.formats import range_file
from llmgeom.sources.formats.torch_zip import index_zip_checkpoint
from llmgeom.sources.hub import WholeFileDownloadWarning, load_hub_unembedding

HEAD = "decoder.embed_tokens.weight"
BLOCK = range_file.BLOCK_BYTES


def _opt_config(vocab: int, width: int) -> bytes:
    return json.dumps(
        {
            "model_type": "opt",
            "architectures": ["OPTForCausalLM"],
            "vocab_size": vocab,
            "hidden_size": width,
            "word_embed_proj_dim": width,
            "ffn_dim": 4 * width,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "torch_dtype": "float16",
        }
    ).encode()


def _saved(obj: object, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def _big_opt(seed: int = 11) -> tuple[dict[str, torch.Tensor], bytes]:
    g = torch.Generator().manual_seed(seed)
    state = {
        HEAD: torch.randn(2048, 32, generator=g).half(),  # 128 KiB
        "decoder.embed_positions.weight": torch.randn(34, 32, generator=g).half(),
        "decoder.layers.0.fc1.weight": torch.randn(128, 8192, generator=g).half(),  # 2 MiB
        "decoder.final_layer_norm.weight": torch.ones(32).half(),
    }
    return state, _saved(state)


def _add(fake_hub, repo_id: str, shard: bytes, vocab: int = 2048, width: int = 32) -> str:
    return fake_hub.add_commit(
        repo_id, {"config.json": _opt_config(vocab, width), "pytorch_model.bin": shard}
    )


def _plan(shard: bytes):
    return index_zip_checkpoint(io.BytesIO(shard)).plan(HEAD)


def _cdn(fake_hub):
    return [r for r in fake_hub.records if r.server == "cdn"]


def test_big_shard_costs_head_plus_metadata(fake_hub, tmp_path):
    state, shard = _big_opt()
    sha = _add(fake_hub, "test-org/opt-ranges", shard)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WholeFileDownloadWarning)
        u = load_hub_unembedding("test-org/opt-ranges")
    head = state[HEAD]
    assert torch.equal(u.weight, head) and u.weight.dtype == torch.float16
    assert u.meta.tensor_name == HEAD and u.meta.commit_sha == sha and u.meta.family == "opt"
    hub = u.meta.extra["hub"]
    assert not hub["whole_file_downloaded"] and hub["bytes_transferred"] == fake_hub.bytes_sent
    start, stop = hub["byte_range"]
    assert shard[start:stop] == head.view(torch.uint8).numpy().tobytes()
    served = fake_hub.bytes_for("pytorch_model.bin")
    head_bytes = head.numel() * 2
    # head + central directory + data.pkl + block rounding: far less than the 2.3 MB shard
    assert head_bytes < served <= head_bytes + 4 * BLOCK and served < len(shard) / 5
    assert all(r.range for r in _cdn(fake_hub))  # ranged requests only
    assert not list((tmp_path / "hf-home" / "hub").rglob("pytorch_model.bin"))
    # the second call is served by llmgeom's cache
    fake_hub.reset()
    again = load_hub_unembedding("test-org/opt-ranges")
    assert fake_hub.requests == 0 and torch.equal(again.weight, head)
    assert len(head_files(tmp_path)) == 3


@pytest.mark.parametrize("name", ["opt", "opt350", "opt_sharded"])
def test_tiny_repos_cost_metadata_and_head_only(fake_hub, tiny, name, monkeypatch):
    monkeypatch.setattr(range_file, "BLOCK_BYTES", 256)
    repo = tiny[name]
    u = load_hub_unembedding(repo.repo_id)
    assert torch.equal(u.weight, repo.head)
    shard = u.meta.file
    data = repo.files["main"][shard]
    plan = _plan(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    pkl = next(i for i in archive.infolist() if i.filename.endswith("/data.pkl"))
    eocd = data.rfind(b"PK\x05\x06")
    (cd_size,) = struct.unpack("<I", data[eocd + 12 : eocd + 16])
    needed = plan.nbytes + cd_size + (len(data) - eocd) + pkl.file_size
    served = fake_hub.bytes_for(shard)
    assert needed <= served <= needed + 8 * 256 and served < len(data)
    # no byte of the other tensors' storages beyond block rounding
    keys = {t.storage.key for t in index_zip_checkpoint(io.BytesIO(data)).tensors.values()}
    root = archive.namelist()[0].split("/")[0]
    others = [archive.getinfo(f"{root}/data/{k}") for k in keys if k != plan.key]
    assert others  # the shard holds other storages, which were not read whole
    assert served < len(data) - sum(o.file_size for o in others) + 8 * 256


def test_legacy_bin_falls_back_to_the_whole_file(fake_hub, tmp_path, capsys):
    g = torch.Generator().manual_seed(12)
    state = {
        HEAD: torch.randn(80, 16, generator=g).half(),
        "decoder.layers.0.fc1.weight": torch.randn(64, 16, generator=g).half(),
    }
    shard = _saved(state, _use_new_zipfile_serialization=False)
    _add(fake_hub, "test-org/opt-legacy", shard, vocab=80, width=16)
    assert main(["inspect", "test-org/opt-legacy"]) == 0
    out = capsys.readouterr().out
    assert "the whole pytorch_model.bin" in out and "legacy" in out and "refs/pr/N" in out
    fake_hub.reset()
    with pytest.warns(WholeFileDownloadWarning, match=r"legacy.*whole pytorch_model\.bin"):
        u = load_hub_unembedding("test-org/opt-legacy")
    assert torch.equal(u.weight, state[HEAD]) and u.meta.extra["hub"]["whole_file_downloaded"]
    assert fake_hub.bytes_for("pytorch_model.bin") >= len(shard)
    assert any(r.range is None for r in _cdn(fake_hub))  # hf_hub_download's whole-file GET
    assert list((tmp_path / "hf-home" / "hub").rglob("pytorch_model.bin"))
    fake_hub.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_hub_unembedding("test-org/opt-legacy")
    assert fake_hub.requests == 0 and torch.equal(again.weight, state[HEAD])


def test_server_error_and_cut_during_the_head_range_are_retried(fake_hub, fast_sleep):
    state, shard = _big_opt(seed=13)
    _add(fake_hub, "test-org/opt-flaky", shard)
    plan = _plan(shard)

    def head_range(method, path, rng):
        return path.startswith("/lfs/") and rng == f"bytes={plan.start}-{plan.stop - 1}"

    fake_hub.add_fault(head_range, status=500)  # once: retried
    fake_hub.add_fault(head_range, cut=1000)  # then cut short: resumed at byte start + 1000
    u = load_hub_unembedding("test-org/opt-flaky")
    assert torch.equal(u.weight, state[HEAD])
    ranges = [r.range for r in _cdn(fake_hub)]
    assert ranges.count(f"bytes={plan.start}-{plan.stop - 1}") == 2
    assert f"bytes={plan.start + 1000}-{plan.stop - 1}" in ranges
    assert not u.meta.extra["hub"]["whole_file_downloaded"]


def test_network_failure_while_planning_is_not_a_fallback(fake_hub, fast_sleep):
    _, shard = _big_opt(seed=14)
    _add(fake_hub, "test-org/opt-down", shard)
    fake_hub.add_fault(lambda method, path, rng: path.startswith("/lfs/"), status=503, times=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WholeFileDownloadWarning)
        with pytest.raises(NetworkError, match="503"):
            load_hub_unembedding("test-org/opt-down")
    assert all(r.range for r in _cdn(fake_hub))  # no whole-file download was attempted


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_unsafe_pickle_is_refused_without_downloading_the_file(fake_hub, tmp_path):
    marker = tmp_path / "pwned"
    clean = _saved({HEAD: torch.ones(80, 16).half()})
    root = zipfile.ZipFile(io.BytesIO(clean)).namelist()[0].split("/")[0]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(clean)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == f"{root}/data.pkl":
                body = pickle.dumps({HEAD: _Evil(str(marker))}, protocol=2)
            dst.writestr(info.filename, body)
    _add(fake_hub, "test-org/opt-evil", out.getvalue(), vocab=80, width=16)
    with pytest.raises(CorruptCheckpointError, match="refused"):
        load_hub_unembedding("test-org/opt-evil")
    assert not marker.exists()
    assert all(r.range for r in _cdn(fake_hub))


def test_inspect_big_bin_reports_the_head_range(fake_hub, capsys):
    _, shard = _big_opt(seed=15)
    _add(fake_hub, "test-org/opt-inspect", shard)
    assert main(["inspect", "test-org/opt-inspect", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    loc = report["location"]
    plan = _plan(shard)
    assert loc["fmt"] == "bin" and loc["key"] == HEAD and loc["shape"] == [2048, 32]
    assert loc["dtype"] == "float16" and loc["byte_range"] == [plan.start, plan.stop]
    assert report["download_bytes"] == plan.nbytes
    assert fake_hub.bytes_for("pytorch_model.bin") <= 3 * BLOCK < len(shard) / 5
