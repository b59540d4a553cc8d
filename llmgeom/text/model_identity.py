"""What llmgeom records about a loaded causal LM: its family, widths, vocabulary and context
(:func:`model_facts`), a tokenizer checked against its embedding rows
(:func:`check_vocabulary`), and the provenance of its weight files (names, sizes, sha256, the
Hub commit).

Example:
    >>> from transformers import GPT2Config
    >>> context_length(GPT2Config(n_positions=64))
    64
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..sources.families import family_label

HASH_LIMIT_BYTES = 4 << 30  # local weight files are hashed when they total at most this
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


def _text_config(config: Any) -> Any:
    getter = getattr(config, "get_text_config", None)
    return getter() if callable(getter) else config


def context_length(config: Any) -> int | None:
    """The context length a config declares, if any.

    Example:
        >>> from transformers import GPT2Config
        >>> context_length(GPT2Config(n_positions=64))
        64
    """
    cfg = _text_config(config)
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length", "max_seq_len"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _d_model(config: Any) -> int | None:
    cfg = _text_config(config)
    for attr in ("hidden_size", "n_embd", "d_model", "dim"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int):
            return value
    return None


def _rows_cols(module: Any) -> tuple[int | None, int | None]:
    if module is None:
        return None, None
    rows = getattr(module, "num_embeddings", None) or getattr(module, "out_features", None)
    cols = getattr(module, "embedding_dim", None) or getattr(module, "in_features", None)
    weight = getattr(module, "weight", None)
    if (rows is None or cols is None) and weight is not None and weight.dim() == 2:
        rows, cols = weight.shape
    return rows, cols


def model_facts(model: torch.nn.Module, tokenizer: Any) -> dict[str, Any]:
    """Family, widths, vocabulary and context facts of ``model`` (and ``len(tokenizer)``)."""
    config = getattr(model, "config", None)
    model_type = getattr(_text_config(config), "model_type", None) or getattr(
        config, "model_type", None
    )
    hf_model: Any = model  # the getters are transformers methods, untyped on nn.Module
    in_rows, _ = _rows_cols(hf_model.get_input_embeddings())
    out_rows, head_width = _rows_cols(hf_model.get_output_embeddings())
    return {
        "family": family_label(model_type),  # the rule of `measure` (sources.families)
        "model_type": model_type,
        "architecture": type(model).__name__,
        "d_model": _d_model(config),
        "head_width": head_width,
        "embedding_rows": in_rows,
        "head_rows": out_rows,
        "vocab_size": getattr(_text_config(config), "vocab_size", None),
        "tokenizer_len": len(tokenizer),
        "context_length": context_length(config) if config is not None else None,
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }


def check_vocabulary(model: torch.nn.Module, tokenizer: Any, name: str) -> None:
    """Refuse a tokenizer with more entries than the model has embedding (or head) rows.

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> m = GPT2LMHeadModel(GPT2Config(vocab_size=4, n_embd=8, n_layer=1, n_head=2,
        ...                                bos_token_id=0, eos_token_id=0))
        >>> try:
        ...     check_vocabulary(m, list(range(9)), "tiny")
        ... except ConfigError as err:
        ...     print(err)
        tiny: the tokenizer has 9 entries but the model only 4 embedding rows: ...
    """
    hf_model: Any = model  # the getters are transformers methods, untyped on nn.Module
    in_rows, _ = _rows_cols(hf_model.get_input_embeddings())
    out_rows, _ = _rows_cols(hf_model.get_output_embeddings())
    rows = min(r for r in (in_rows, out_rows, 1 << 62) if r)
    if len(tokenizer) > rows:
        raise ConfigError(
            f"{name}: the tokenizer has {len(tokenizer)} entries but the model only {rows} "
            "embedding rows: they do not belong together"
        )


def weight_file_entries(
    paths: list[Path], hash_limit: int = HASH_LIMIT_BYTES
) -> list[dict[str, Any]]:
    """Name, size and sha256 of weight files (sha256 only when they total <= hash_limit)."""
    total = sum(p.stat().st_size for p in paths)
    entries = []
    for p in paths:
        entry: dict[str, Any] = {"name": p.name, "size": p.stat().st_size}
        if total <= hash_limit:
            with p.open("rb") as fh:
                entry["sha256"] = hashlib.file_digest(fh, "sha256").hexdigest()
        entries.append(entry)
    return entries


def cached_hub_files(repo_id: str, revision: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """Commit and weight files of a Hub model in the local cache; a blob's name is the sha256
    of an LFS file, so nothing is hashed again. ``(None, [])`` when it is not cached.

    Example:
        >>> cached_hub_files("no-such-org/no-such-model", None)
        (None, [])
    """
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                repo_id, revision=revision, local_files_only=True, allow_patterns=["config.json"]
            )
        )
    except Exception:  # no cache entry to describe (the model loaded anyway: leave it blank)
        return None, []
    entries = []
    for p in sorted(folder.iterdir()):
        if p.suffix in WEIGHT_SUFFIXES:
            blob = p.resolve()
            entry: dict[str, Any] = {"name": p.name, "size": blob.stat().st_size}
            if re.fullmatch(r"[0-9a-f]{64}", blob.name):
                entry["sha256"] = blob.name
            entries.append(entry)
    return folder.name, entries


def gguf_tensor_types(path: Path) -> list[str]:
    """The tensor types of a GGUF file (``Q8_0``, ``F32``...), sorted."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return sorted({t.tensor_type.name for t in reader.tensors})
