"""One tiny model, every entry point: the same family, tying, width and tensor metadata.

A ``transformers`` model is built from a config (random weights), saved with
``save_pretrained`` and also written as a GGUF file holding the same head; then it is read back
as a directory, a single safetensors file, a ``.bin`` directory, the in-memory module, the GGUF
file, and described by ``llmgeom inspect`` and ``llmgeom.measure``. Everything they say about
the head must agree, and the matrix must be bit-identical.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.torch
import tiny_models
import torch
from checkpoints import write_gguf

import llmgeom
from llmgeom.cli import main
from llmgeom.sources.families import FAMILIES
from llmgeom.sources.tensor_digest import tensor_sha256
from llmgeom.text.lm import model_facts

# name: (builder, GGUF architecture, family, tied)
MODELS = {
    "gpt2": (tiny_models.gpt2, "gpt2", "gpt2", True),
    "pythia": (tiny_models.pythia, "gptneox", "pythia", False),
    "qwen-tied": (lambda: tiny_models.qwen(True), "qwen2", "qwen2.5", True),
    "qwen-untied": (lambda: tiny_models.qwen(False), "qwen2", "qwen2.5", False),
    # outside the registry: its model type (GGUF general.architecture) is its family everywhere
    "llama": (tiny_models.llama, "llama", "llama", False),
}


def _write_gguf(path, arch, model, d_model):
    """The model's embeddings the llama.cpp way: token_embd, plus output when untied."""
    emb = model.get_input_embeddings().weight
    tensors = {"token_embd.weight": (np.ascontiguousarray(emb.detach().numpy()), None)}
    head = model.get_output_embeddings().weight
    if head is not emb:
        tensors["output.weight"] = (np.ascontiguousarray(head.detach().numpy()), None)
    return write_gguf(path, arch, tensors, d_model)


def _inspect(capsys, path):
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["location"]


def _same_tensor_name(a: str, b: str, family: str) -> bool:
    """Equal, or one is the other's checkpoint alias (Pythia's embed_out vs lm_head)."""
    if a == b:
        return True
    aliases = next(f for f in FAMILIES if f.name == family).checkpoint_aliases
    return any({a, b} <= {name, *alts} for name, alts in aliases.items())


@pytest.mark.parametrize("name", list(MODELS))
def test_every_entry_point_reports_the_same_head(tmp_path, capsys, name):
    build, arch, family, tied = MODELS[name]
    torch.manual_seed(0)
    model = build()
    model.eval()
    d_model = model.config.get_text_config().hidden_size
    expected = model.get_output_embeddings().weight.detach().clone()
    model.save_pretrained(tmp_path / "st")
    # the same checkpoint as a PyTorch pickle (today's transformers only saves safetensors)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_bytes((tmp_path / "st" / "config.json").read_bytes())
    state = safetensors.torch.load_file(tmp_path / "st" / "model.safetensors")
    torch.save(state, tmp_path / "bin" / "pytorch_model.bin")
    gguf_path = _write_gguf(tmp_path / "m.gguf", arch, model, d_model)

    sources = {
        "module": model,
        "dir": tmp_path / "st",
        "file": tmp_path / "st" / "model.safetensors",
        "bin-dir": tmp_path / "bin",
        "gguf": gguf_path,
    }
    metas = {kind: llmgeom.load_unembedding(src).meta for kind, src in sources.items()}
    weights = {kind: llmgeom.load_unembedding(src).weight for kind, src in sources.items()}

    for kind, meta in metas.items():
        assert (kind, meta.family, meta.tied, meta.d_model) == (kind, family, tied, d_model)
        assert (meta.n_rows, meta.head_width) == tuple(expected.shape), kind
        assert torch.equal(weights[kind], expected), kind
        assert tensor_sha256(weights[kind]) == tensor_sha256(expected), kind
    checkpoint_names = {k: m.tensor_name for k, m in metas.items() if k != "gguf"}
    for kind, tensor_name in checkpoint_names.items():
        assert _same_tensor_name(tensor_name, checkpoint_names["module"], family), (
            kind,
            tensor_name,
            checkpoint_names["module"],
        )
    assert metas["gguf"].tensor_name == ("token_embd.weight" if tied else "output.weight")

    # `llmgeom inspect` says what loading says, for files, directories and GGUF alike
    for kind in ("dir", "file", "gguf"):
        loc = _inspect(capsys, sources[kind])
        choice = loc["choice"]
        assert (choice["family"], choice["tied"], choice["d_model"]) == (family, tied, d_model)
        assert loc["key"] == metas[kind].tensor_name and loc["shape"] == list(expected.shape)

    # `llmgeom.measure` of the in-memory model records what the CLI records for the directory
    report = llmgeom.measure(model, pairs="gram", device="cpu", progress=False)
    from_dir = llmgeom.measure(tmp_path / "st", pairs="gram", device="cpu", progress=False)
    for field in ("family", "tied", "d_model", "n_rows", "head_width", "sha256"):
        assert report.model[field] == from_dir.model[field], field
    assert report.mean_cos2 == from_dir.mean_cos2
    # `llmgeom loss` records the family of the model it loads by the same rule
    vocabulary = list(range(model.get_input_embeddings().weight.shape[0]))
    assert model_facts(model, vocabulary)["family"] == family


def test_module_without_input_embeddings_takes_tying_from_its_config():
    class Config:
        model_type = "gpt2"
        tie_word_embeddings = False
        hidden_size = 4

    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = Config()
            self.head = torch.nn.Linear(4, 10, bias=False)

        def get_output_embeddings(self):
            return self.head

    meta = llmgeom.load_unembedding(Bare()).meta
    assert (meta.family, meta.tied, meta.d_model, meta.tensor_name) == (
        "gpt2",
        False,
        4,
        "head.weight",
    )


def test_module_of_an_unregistered_model_type_has_that_type_as_family():
    meta = llmgeom.load_unembedding(tiny_models.llama(vocab=32, width=8)).meta
    assert meta.family == "llama" and meta.extra["model_type"] == "llama"
    assert meta.tied is False and meta.tensor_name == "lm_head.weight" and meta.d_model == 8
