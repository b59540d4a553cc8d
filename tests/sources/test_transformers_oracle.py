"""transformers itself decides which tensor is the head: ``get_output_embeddings().weight``.

Each family's tiny model (``tests/tiny_models.py``, random weights) is saved with
``save_pretrained`` (safetensors) and as a ``.bin`` state dict, then read back by llmgeom as a
directory and as a single file: the matrix must be bit-identical to the model's own output
embedding, and tying, width and family must agree with the model object.
"""

from __future__ import annotations

import pytest
import tiny_models
import torch
import transformers

import llmgeom

# name: (builder, llmgeom family)
FAMILIES = {
    "gpt2": (tiny_models.gpt2, "gpt2"),
    "pythia": (tiny_models.pythia, "pythia"),
    "qwen2-tied": (lambda: tiny_models.qwen(True), "qwen2.5"),
    "qwen2-untied": (lambda: tiny_models.qwen(False), "qwen2.5"),
    "opt": (tiny_models.opt, "opt"),
    "opt-350m": (lambda: tiny_models.opt(width=16, proj_dim=8), "opt"),
    "llama": (tiny_models.llama, "llama"),  # outside the registry: its model type
}


@pytest.fixture(autouse=True)
def _quiet():
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    yield
    transformers.utils.logging.enable_progress_bar()
    transformers.logging.set_verbosity_warning()


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_head_is_the_models_output_embedding(tmp_path, name, fmt):
    build, family = FAMILIES[name]
    torch.manual_seed(0)
    model = build().eval()
    oracle = model.get_output_embeddings().weight.detach()
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    model.save_pretrained(tmp_path)
    weight_file = tmp_path / "model.safetensors"
    if fmt == "bin":  # what save_pretrained(safe_serialization=False) wrote before v5
        torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
        weight_file.unlink()
        weight_file = tmp_path / "pytorch_model.bin"

    for source in (tmp_path, weight_file):
        u = llmgeom.load_unembedding(source)
        assert u.weight.dtype == oracle.dtype and torch.equal(u.weight, oracle)
        assert u.meta.tied is tied
        assert u.meta.d_model == model.config.get_text_config().hidden_size
        assert u.meta.head_width == oracle.shape[1]
        assert u.meta.family == family
        assert u.meta.extra["format"] == fmt


def test_opt_350m_head_is_narrower_than_the_model():
    """The oracle itself: OPT-350m's tied head is word_embed_proj_dim wide, not hidden_size."""
    model = tiny_models.opt(width=16, proj_dim=8)
    assert tuple(model.get_output_embeddings().weight.shape) == (60, 8)
    assert model.model.decoder.project_out is not None
