"""The paper-model registry and name resolution (no network)."""

from __future__ import annotations

import pytest

from llmgeom.errors import ConfigError, UnknownModelError
from llmgeom.sources.hub import _registry_tokenizer_len, resolve_name
from llmgeom.sources.registry import alias_for, lookup, registry_models, suggest


def test_registry_has_the_27_models_with_distinct_aliases():
    models = registry_models()
    assert len(models) == 27
    assert len({m.alias for m in models}) == 27
    families = {m.family for m in models}
    assert families == {"opt", "qwen2.5", "gpt2", "pythia"}
    assert sum(m.fmt == "bin" for m in models) == 8  # every OPT main branch


@pytest.mark.parametrize(
    ("alias", "hub_id"),
    [
        ("gpt2", "openai-community/gpt2"),
        ("gpt2-xl", "openai-community/gpt2-xl"),
        ("pythia-410m", "EleutherAI/pythia-410m"),
        ("opt-350m", "facebook/opt-350m"),
        ("qwen2.5-7b", "Qwen/Qwen2.5-7B"),
        ("Qwen2.5-72B", "Qwen/Qwen2.5-72B"),
    ],
)
def test_aliases(alias, hub_id):
    assert lookup(alias).hub_id == hub_id
    assert lookup(hub_id).alias == alias_for(hub_id)
    assert resolve_name(alias).repo_id == hub_id


def test_registry_rows():
    opt350 = lookup("opt-350m")
    assert opt350.head_shape == (50272, 512) and opt350.d_model == 1024 and opt350.tied
    assert opt350.head_keys == ("decoder.embed_tokens.weight", "model.decoder.embed_tokens.weight")
    assert opt350.fmt == "bin" and not opt350.sharded
    assert lookup("opt-66b").head_keys[0] == "decoder.embed_tokens.weight"
    q7 = lookup("qwen2.5-7b")
    assert (q7.tied, q7.head_keys, q7.sharded, q7.fmt) == (
        False,
        ("lm_head.weight",),
        True,
        "safetensors",
    )
    assert lookup("gpt2").head_keys == ("wte.weight", "transformer.wte.weight")


def test_resolve_name_forms():
    assert resolve_name("EleutherAI/pythia-70m@step143000").revision == "step143000"
    assert resolve_name("hf://EleutherAI/pythia-70m").alias == "pythia-70m"
    assert resolve_name("https://huggingface.co/Qwen/Qwen2.5-7B").repo_id == "Qwen/Qwen2.5-7B"
    other = resolve_name("some-org/some-model", revision="refs/pr/3")
    assert (other.repo_id, other.revision, other.alias, other.model) == (
        "some-org/some-model",
        "refs/pr/3",
        None,
        None,
    )
    assert resolve_name("gpt2@main", revision="main").revision == "main"
    with pytest.raises(ConfigError, match="names revision"):
        resolve_name("gpt2@v1", revision="v2")
    for bad in ("not a model", "a/b/c", "../etc", "org/..", "plainname"):
        with pytest.raises(UnknownModelError, match="llmgeom models"):
            resolve_name(bad)


def test_suggestions():
    assert suggest("gpt2-x")[0] == "gpt2-xl"
    assert suggest("qwen2.5-7")[0] == "qwen2.5-7b"
    assert suggest("zzzzzz") == []


def test_registry_tokenizer_length_only_for_the_registry_shape():
    pythia = lookup("pythia-70m")
    assert _registry_tokenizer_len(pythia, (50304, 512)) == 50277
    assert _registry_tokenizer_len(pythia, (72, 16)) is None
    assert _registry_tokenizer_len(None, (50304, 512)) is None
