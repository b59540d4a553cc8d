"""The model families llmgeom knows, as data: what the generic head rule (:mod:`.head_key`)
cannot know, the label used in results and fits and checkpoint names that differ from today's
``transformers`` parameter names.

Example:
    >>> family_for_model_type("gpt_neox").name
    'pythia'
    >>> family_for_model_type("llama") is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    """A model family: its ``config.json`` model types and checkpoint-name quirks."""

    name: str
    model_types: tuple[str, ...]
    # parameter name in transformers -> other names the same tensor has in Hub checkpoints
    checkpoint_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)


FAMILIES: tuple[Family, ...] = (
    Family("gpt2", ("gpt2",)),  # tied wte.weight (transformer.wte.weight in re-saved copies)
    Family("opt", ("opt",)),  # tied; OPT-350m's head is 512 wide while its d_model is 1024
    # untied embed_out.weight, with padding rows beyond the tokenizer
    Family(
        "pythia",
        ("gpt_neox",),
        {"lm_head.weight": ("embed_out.weight", "gpt_neox.embed_out.weight")},
    ),
    Family("qwen2.5", ("qwen2",)),  # tied up to 3B, untied lm_head.weight from 7B
)


def family_for_model_type(model_type: str | None) -> Family | None:
    """The family whose ``config.json`` ``model_type`` is ``model_type``, if any."""
    return next((f for f in FAMILIES if model_type in f.model_types), None)
