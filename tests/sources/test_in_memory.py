"""In-memory sources: transformers models built from a config, plain modules, tensors, arrays."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models
import torch
from checkpoints import SPECS, write_checkpoint

import llmgeom
from llmgeom.errors import InvalidMatrixError
from llmgeom.geometry.measurement import measure


@pytest.fixture(scope="module")
def gpt2_model():
    torch.manual_seed(0)
    return tiny_models.gpt2().eval()


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def qwen_model(request):
    torch.manual_seed(1)
    return tiny_models.qwen(request.param).eval(), request.param


def test_gpt2_model(gpt2_model):
    expected = gpt2_model.get_output_embeddings().weight
    u = llmgeom.load_unembedding(gpt2_model)
    assert torch.equal(u.weight, expected) and u.weight.dtype == torch.float32
    assert u.meta.source_kind == "module"
    assert u.meta.tied is True
    assert u.meta.d_model == 16
    assert (u.meta.n_rows, u.meta.head_width) == (50, 16)
    assert u.meta.tensor_name in ("transformer.wte.weight", "lm_head.weight")
    assert not u.weight.requires_grad


def test_qwen_model_tied_and_untied(qwen_model):
    model, tied = qwen_model
    expected = model.get_output_embeddings().weight
    u = llmgeom.load_unembedding(model)
    assert torch.equal(u.weight, expected)
    assert u.meta.tied is tied
    assert u.meta.tensor_name == ("model.embed_tokens.weight" if tied else "lm_head.weight")
    assert (u.meta.n_rows, u.meta.head_width, u.meta.d_model) == (64, 16, 16)
    if not tied:
        assert not torch.equal(u.weight, model.get_input_embeddings().weight)


def test_measure_module_matches_direct_computation_and_leaves_weights_alone(qwen_model):
    model, _ = qwen_model
    weight = model.get_output_embeddings().weight
    before = weight.detach().clone()
    report = measure(model, device="cpu", progress=False)
    assert torch.equal(weight.detach(), before)  # never normalised in place
    W = before.double().numpy()
    U = W / (np.linalg.norm(W, axis=1, keepdims=True) + 1e-9)
    C = U @ U.T
    iu = np.triu_indices(len(W), 1)
    assert report.mean_cos2 == pytest.approx(np.mean(C[iu] ** 2), rel=1e-6)
    assert report.mean_abs_cos.value == pytest.approx(np.mean(np.abs(C[iu])), rel=1e-6)
    assert report.model["source_kind"] == "module"


def test_module_without_get_output_embeddings():
    with pytest.raises(InvalidMatrixError, match="Linear has no output embedding"):
        llmgeom.load_unembedding(torch.nn.Linear(4, 10))


def test_module_whose_get_output_embeddings_returns_none():
    from transformers import GPT2Config, GPT2Model

    base = GPT2Model(GPT2Config(vocab_size=20, n_embd=8, n_layer=1, n_head=2, n_positions=8))
    with pytest.raises(InvalidMatrixError, match="GPT2Model"):
        llmgeom.load_unembedding(base)


def test_plain_module_with_custom_head():
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(4, 10, bias=False)

        def get_output_embeddings(self):
            return self.head

    model = Tiny()
    u = llmgeom.load_unembedding(model)
    assert torch.equal(u.weight, model.head.weight)
    assert u.meta.tensor_name == "head.weight" and u.meta.tied is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_tensor_input(dtype):
    t = torch.randn(12, 5).to(dtype)
    u = llmgeom.load_unembedding(t)
    assert torch.equal(u.weight, t) and u.weight.dtype == dtype
    assert u.meta.source_kind == "array" and u.meta.source == "<array>"
    assert u.meta.stored_dtype == str(dtype).removeprefix("torch.")
    assert (u.meta.n_rows, u.meta.head_width) == (12, 5)


def test_numpy_input():
    a = np.random.default_rng(0).standard_normal((12, 5)).astype(np.float32)
    u = llmgeom.load_unembedding(a)
    np.testing.assert_array_equal(u.weight.numpy(), a)
    assert u.meta.stored_dtype == "float32"


def test_measure_does_not_modify_tensor_or_array_inputs():
    t = torch.randn(30, 6) * 3
    a = (np.random.default_rng(1).standard_normal((30, 6)) * 3).astype(np.float32)
    t0, a0 = t.clone(), a.copy()
    measure(t, device="cpu", progress=False)
    measure(a, device="cpu", progress=False)
    assert torch.equal(t, t0)
    np.testing.assert_array_equal(a, a0)


def test_unembedding_is_returned_as_is():
    u = llmgeom.load_unembedding(torch.ones(3, 2))
    assert llmgeom.load_unembedding(u) is u


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), ()])
def test_non_2d_tensor_is_invalid(shape):
    with pytest.raises(InvalidMatrixError, match="2-D"):
        llmgeom.load_unembedding(torch.zeros(shape))
    with pytest.raises(InvalidMatrixError, match="2-D"):
        llmgeom.load_unembedding(np.zeros(shape, dtype=np.float32))


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="int"):
        llmgeom.load_unembedding(42)


def test_measure_does_not_modify_a_loaded_unembedding(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path)
    u = llmgeom.load_unembedding(tmp_path)
    before = u.weight.clone()
    first = measure(u, pairs="gram", device="cpu", progress=False)
    second = measure(u, pairs="gram", device="cpu", progress=False)
    assert torch.equal(u.weight, before)
    assert second.row_norms.mean == pytest.approx(first.row_norms.mean, rel=1e-12)


# --- arguments that do not apply are errors naming the Python parameter, never dropped ---


@pytest.mark.parametrize("obj", [torch.eye(4, 2), np.eye(4, 2)], ids=["tensor", "array"])
@pytest.mark.parametrize("kwargs", [{"revision": "main"}, {"tensor": "lm_head.weight"}])
def test_in_memory_matrix_refuses_revision_and_tensor(obj, kwargs):
    from llmgeom.errors import ConfigError

    name = next(iter(kwargs))
    with pytest.raises(ConfigError, match=rf"^{name}=.* does not apply to an in-memory") as err:
        measure(obj, **kwargs)
    assert "--" not in str(err.value)  # a notebook user never meets a CLI flag


def test_module_refuses_revision(gpt2_model):
    from llmgeom.errors import ConfigError

    with pytest.raises(ConfigError, match="revision='v1' does not apply to an in-memory module"):
        llmgeom.load_unembedding(gpt2_model, revision="v1")


def test_module_tensor_picks_that_parameter(qwen_model):
    model, tied = qwen_model
    oracle = model.get_input_embeddings().weight  # transformers' own accessor
    u = llmgeom.load_unembedding(model, tensor="model.embed_tokens.weight")
    assert torch.equal(u.weight, oracle)
    assert u.meta.tensor_name == "model.embed_tokens.weight"
    assert u.meta.tied is tied
    head = llmgeom.load_unembedding(model, tensor="lm_head.weight")
    assert torch.equal(head.weight, model.get_output_embeddings().weight)


def test_module_tensor_that_is_missing_or_not_a_matrix(gpt2_model):
    from llmgeom.errors import TensorNotFoundError

    with pytest.raises(TensorNotFoundError, match=r"no parameter 'nope'.*transformer\.wte\.weight"):
        llmgeom.load_unembedding(gpt2_model, tensor="nope")
    with pytest.raises(InvalidMatrixError, match="not a matrix"):
        llmgeom.load_unembedding(gpt2_model, tensor="transformer.ln_f.weight")


def test_tokenizer_rows_on_an_in_memory_matrix_names_the_parameter():
    from llmgeom.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^rows='tokenizer' does not apply to an in-memory"):
        measure(torch.eye(4, 2), rows="tokenizer")
