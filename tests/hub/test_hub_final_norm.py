"""``fold_norm`` on the Hub: the final norm's weight and bias read by HTTP ranges beside the head
(safetensors single and sharded, zip ``.bin``), cached with it, refused where there is none."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import safetensors.torch
import torch
from huggingface_hub import constants

import llmgeom
from llmgeom.errors import ConfigError, NetworkError


def _st(tensors: dict[str, torch.Tensor]) -> bytes:
    return safetensors.torch.save({k: v.contiguous() for k, v in tensors.items()})


def _gpt2_config(vocab: int, width: int) -> bytes:
    config = {"model_type": "gpt2", "vocab_size": vocab, "n_embd": width, "n_layer": 1}
    return json.dumps({**config, "n_head": 2, "n_positions": 32}).encode()


def _gpt2_tensors(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "wte.weight": torch.randn(96, 16, generator=g),
        "h.0.ln_1.weight": torch.rand(16, generator=g),  # a layer's norm: never the final one
        "h.0.mlp.c_fc.weight": torch.randn(16, 1024, generator=g),
        "ln_f.weight": torch.rand(16, generator=g) + 0.5,
        "ln_f.bias": torch.randn(16, generator=g),
    }


def _ranges(fake_hub, filename: str) -> list[tuple[int, int]]:
    out = []
    for r in fake_hub.records:
        if r.path.split("?")[0].endswith(filename) and r.range and r.status == 206:
            start, stop = r.range.removeprefix("bytes=").split("-")
            out.append((int(start), int(stop) + 1))
    return out


def _entry_range(data: bytes, key: str) -> tuple[int, int]:
    at = 8 + int.from_bytes(data[:8], "little")
    begin, end = json.loads(data[8:at])[key]["data_offsets"]
    return at + begin, at + end


def test_safetensors_norm_is_one_range_read_each_and_cached(fake_hub, tmp_path):
    tensors = _gpt2_tensors(21)
    model = _st(tensors)
    repo = "test-org/norm-gpt2"
    fake_hub.add_commit(repo, {"config.json": _gpt2_config(96, 16), "model.safetensors": model})
    result = llmgeom.measure(repo, fold_norm=True, pairs="gram", progress=False)
    wte, gamma, bias = (tensors[k].double() for k in ("wte.weight", "ln_f.weight", "ln_f.bias"))
    expected = llmgeom.measure((wte * gamma).numpy(), pairs="gram", progress=False)
    assert result.mean_cos2 == pytest.approx(expected.mean_cos2, rel=1e-6)
    np.testing.assert_allclose(result.logit_offset, (wte @ bias).numpy(), rtol=1e-6)
    assert (result.final_norm["weight"], result.final_norm["bias"]) == ("ln_f.weight", "ln_f.bias")
    # the weight file: its header, the head and the norm's two vectors; nothing else of it
    header = 8 + int.from_bytes(model[:8], "little")
    wanted = {_entry_range(model, k) for k in ("wte.weight", "ln_f.weight", "ln_f.bias")}
    for start, stop in _ranges(fake_hub, "model.safetensors"):
        assert stop <= header or (start, stop) in wanted
    assert {r for r in _ranges(fake_hub, "model.safetensors") if r[0] >= header} == wanted
    # the second measurement reads head and norm from the cache: no request at all
    fake_hub.reset()
    again = llmgeom.measure(repo, fold_norm=True, pairs="gram", progress=False)
    assert fake_hub.requests == 0 and again.mean_cos2 == result.mean_cos2
    np.testing.assert_array_equal(again.logit_offset, result.logit_offset)


def test_sharded_norm_in_another_shard(fake_hub):
    g = torch.Generator().manual_seed(5)
    head = torch.randn(64, 16, generator=g)
    norm = torch.rand(16, generator=g) + 0.5
    shard1 = {"lm_head.weight": head}
    shard2 = {
        "model.embed_tokens.weight": torch.randn(64, 16, generator=g),
        "model.norm.weight": norm,
    }
    names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    weight_map = {"lm_head.weight": names[0]} | {k: names[1] for k in shard2}
    config = {"model_type": "qwen2", "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1}
    config |= {"num_attention_heads": 2, "intermediate_size": 32, "tie_word_embeddings": False}
    files = {
        "config.json": json.dumps(config).encode(),
        "model.safetensors.index.json": json.dumps({"weight_map": weight_map}).encode(),
        names[0]: _st(shard1),
        names[1]: _st(shard2),
    }
    fake_hub.add_commit("test-org/norm-qwen-sharded", files)
    got = llmgeom.load_unembedding("test-org/norm-qwen-sharded", final_norm=True)
    assert torch.equal(got.final_norm.scale, norm) and got.final_norm.bias is None
    assert got.final_norm.weight_name == "model.norm.weight"


def test_bin_norm_by_zip_ranges(fake_hub):
    g = torch.Generator().manual_seed(9)
    state = {
        "decoder.embed_tokens.weight": torch.randn(80, 16, generator=g).half(),
        "decoder.layers.0.final_layer_norm.weight": torch.rand(16, generator=g).half(),
        "decoder.final_layer_norm.weight": (torch.rand(16, generator=g) + 0.5).half(),
        "decoder.final_layer_norm.bias": torch.randn(16, generator=g).half(),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    config = {"model_type": "opt", "vocab_size": 80, "hidden_size": 16, "ffn_dim": 32}
    config |= {"word_embed_proj_dim": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    files = {"config.json": json.dumps(config).encode(), "pytorch_model.bin": buf.getvalue()}
    fake_hub.add_commit("test-org/norm-opt", files)
    got = llmgeom.load_unembedding("test-org/norm-opt", final_norm=True).final_norm
    assert torch.equal(got.scale, state["decoder.final_layer_norm.weight"].float())
    assert torch.equal(got.bias, state["decoder.final_layer_norm.bias"].float())
    assert got.weight_name == "decoder.final_layer_norm.weight"  # not the layer's own


def test_post_ln_opt_350m_is_refused(fake_hub, tiny):
    with pytest.raises(ConfigError, match="no final norm before the head") as info:
        llmgeom.measure(tiny["opt350"].repo_id, fold_norm=True, pairs="gram", progress=False)
    assert info.value.parameters == ("fold_norm",)


def test_offline_without_a_cached_norm_is_a_network_error(fake_hub, tiny, monkeypatch):
    llmgeom.load_unembedding(tiny["gpt2"].repo_id)  # the head alone is cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NetworkError, match="no final norm"):
        llmgeom.load_unembedding(tiny["gpt2"].repo_id, final_norm=True)
