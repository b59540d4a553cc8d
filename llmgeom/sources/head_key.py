"""Which checkpoint tensor is the output embedding: the name of the output (tied: input)
embeddings of the model's meta-device skeleton, with or without the base-model prefix or a family
alias (:mod:`.families`), else well-known names. Checkpoint code is never run.

Example:
    >>> choose_head_key({"model_type": "gpt2"}, ["wte.weight", "wpe.weight"]).key
    'wte.weight'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import TensorNotFoundError
from .families import family_for_model_type, family_label

# tried in order when the architecture is unknown or there is no config
OUTPUT_HEAD_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight")
INPUT_EMBEDDING_NAMES = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "embed_in.weight",
    "tok_embeddings.weight",
    "token_embd.weight",
)
_D_MODEL_KEYS = ("hidden_size", "n_embd", "d_model", "dim")


@dataclass(frozen=True)
class HeadChoice:
    """The chosen checkpoint key and how it was chosen."""

    key: str
    tied: bool | None
    family: str | None
    rule: str  # "explicit" | "skeleton" | "known-names" | "only-candidate"
    d_model: int | None = None


@dataclass(frozen=True)
class ConfigInfo:
    """What ``config.json`` says about the head."""

    model_type: str | None
    tied: bool | None
    d_model: int | None
    family: str | None


def config_info(config: Mapping[str, Any] | None) -> ConfigInfo:
    """Model type, tying, width and family from a ``config.json`` dictionary."""
    if not config:
        return ConfigInfo(None, None, None, None)
    text = config["text_config"] if isinstance(config.get("text_config"), dict) else config
    hf_config = _hf_config(_key(config))
    if hf_config is not None:
        text_cfg = hf_config.get_text_config()
        tied = bool(getattr(text_cfg, "tie_word_embeddings", True))
        d_model = getattr(text_cfg, "hidden_size", None)
    else:  # unknown to transformers: the usual keys
        tied = bool(text.get("tie_word_embeddings", config.get("tie_word_embeddings", True)))
        d_model = next((text[k] for k in _D_MODEL_KEYS if isinstance(text.get(k), int)), None)
    d_model = int(d_model) if d_model else None
    model_type = config.get("model_type")
    return ConfigInfo(model_type, tied, d_model, family_label(model_type))


def _key(config: Mapping[str, Any]) -> str:
    """``config`` as a cache key for the transformers config and skeleton."""
    return json.dumps(dict(config), sort_keys=True, default=str)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings about toy or unusual configs while probing them."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)


@lru_cache(maxsize=32)
def _hf_config(config_json: str):
    """A transformers config object for a known model type, else None (never remote code)."""
    config = json.loads(config_json)
    if not config.get("model_type"):
        return None
    try:
        from transformers import AutoConfig

        with _quiet_transformers():
            return AutoConfig.for_model(**config)
    except Exception:  # unknown or malformed architecture: the caller falls back
        return None


@lru_cache(maxsize=32)
def _skeleton_head_names(config_json: str, side: str = "head") -> tuple[str, ...]:
    """Parameter names of the output embedding in a meta-device skeleton of the model
    (``side="input"``: of the input embedding)."""
    hf_config = _hf_config(config_json)
    if hf_config is None:
        return ()
    try:
        from accelerate import init_empty_weights
        from transformers import AutoModelForCausalLM

        hf_config = hf_config.__class__.from_dict(hf_config.to_dict())
        text_cfg = hf_config.get_text_config()
        if hasattr(text_cfg, "num_hidden_layers"):
            text_cfg.num_hidden_layers = 1  # the head's name does not depend on depth
        tied = bool(getattr(text_cfg, "tie_word_embeddings", True))
        with _quiet_transformers(), init_empty_weights():
            model = AutoModelForCausalLM.from_config(hf_config)
        use_input = tied or side == "input"
        module = model.get_input_embeddings() if use_input else model.get_output_embeddings()
        weight = getattr(module, "weight", None)
        names = [n for n, p in model.named_parameters(remove_duplicate=False) if p is weight]
        prefix = getattr(model, "base_model_prefix", "") or ""
        stripped = [n[len(prefix) + 1 :] for n in names if prefix and n.startswith(prefix + ".")]
        return tuple(dict.fromkeys(names + stripped))
    except Exception:
        logging.getLogger(__name__).debug("skeleton construction failed", exc_info=True)
        return ()


def _match(candidates: Collection[str], keys: Collection[str]) -> str | None:
    """First checkpoint key equal to a candidate, else the shortest ending in ``.candidate``."""
    key_set = set(keys)
    for cand in candidates:
        if cand in key_set:
            return cand
    for cand in candidates:
        hits = sorted(k for k in key_set if k.endswith("." + cand))
        if hits:
            return min(hits, key=len)
    return None


def describe_candidates(shapes: Mapping[str, tuple[int, ...]]) -> str:
    """A short listing of 2-D tensors, tallest first, for error messages."""
    two_d = sorted(((k, s) for k, s in shapes.items() if len(s) == 2), key=lambda kv: -kv[1][0])
    return ", ".join(f"{k} {list(s)}" for k, s in two_d[:8]) or "no 2-D tensors"


def choose_head_key(
    config: Mapping[str, Any] | None,
    keys: Collection[str],
    *,
    tensor: str | None = None,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    source: str = "checkpoint",
) -> HeadChoice:
    """The output-embedding key among ``keys``; ``shapes`` allow a last resort: the only 2-D tensor
    with more rows than columns."""
    info = config_info(config)
    if tensor is not None:
        if tensor not in keys:
            listing = describe_candidates(shapes) if shapes else ", ".join(sorted(keys)[:12])
            raise TensorNotFoundError(
                f"{source}: no tensor named {tensor!r} (candidates: {listing})"
            )
        try:  # the config's tying describes the explicit tensor only if it is the usual head
            usual = choose_head_key(config, keys, shapes=shapes, source=source).key
        except TensorNotFoundError:
            usual = None
        tied = info.tied if tensor == usual else None
        return HeadChoice(tensor, tied, info.family, "explicit", info.d_model)
    if config:
        names = _skeleton_head_names(_key(config))
        family = family_for_model_type(info.model_type)
        aliases = family.checkpoint_aliases if family else {}
        key = _match([*names, *(a for n in names for a in aliases.get(n, ()))], keys)
        if key:
            return HeadChoice(key, info.tied, info.family, "skeleton", info.d_model)
    preferred = INPUT_EMBEDDING_NAMES if info.tied else ()
    key = _match([*preferred, *OUTPUT_HEAD_NAMES, *INPUT_EMBEDDING_NAMES], keys)
    if key:
        tied = info.tied if config else key.endswith(INPUT_EMBEDDING_NAMES)
        return HeadChoice(key, tied, info.family, "known-names", info.d_model)
    if shapes:
        tall = [k for k, s in shapes.items() if len(s) == 2 and s[0] > s[1]]
        if len(tall) == 1:
            return HeadChoice(tall[0], info.tied, info.family, "only-candidate", info.d_model)
        raise TensorNotFoundError(
            f"{source}: cannot tell which tensor is the output embedding; pass tensor=NAME. "
            f"Candidates: {describe_candidates(shapes)}",
            parameter="tensor",
        )
    raise TensorNotFoundError(
        f"{source}: no output-embedding tensor found; pass tensor=NAME", parameter="tensor"
    )
