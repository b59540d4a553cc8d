"""Tiny randomly initialised transformers models of the paper's families (and Llama).

One builder per family, shared by the tests that compare llmgeom's loaders with transformers'
own ``get_output_embeddings()``. Every model has one layer and small widths; sizes are
keyword arguments so a test can build a zoo of different vocabularies and widths.
"""

from __future__ import annotations

from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    GemmaConfig,
    GemmaForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)


def gpt2(vocab: int = 50, width: int = 16) -> GPT2LMHeadModel:
    """GPT-2: tied head (``transformer.wte``)."""
    return GPT2LMHeadModel(
        GPT2Config(vocab_size=vocab, n_embd=width, n_layer=1, n_head=2, n_positions=16)
    )


def pythia(vocab: int = 56, width: int = 16) -> GPTNeoXForCausalLM:
    """Pythia (GPT-NeoX): untied head."""
    return GPTNeoXForCausalLM(
        GPTNeoXConfig(
            vocab_size=vocab,
            hidden_size=width,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=2 * width,
            tie_word_embeddings=False,
            max_position_embeddings=16,
        )
    )


def _one_layer(vocab: int, width: int, **more: object) -> dict[str, object]:
    """The sizes the Llama-like builders share: one layer, 2 heads, 1 key-value head."""
    return {
        "vocab_size": vocab,
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        **more,
    }


def qwen(tied: bool, vocab: int = 64, width: int = 16) -> Qwen2ForCausalLM:
    """Qwen2.5: tied (small models) or untied (7B and up)."""
    return Qwen2ForCausalLM(Qwen2Config(**_one_layer(vocab, width, tie_word_embeddings=tied)))


def opt(vocab: int = 60, width: int = 16, proj_dim: int | None = None) -> OPTForCausalLM:
    """OPT: tied head whose padding row (token 1) is initialised to zero.

    ``proj_dim`` < ``width`` is OPT-350m's layout: embeddings (and so the head) ``proj_dim``
    wide, with ``project_in``/``project_out`` to and from the ``width`` of the layers.
    """
    return OPTForCausalLM(
        OPTConfig(
            vocab_size=vocab,
            hidden_size=width,
            word_embed_proj_dim=proj_dim or width,
            num_hidden_layers=1,
            num_attention_heads=2,
            ffn_dim=2 * width,
            max_position_embeddings=16,
            pad_token_id=1,
        )
    )


def llama(vocab: int = 32, width: int = 8) -> LlamaForCausalLM:
    """Llama: a family outside the paper's four."""
    return LlamaForCausalLM(LlamaConfig(**_one_layer(vocab, width)))


def gemma(vocab: int = 40, width: int = 8) -> GemmaForCausalLM:
    """Gemma: tied head, RMSNorm with the ``(1 + γ)`` convention."""
    return GemmaForCausalLM(GemmaConfig(**_one_layer(vocab, width, head_dim=4)))


def gemma3_multimodal(vocab: int = 300, width: int = 16) -> Gemma3ForConditionalGeneration:
    """Gemma 3 4B-style (``model_type`` ``gemma3``): a text model inside an image-text model,
    its final norm ``model.language_model.norm`` (``language_model.model.norm`` when saved)."""
    text = _one_layer(vocab, width, head_dim=8)
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
    }
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4)
    return Gemma3ForConditionalGeneration(config)
