"""The input embedding beside a head (llmgeom.sources.input_embedding) against transformers' own
``get_input_embeddings()``: modules and saved checkpoints (single, sharded, ``.bin``) of untied
families, None for tied ones, GGUF's ``token_embd``, and the sources that hold the head only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.errors import TensorNotFoundError
from llmgeom.sources.input_embedding import load_input_embedding
from tests import tiny_models
from tests.checkpoints import write_gguf

UNTIED = {
    "pythia": tiny_models.pythia,
    "qwen2": lambda: tiny_models.qwen(tied=False),
    "llama": tiny_models.llama,
}
TIED = {"gpt2": tiny_models.gpt2, "opt": tiny_models.opt, "qwen2": lambda: tiny_models.qwen(True)}


@pytest.mark.parametrize("family", sorted(UNTIED))
@pytest.mark.parametrize(
    "save",
    [{}, {"max_shard_size": "2KB"}, {"safe_serialization": False}],
    ids=["single", "sharded", "bin"],
)
def test_untied_checkpoints_and_modules(tmp_path, family, save):
    torch.manual_seed(0)
    model = UNTIED[family]()
    try:
        model.save_pretrained(tmp_path, **save)
    except TypeError:  # a transformers without safe_serialization: .bin is not offered
        pytest.skip("this transformers saves safetensors only")
    want = model.get_input_embeddings().weight.detach()
    for source in (str(tmp_path), model):
        head = llmgeom.load_unembedding(source)
        found = load_input_embedding(source, head)
        assert found is not None and found.name is not None
        assert found.name.endswith(("embed_in.weight", "embed_tokens.weight"))
        torch.testing.assert_close(found.weight.to(want.dtype), want, rtol=0, atol=0)


@pytest.mark.parametrize("family", sorted(TIED))
def test_tied_heads_have_none(tmp_path, family):
    model = TIED[family]()
    model.save_pretrained(tmp_path)
    for source in (str(tmp_path), model):
        assert load_input_embedding(source, llmgeom.load_unembedding(source)) is None


def test_gguf_token_embd(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((30, 8)).astype(np.float32)
    out = rng.standard_normal((30, 8)).astype(np.float32)
    path = write_gguf(
        tmp_path / "m.gguf",
        "llama",
        {"token_embd.weight": (emb, None), "output.weight": (out, None)},
        8,
    )
    found = load_input_embedding(path, llmgeom.load_unembedding(path))
    np.testing.assert_array_equal(found.weight.numpy(), emb)
    tied = write_gguf(tmp_path / "t.gguf", "llama", {"token_embd.weight": (emb, None)}, 8)
    assert load_input_embedding(tied, llmgeom.load_unembedding(tied)) is None


def test_sources_that_hold_the_head_only(tmp_path):
    W = torch.randn(20, 4)
    with pytest.raises(TensorNotFoundError, match="no input embedding"):
        load_input_embedding(W, llmgeom.load_unembedding(W))
    np.save(tmp_path / "w.npy", W.numpy())
    with pytest.raises(TensorNotFoundError, match="holds the head only"):
        load_input_embedding(tmp_path / "w.npy", llmgeom.load_unembedding(tmp_path / "w.npy"))
