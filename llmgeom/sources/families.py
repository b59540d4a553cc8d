"""The model families llmgeom knows, as data: what the generic head rule (:mod:`.head_key`)
cannot know, the label used in results and fits and checkpoint names that differ from today's
``transformers`` parameter names.

One family rule for every entry point (``measure``, ``loss``, the fits): :func:`family_label`
is the registered family's name, else the model type itself (``llama``), else None (unknown:
the fits then give the model a group of its own, never a shared one).

Example:
    >>> family_for_model_type("gpt_neox").name
    'pythia'
    >>> family_for_model_type("llama") is None
    True
    >>> family_label("gpt_neox"), family_label("llama"), family_label(None)
    ('pythia', 'llama', None)
    >>> gguf_model_type("gptneox"), gguf_model_type("llama")
    ('gpt_neox', 'llama')
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


#: GGUF ``general.architecture`` values named unlike ``config.json``'s ``model_type``.
GGUF_ARCHITECTURES = {"gptneox": "gpt_neox"}


def family_for_model_type(model_type: str | None) -> Family | None:
    """The family whose ``config.json`` ``model_type`` is ``model_type``, if any."""
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def gguf_model_type(architecture: str | None) -> str | None:
    """The ``config.json`` model type of a GGUF file's ``general.architecture``."""
    if not architecture:
        return None
    return GGUF_ARCHITECTURES.get(architecture, architecture)


def family_label(model_type: str | None) -> str | None:
    """The family results and fits record for ``model_type`` (a ``config.json`` model type, or
    a GGUF architecture mapped by :func:`gguf_model_type`): the registered family's name, else
    the model type itself, else None."""
    family = family_for_model_type(model_type)
    if family is not None:
        return family.name
    return str(model_type) if model_type else None
