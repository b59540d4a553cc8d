"""Load a causal language model and its tokenizer for ``llmgeom loss``.

A model comes from a local Hugging Face directory, a Hub id or paper alias (through
``transformers``' own ``from_pretrained`` download and cache; ``HF_*`` variables apply), a GGUF
file (``transformers``' ``gguf_file=`` loader, dequantised; the tokenizer from the same file),
or memory (:func:`wrap_model`). Always with ``AutoModelForCausalLM``; checkpoint code is never
run unless ``trust_remote_code=True``. dtype defaults to float32 on the CPU and bfloat16 on a
GPU; ``device_map="auto"`` spreads a model over several devices (accelerate); 8/4-bit loading
needs ``bitsandbytes``. Whatever was chosen is recorded in :attr:`LoadedModel.identity`.

Example:
    >>> from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    >>> from tokenizers import Tokenizer, models
    >>> tok = PreTrainedTokenizerFast(
    ...     tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "b": 1}, unk_token="a")))
    >>> lm = wrap_model(GPT2LMHeadModel(GPT2Config(vocab_size=4, n_embd=8, n_layer=1, n_head=2,
    ...     n_positions=32, bos_token_id=0, eos_token_id=0)), tok, name="tiny")
    >>> lm.name, lm.dtype, lm.context_length, lm.identity["d_model"], lm.identity["family"]
    ('tiny', 'float32', 32, 8, 'gpt2')
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..devices import resolve_device
from ..errors import ConfigError, NetworkError, SourceNotFoundError
from ..sources._reasons import short_reason
from .model_identity import (
    WEIGHT_SUFFIXES,
    cached_hub_files,
    check_vocabulary,
    gguf_tensor_types,
    model_facts,
    weight_file_entries,
)
from .options import DType, Quantization
from .quantization import bitsandbytes_config

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


@dataclass
class LoadedModel:
    """A model ready for :func:`~llmgeom.text.loss.compute_loss`, with its provenance."""

    model: torch.nn.Module
    tokenizer: Any
    name: str  # for tables and file names: Hub id, directory name, GGUF stem, or given
    source: str
    identity: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    quantization: str | None = None
    device: str = "cpu"
    load_s: float = 0.0

    @property
    def context_length(self) -> int | None:
        """The model's context length (``n_positions`` / ``max_position_embeddings``)."""
        return self.identity.get("context_length")


def _torch_dtype(dtype: str | torch.dtype | None, device: torch.device | None) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device is not None and device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r} (use {', '.join(DTYPES)})", parameter="dtype")
    return DTYPES[dtype]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _classify(source: str) -> tuple[str, str, dict[str, Any]]:
    """``(kind, where, extra from_pretrained kwargs)``: local, gguf or hub."""
    from ..sources import looks_like_path
    from ..sources.registry import lookup

    path = Path(source).expanduser()
    if path.is_dir():
        return "local", str(path), {}
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return "gguf", str(path.parent), {"gguf_file": path.name}
        raise ConfigError(
            f"{source}: not a model; give a Hugging Face model directory or a .gguf file"
        )
    if looks_like_path(source) or not _REPO_ID.fullmatch(source):
        raise SourceNotFoundError(f"no such model directory or file: {source}")
    entry = lookup(source)
    from .tokenizers import _cache_only_offline

    return "hub", entry.hub_id if entry else source, _cache_only_offline()


@contextmanager
def _loading_bars(progress: bool | None) -> Iterator[None]:
    """transformers' own loading bars, shown only when asked or on a terminal."""
    from transformers.utils import logging as hf_logging

    show = sys.stderr.isatty() if progress is None else progress
    was = hf_logging.is_progress_bar_enabled()
    if not show:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not show:
            hf_logging.enable_progress_bar()


def _ships_code(folder: str) -> bool:
    """Whether a local model folder's config points at Python files of its own."""
    try:
        return "auto_map" in json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return False


def _load_error(source: str, err: BaseException, ships_code: bool = False) -> Exception:
    reason = short_reason(err)
    if ships_code:
        reason += (
            "; the model ships its own code, which llmgeom does not run unless "
            "trust_remote_code=True is given (only for sources you trust)"
        )
    named = ("trust_remote_code",) if ships_code else ()
    if isinstance(err, OSError) and any(
        word in reason.lower() for word in ("connect", "offline", "network", "resolve")
    ):
        return NetworkError(f"cannot load {source}: {reason}", parameter=named)
    if isinstance(err, OSError):
        return SourceNotFoundError(f"cannot load {source}: {reason}", parameter=named)
    return ConfigError(
        f"cannot load {source} as a causal language model: {reason}", parameter=named
    )


def load_model(
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    dtype: DType | torch.dtype | None = None,
    device: str | torch.device = "auto",
    device_map: Literal["auto"] | None = None,
    quantization: Quantization = "none",
    trust_remote_code: bool = False,
    tokenizer: Any = None,
    progress: bool | None = None,
) -> LoadedModel:
    """Load ``source`` with ``AutoModelForCausalLM`` and its tokenizer (see the module doc).

    ``tokenizer`` overrides the model's own (an object or anything
    :func:`~llmgeom.text.tokenizers.load_tokenizer` accepts). ``device_map="auto"`` lets
    accelerate place the layers; ``quantization`` ``"8bit"`` or ``"4bit"`` loads the weights with
    bitsandbytes (:mod:`~llmgeom.text.quantization`: a CUDA GPU and the ``quant`` extra).
    Errors are one line, raised before any forward pass. ``progress`` shows transformers'
    loading bars (None: on a terminal only).
    """
    from .tokenizers import load_tokenizer

    started = time.perf_counter()
    source = str(source)
    if device_map not in (None, "auto"):
        raise ConfigError(
            f"device_map must be 'auto' or None, not {device_map!r}", parameter="device_map"
        )
    dev = None if device_map == "auto" else resolve_device(device)
    auto_dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = _torch_dtype(dtype, dev if dev is not None else auto_dev)
    quant_config = bitsandbytes_config(quantization, torch_dtype, dev)
    kind, where, extra = _classify(source)

    loaded_tok = load_tokenizer(
        source if tokenizer is None else tokenizer,
        revision=revision if tokenizer is None else None,
        trust_remote_code=trust_remote_code,
    )
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code, **extra}
    if revision is not None:
        kwargs["revision"] = revision
    if dev is None:  # device_map="auto"
        kwargs["device_map"] = "auto"
    elif quant_config is not None:
        kwargs["device_map"] = {"": dev.index if dev.type == "cuda" and dev.index else str(dev)}
    if quant_config is not None:
        kwargs["quantization_config"] = quant_config
    try:
        with _loading_bars(progress):
            model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as err:
        raise _load_error(source, err, _ships_code(where) and not trust_remote_code) from None
    if "device_map" not in kwargs:
        # transformers' @wraps(nn.Module.to) types the bound method as the unbound one
        model.to(dev)  # type: ignore[arg-type]
    model.eval()

    if kind == "hub":
        name = where
        commit, files = cached_hub_files(where, revision)
    elif kind == "gguf":
        name = Path(source).stem
        commit, files = None, weight_file_entries([Path(source)])
    else:
        name = Path(where).resolve().name
        commit = None
        files = weight_file_entries(
            sorted(p for p in Path(where).iterdir() if p.suffix in WEIGHT_SUFFIXES)
        )
    quant_name = None
    if quant_config is not None:
        quant_name = f"bitsandbytes {quantization}"
    elif kind == "gguf":
        types = gguf_tensor_types(Path(source))
        quant_name = f"gguf {'/'.join(types)} dequantised to {_dtype_name(model.dtype)}"
    lm = _finish(
        model, loaded_tok.tokenizer, name=name, source=source, kind=kind, started=started,
        quantization=quant_name,
        extra={"repo_id": where if kind == "hub" else None, "revision": revision,
               "commit": commit, "files": files, "trust_remote_code": trust_remote_code,
               "tokenizer": loaded_tok.identity},
    )  # fmt: skip
    return lm


def _device_description(model: torch.nn.Module) -> str:
    device_map = getattr(model, "hf_device_map", None)
    if device_map:
        devices = sorted({str(v) for v in device_map.values()})
        return "auto (" + ", ".join(devices) + ")"
    return str(next(model.parameters()).device)


def _finish(
    model: torch.nn.Module, tokenizer: Any, *, name: str, source: str, kind: str,
    started: float, quantization: str | None, extra: dict[str, Any],
) -> LoadedModel:  # fmt: skip
    check_vocabulary(model, tokenizer, name)
    dtype = _dtype_name(getattr(model, "dtype", next(model.parameters()).dtype))
    device = _device_description(model)
    identity = {
        "source": source,
        "kind": kind,
        "name": name,
        **extra,
        **model_facts(model, tokenizer),
    }
    identity.update({"dtype": dtype, "quantization": quantization, "device": device})
    return LoadedModel(
        model=model, tokenizer=tokenizer, name=name, source=source, identity=identity,
        dtype=dtype, quantization=quantization, device=device,
        load_s=time.perf_counter() - started,
    )  # fmt: skip


def wrap_model(model: torch.nn.Module, tokenizer: Any, *, name: str | None = None) -> LoadedModel:
    """An in-memory ``transformers`` causal LM and its tokenizer as a :class:`LoadedModel`.

    ``tokenizer`` is a tokenizer object or anything
    :func:`~llmgeom.text.tokenizers.load_tokenizer` accepts. The model stays on its device and
    in its dtype (put it in ``eval()`` mode: dropout would change the loss).
    """
    started = time.perf_counter()
    tok_identity: dict[str, Any] | None = None
    if isinstance(tokenizer, (str, os.PathLike)):
        from .tokenizers import load_tokenizer

        loaded_tok = load_tokenizer(tokenizer)
        tokenizer, tok_identity = loaded_tok.tokenizer, loaded_tok.identity
    config = getattr(model, "config", None)
    if name is None:
        path = str(getattr(config, "name_or_path", "") or "")
        name = Path(path.rstrip("/")).name if path else None
        name = name or getattr(config, "model_type", None) or type(model).__name__
    model.eval()
    return _finish(
        model, tokenizer, name=name, source=name, kind="object", started=started,
        quantization=None,
        extra={"repo_id": None, "revision": None, "commit": None, "files": [],
               "trust_remote_code": False, "tokenizer": tok_identity},
    )  # fmt: skip
