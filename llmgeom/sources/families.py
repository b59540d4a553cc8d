"""The model families llmgeom knows, as data (no if-chains elsewhere).

The output-embedding tensor of any Hugging Face causal LM is found generically (see
:mod:`llmgeom.sources.head_key`); a family entry only records what the generic rule cannot
know: the family label used in results and fits, and checkpoint key names that differ from the
parameter names of today's ``transformers`` classes.

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
    notes: str = ""


FAMILIES: tuple[Family, ...] = (
    Family(
        "gpt2",
        ("gpt2",),
        notes="tied: the head is wte.weight (transformer.wte.weight in re-saved copies)",
    ),
    Family(
        "opt",
        ("opt",),
        notes="tied: decoder.embed_tokens.weight; OPT-350m's head is word_embed_proj_dim=512 "
        "wide while d_model is 1024 (project_in/project_out)",
    ),
    Family(
        "pythia",
        ("gpt_neox",),
        checkpoint_aliases={"lm_head.weight": ("embed_out.weight", "gpt_neox.embed_out.weight")},
        notes="untied embed_out.weight, with padding rows beyond the tokenizer",
    ),
    Family(
        "qwen2.5",
        ("qwen2",),
        notes="tied model.embed_tokens.weight up to 3B, untied lm_head.weight from 7B",
    ),
)


def family_for_model_type(model_type: str | None) -> Family | None:
    """The family whose ``config.json`` ``model_type`` is ``model_type``, if any."""
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    return None


def family_by_name(name: str) -> Family | None:
    """The family called ``name`` (as in models.csv), if any."""
    for family in FAMILIES:
        if family.name == name:
            return family
    return None
