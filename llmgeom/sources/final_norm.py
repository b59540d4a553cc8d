"""The norm right before the head, per family, as data: which tensors hold its weight (and bias),
LayerNorm or RMSNorm, and how the stored weight becomes the scale the model applies.

``logit_j = norm(h) · w_j`` and the final norm multiplies the normalised state by its weight γ
(Gemma: ``1 + γ``) and adds its bias b, so the directions the model uses are ``γ ⊙ w_j`` and
``b · w_j`` is a fixed per-token logit offset (:mod:`llmgeom.geometry.fold`). A checkpoint's
tensor may carry the transformers prefix or not (``transformer.ln_f.weight`` or ``ln_f.weight``);
names are matched exactly, never by suffix (OPT's layers have ``final_layer_norm`` too).

Example:
    >>> rule = norm_rule("gpt2")
    >>> rule.kind, rule.weight, rule.bias
    ('layernorm', 'transformer.ln_f.weight', 'transformer.ln_f.bias')
    >>> keys = ["h.0.ln_1.weight", "ln_f.weight", "ln_f.bias", "wte.weight"]
    >>> choose_norm_keys({"model_type": "gpt2"}, keys, source="ckpt")
    ('ln_f.weight', 'ln_f.bias')
    >>> norm_rule("gemma").shift, GGUF_NORM.weight
    (1.0, 'output_norm.weight')
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from ..options import inapplicable
from ..unembedding import FinalNorm


@dataclass(frozen=True)
class NormRule:
    """A family's final norm: ``kind``, the transformers names of its ``weight`` and ``bias``
    (None: no bias), ``shift`` added to the stored weight (Gemma: 1, its ``(1 + γ)``) and
    ``weight_aliases``, other names the weight has in checkpoints (tried after ``weight``)."""

    kind: str  # "layernorm" | "rmsnorm"
    weight: str
    bias: str | None = None
    shift: float = 0.0
    weight_aliases: tuple[str, ...] = ()


_LLAMA_LIKE = NormRule("rmsnorm", "model.norm.weight")
_GEMMA = NormRule("rmsnorm", "model.norm.weight", shift=1.0)

#: ``config.json`` model type -> its final norm.
NORM_RULES: dict[str, NormRule] = {
    "gpt2": NormRule("layernorm", "transformer.ln_f.weight", "transformer.ln_f.bias"),
    # OPT: pre-LN models only; OPT-350m (do_layer_norm_before=false) has none (refused below)
    "opt": NormRule(
        "layernorm",
        "model.decoder.final_layer_norm.weight",
        "model.decoder.final_layer_norm.bias",
    ),
    "gpt_neox": NormRule(
        "layernorm", "gpt_neox.final_layer_norm.weight", "gpt_neox.final_layer_norm.bias"
    ),
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _GEMMA,
    "gemma2": _GEMMA,
    "gemma3_text": _GEMMA,
    # Gemma 3 4B and up (Gemma3ForConditionalGeneration): the text model's norm is
    # model.language_model.norm in transformers' modules, language_model.model.norm in the Hub
    # checkpoints (and in what save_pretrained writes); GGUF's "gemma3" uses output_norm.
    "gemma3": NormRule(
        "rmsnorm",
        "model.language_model.norm.weight",
        shift=1.0,
        weight_aliases=("language_model.model.norm.weight",),
    ),
}

#: GGUF files name the final norm ``output_norm`` in every architecture. No shift: llama.cpp's
#: ``convert_hf_to_gguf.py`` (ggerganov/llama.cpp, ``GemmaModel.modify_tensors`` and its Gemma 2
#: and 3 siblings: ``if name.endswith("norm.weight"): data_torch = data_torch + 1``) stores a
#: Gemma norm already shifted by one, so the stored weight IS the scale.
GGUF_NORM = NormRule("layernorm", "output_norm.weight", "output_norm.bias")


def norm_rule(model_type: str | None) -> NormRule:
    """The final-norm rule of ``model_type``; a ``ConfigError`` naming ``fold_norm`` for a model
    type with none registered."""
    rule = NORM_RULES.get(model_type or "")
    if rule is None:
        known = ", ".join(sorted(NORM_RULES))
        why = f": no final-norm rule for model type {model_type!r} (known: {known})"
        raise inapplicable("fold_norm", True, why)
    return rule


def _refuse_post_ln_opt(config: Mapping[str, Any] | None, source: str) -> None:
    """OPT-350m applies its last LayerNorm inside the last layer, then ``project_out``: no norm
    sits right before the head."""
    if config and config.get("model_type") == "opt" and not config.get("do_layer_norm_before", 1):
        why = (
            f": {source} has no final norm before the head (OPT with do_layer_norm_before=false, "
            "like OPT-350m: the last layer's output goes through project_out to the head)"
        )
        raise inapplicable("fold_norm", True, why)


def name_forms(name: str) -> tuple[str, ...]:
    """``name`` and its shorter forms without leading prefixes, longest first.

    Example:
        >>> name_forms("model.norm.weight")
        ('model.norm.weight', 'norm.weight')
    """
    parts = name.split(".")
    return tuple(".".join(parts[i:]) for i in range(len(parts) - 1))


def _find(name: str, keys: Collection[str]) -> str | None:
    key_set = set(keys)
    return next((form for form in name_forms(name) if form in key_set), None)


def choose_norm_keys(
    config: Mapping[str, Any] | None, keys: Collection[str], *, source: str
) -> tuple[str, str | None]:
    """The checkpoint names of the final norm's weight and bias (None: the family has none)
    among ``keys``, by the family rule of ``config``'s model type."""
    _refuse_post_ln_opt(config, source)
    rule = norm_rule((config or {}).get("model_type"))
    names = (rule.weight, *rule.weight_aliases)
    weight = next((w for w in (_find(name, keys) for name in names) if w is not None), None)
    if weight is None:
        looked = " or ".join(form for name in names for form in name_forms(name))
        why = f": {source} has no final-norm tensor {looked}"
        raise inapplicable("fold_norm", True, why)
    bias = _find(rule.bias, keys) if rule.bias else None
    return weight, bias


def make_final_norm(
    rule: NormRule,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    names: tuple[str | None, str | None],
    *,
    convention: str | None = None,
) -> FinalNorm:
    """The :class:`FinalNorm` of stored tensors: float32, ``rule.shift`` added to the weight.

    Example:
        >>> names = ("model.norm.weight", None)
        >>> n = make_final_norm(norm_rule("gemma"), torch.zeros(2), None, names)
        >>> n.scale.tolist(), n.convention
        ([1.0, 1.0], '1+gamma')
    """
    scale = weight.detach().to(torch.float32).reshape(-1) + rule.shift
    shifted = "1+gamma" if rule.shift else "gamma"
    return FinalNorm(
        scale=scale,
        bias=None if bias is None else bias.detach().to(torch.float32).reshape(-1),
        kind=rule.kind,
        weight_name=names[0],
        bias_name=names[1],
        convention=convention or shifted,
    )


def check_width(norm: FinalNorm, width: int, source: str) -> FinalNorm:
    """``norm`` when its width is the head's; a ``ConfigError`` naming ``fold_norm`` otherwise
    (a projection between norm and head, as OPT's ``project_out``)."""
    if int(norm.scale.shape[0]) != width:
        raise ConfigError(
            f"fold_norm: {source}'s final norm {norm.weight_name} has {norm.scale.shape[0]} "
            f"entries but the head is {width} wide (a projection sits between them)",
            parameter="fold_norm",
        )
    return norm
