"""The folded head (``fold_norm``) against transformers' own logits, for every family's final
norm (LayerNorm with bias, RMSNorm, Gemma's ``1 + γ``), from modules, saved checkpoints (single,
sharded, ``.bin``) and GGUF files; and the refusals where no norm applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.errors import ConfigError
from llmgeom.geometry.fold import fold_final_norm
from llmgeom.unembedding import FinalNorm, HeadMetadata, Unembedding
from tests import tiny_models
from tests.checkpoints import write_gguf

# family -> (builder, the final norm module's attribute path)
FAMILIES = {
    "gpt2": (tiny_models.gpt2, "transformer.ln_f"),
    "pythia": (tiny_models.pythia, "gpt_neox.final_layer_norm"),
    "opt": (tiny_models.opt, "model.decoder.final_layer_norm"),
    "qwen2": (lambda: tiny_models.qwen(tied=False), "model.norm"),
    "llama": (tiny_models.llama, "model.norm"),
    "gemma": (tiny_models.gemma, "model.norm"),
    "gemma3": (tiny_models.gemma3_multimodal, "model.language_model.norm"),
}


def _module(model: torch.nn.Module, path: str) -> torch.nn.Module:
    for part in path.split("."):
        model = getattr(model, part)
    return model


def _randomised(family: str, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The model (eval mode, random non-default norm weight and bias) and its final norm."""
    torch.manual_seed(seed)
    build, path = FAMILIES[family]
    model = build().eval()
    norm = _module(model, path)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(norm.weight.shape, generator=gen) * 2 - 0.5)
        if getattr(norm, "bias", None) is not None:
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen))
    return model, norm


def _normalised(h: torch.Tensor, norm: torch.nn.Module) -> torch.Tensor:
    """The final hidden state normalised but not scaled: (h − mean)/std or h/rms, in float64."""
    h = h.to(torch.float64)
    if isinstance(norm, torch.nn.LayerNorm):
        centred = h - h.mean(-1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + norm.eps)
    eps = getattr(norm, "variance_epsilon", None) or norm.eps
    return h / torch.sqrt(h.pow(2).mean(-1, keepdim=True) + eps)


def _logits_and_input(model: torch.nn.Module, norm: torch.nn.Module):
    """The model's own logits and the hidden state entering its final norm."""
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
    ids = torch.tensor([[1, 5, 7, 2, 9, 3]])
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
    hook.remove()
    return out.logits[0].to(torch.float64), seen[-1][0]


def _ours(head: Unembedding, h: torch.Tensor, norm: torch.nn.Module) -> torch.Tensor:
    folded, offset = fold_final_norm(head)
    logits = _normalised(h, norm) @ folded.weight.to(torch.float64).T
    if offset is not None:
        logits = logits + torch.from_numpy(offset)
    return logits


@pytest.mark.parametrize("family", list(FAMILIES))
def test_folded_head_gives_the_models_logits(family):
    model, norm = _randomised(family)
    logits, h = _logits_and_input(model, norm)
    head = llmgeom.load_unembedding(model, final_norm=True)
    assert head.final_norm is not None
    assert (head.final_norm.bias is not None) == (family in ("gpt2", "pythia", "opt"))
    ours = _ours(head, h, norm)
    assert logits.abs().max() > 0.05  # a test that can fail: the logits are not all tiny
    torch.testing.assert_close(ours, logits, rtol=1e-4, atol=1e-6)
    # without folding (the paper's matrix) the logits differ: γ is not all ones
    plain = _normalised(h, norm) @ head.weight.to(torch.float64).T
    assert not torch.allclose(plain, logits, atol=1e-3)


def test_gemma_scale_is_one_plus_weight():
    model, norm = _randomised("gemma")
    got = llmgeom.load_unembedding(model, final_norm=True).final_norm
    torch.testing.assert_close(got.scale, 1 + norm.weight.detach())
    assert got.convention == "1+gamma"


@pytest.mark.parametrize(
    ("family", "save"),
    [
        ("gpt2", {}),
        ("pythia", {"max_shard_size": "2KB"}),
        ("opt", {"safe_serialization": False}),
        ("qwen2", {"max_shard_size": "2KB", "safe_serialization": False}),
        ("llama", {}),
        ("gemma", {}),
        ("gemma3", {}),  # saved as language_model.model.norm.weight
    ],
)
def test_saved_checkpoint_reads_the_same_norm(tmp_path, family, save):
    model, norm = _randomised(family, seed=3)
    model.save_pretrained(tmp_path, **save)
    logits, h = _logits_and_input(model, norm)
    head = llmgeom.load_unembedding(tmp_path, final_norm=True)
    torch.testing.assert_close(_ours(head, h, norm), logits, rtol=1e-4, atol=1e-6)


def test_measure_records_the_folded_matrix(tmp_path):
    model, norm = _randomised("gpt2")
    result = llmgeom.measure(model, fold_norm=True, pairs="gram", progress=False)
    plain = llmgeom.measure(model, pairs="gram", progress=False)
    folded = model.transformer.wte.weight.detach() * norm.weight.detach()
    expected = llmgeom.measure(folded, pairs="gram", progress=False)
    assert result.mean_cos2 == pytest.approx(expected.mean_cos2, rel=1e-6)
    assert result.mean_cos2 != pytest.approx(plain.mean_cos2, rel=1e-3)
    assert result.options["fold_norm"] is True and result.variant == "raw+folded"
    assert result.final_norm["weight"] == "transformer.ln_f.weight"
    assert result.final_norm["bias"] == "transformer.ln_f.bias"
    offset = model.transformer.wte.weight.detach().double() @ norm.bias.detach().double()
    np.testing.assert_allclose(result.logit_offset, offset.numpy(), rtol=1e-12, atol=1e-12)
    assert "logit_offset" not in result.to_json()  # not in the record
    again = llmgeom.MeasureResult.from_dict(result.to_dict())
    assert again.final_norm == result.final_norm and again.logit_offset is None
    assert plain.final_norm is None and plain.logit_offset is None


def test_rmsnorm_has_no_offset():
    model, _ = _randomised("llama")
    result = llmgeom.measure(model, fold_norm=True, pairs="gram", progress=False)
    assert result.logit_offset is None and result.final_norm["bias"] is None


def test_in_memory_matrix_needs_a_norm_of_its_own():
    w = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="fold_norm=True does not apply") as info:
        llmgeom.measure(w, fold_norm=True)
    assert info.value.parameters == ("fold_norm",)
    scale = torch.tensor([1.0, 2.0, 3.0, 4.0])
    norm = FinalNorm(scale, None, "rmsnorm", "mine")
    head = Unembedding(w, HeadMetadata("<array>", "array"), final_norm=norm)
    got = llmgeom.measure(head, fold_norm=True, pairs="gram", progress=False)
    assert got.mean_cos2 == pytest.approx(llmgeom.measure(w * scale, pairs="gram").mean_cos2)


def test_norm_of_another_width_is_refused():
    w = torch.randn(20, 4)
    norm = FinalNorm(torch.ones(5), None, "rmsnorm", "wide")
    head = Unembedding(w, HeadMetadata("<array>", "array"), final_norm=norm)
    with pytest.raises(ConfigError, match="5 entries but the head is 4 wide"):
        llmgeom.measure(head, fold_norm=True)


def test_post_ln_opt_has_no_final_norm(tmp_path):
    model = tiny_models.opt(proj_dim=8)
    model.config.do_layer_norm_before = False  # OPT-350m
    model.save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="no final norm before the head") as info:
        llmgeom.load_unembedding(tmp_path, final_norm=True)
    assert info.value.parameters == ("fold_norm",)


def test_pre_ln_opt_with_project_out_is_refused():
    with pytest.raises(ConfigError, match="16 entries but the head is 8 wide"):
        llmgeom.load_unembedding(tiny_models.opt(proj_dim=8), final_norm=True)


def test_npy_file_has_no_norm(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((4, 2), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"a \.npy file holds the head only"):
        llmgeom.measure(tmp_path / "w.npy", fold_norm=True)


@pytest.mark.parametrize("arch", ["gemma", "gemma3", "gpt2", "llama"])
def test_gguf_output_norm(tmp_path, arch):
    rng = np.random.default_rng(4)
    emb = rng.standard_normal((30, 8)).astype(np.float32)
    stored = rng.uniform(0.5, 2.0, 8).astype(np.float32)  # a Gemma file stores 1 + γ already
    bias = rng.standard_normal(8).astype(np.float32)
    tensors = {"token_embd.weight": (emb, None), "output_norm.weight": (stored, None)}
    if arch == "gpt2":
        tensors["output_norm.bias"] = (bias, None)
    path = write_gguf(tmp_path / "m.gguf", arch, tensors, 8)
    head = llmgeom.load_unembedding(path, final_norm=True)
    norm = head.final_norm
    np.testing.assert_array_equal(norm.scale.numpy(), stored)  # never shifted a second time
    assert norm.kind == ("layernorm" if arch == "gpt2" else "rmsnorm")
    assert norm.convention == ("1+gamma, stored shifted" if "gemma" in arch else "gamma")
    folded, offset = fold_final_norm(head)
    np.testing.assert_allclose(folded.weight.numpy(), emb * stored, rtol=1e-6)
    if arch == "gpt2":
        np.testing.assert_allclose(offset, emb.astype(np.float64) @ bias, rtol=1e-5)
    else:
        assert offset is None
