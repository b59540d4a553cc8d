"""The analysis tables of a sweep config: ``[measure]``, ``[loss]`` and ``[freq]``.

Example:
    >>> from pathlib import Path
    >>> parse_measure({"pairs": "gram"}, Path(".")).pairs
    'gram'
    >>> parse_freq({"corpora": ["hf:x"], "tokens": 0}, Path(".")).tokens  # the whole corpus
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import MeasureOptions
from ..text.options import FreqOptions, LossOptions
from .config_values import as_str, as_str_list, check_keys, resolve_path
from .model_specs import ModelSpec

# the sweep batches by tokens with right padding (whole-document batches and left padding are
# for a single `llmgeom loss` / compute_loss call): those two options are not sweep keys
LOSS_OPTION_KEYS = tuple(
    f.name for f in fields(LossOptions) if f.name not in ("batch_size", "padding_side")
)
LOSS_KEYS = (*LOSS_OPTION_KEYS, "corpora", "dtype", "device", "models")
FREQ_OPTION_KEYS = tuple(f.name for f in fields(FreqOptions))
FREQ_KEYS = (*FREQ_OPTION_KEYS, "corpora", "tokenizers", "models")
DTYPES = ("auto", "float32", "float16", "bfloat16")
MODEL_LABELS = ("name", "family")  # MeasureOptions fields given per model ([[models]])
MEASURE_OPTION_KEYS = tuple(
    f.name for f in fields(MeasureOptions) if f.name not in ("progress", *MODEL_LABELS)
)
MEASURE_KEYS = (*MEASURE_OPTION_KEYS, "models")
ANALYSES = ("measure", "loss", "freq")


@dataclass(frozen=True)
class LossSpec:
    """``[loss]``: the corpora and the options of ``llmgeom loss``."""

    corpora: tuple[str, ...]
    samples: int | None = None
    max_length: int | None = None  # at most: each model uses min(max_length, its context)
    dtype: str | None = None
    recipe: str | None = None
    text_field: str = "text"
    device: str = "auto"
    batch_tokens: int | None = None


@dataclass(frozen=True)
class FreqSpec:
    """``[freq]``: the corpora and the options of ``llmgeom freq``; ``tokenizers`` overrides
    the tokenizers taken from the models (one per family)."""

    corpora: tuple[str, ...]
    tokens: int | None = 1_000_000
    samples: int | None = None
    max_length: int | None = None
    recipe: str | None = None
    text_field: str = "text"
    tokenizers: tuple[str, ...] | None = None


def _options(cls: type, values: dict[str, Any], section: str, **fixed: Any) -> Any:
    """``cls(**values)``: its own one-line error, in the section (keys are checked before)."""
    try:
        return cls(**values, **fixed)
    except ConfigError as err:
        raise ConfigError(f"[{section}]: {err}") from None


def parse_measure(raw: Any, base: Path) -> MeasureOptions | None:
    """``[measure]``: the :class:`~llmgeom.options.MeasureOptions` of every measure unit."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[measure] must be a table")
    check_keys(raw, MEASURE_KEYS, "measure")
    values = {k: v for k, v in raw.items() if k in MEASURE_OPTION_KEYS}
    if isinstance(values.get("weights"), str):
        values["weights"] = resolve_path(values["weights"], base)
    return _options(MeasureOptions, values, "measure", progress=False)


def _corpora(table: dict[str, Any], section: str, base: Path) -> tuple[str, ...]:
    if "corpora" not in table:
        raise ConfigError(f"{section}.corpora is missing")
    return tuple(resolve_path(c, base) for c in as_str_list(table["corpora"], "corpora", section))


def parse_loss(raw: Any, base: Path) -> LossSpec | None:
    """``[loss]``: its corpora, the loss options and how the models load."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[loss] must be a table")
    check_keys(raw, LOSS_KEYS, "loss")
    opts = _options(LossOptions, {k: v for k, v in raw.items() if k in LOSS_OPTION_KEYS}, "loss")
    dtype = raw.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"loss.dtype: unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})")
    device = as_str(raw.get("device", "auto"), "device", "loss")
    from ..devices import check_device_name

    check_device_name(device)
    return LossSpec(
        corpora=_corpora(raw, "loss", base),
        samples=opts.samples,
        max_length=opts.max_length,
        dtype=None if dtype == "auto" else dtype,
        recipe=opts.recipe,
        text_field=opts.text_field,
        device=device,
        batch_tokens=opts.batch_tokens if "batch_tokens" in raw else None,  # None: the default
    )


def parse_freq(raw: Any, base: Path) -> FreqSpec | None:
    """``[freq]``: its corpora, the freq options and the tokenizers (default: the models')."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[freq] must be a table")
    check_keys(raw, FREQ_KEYS, "freq")
    opts = _options(FreqOptions, {k: v for k, v in raw.items() if k in FREQ_OPTION_KEYS}, "freq")
    tokenizers = raw.get("tokenizers")
    return FreqSpec(
        corpora=_corpora(raw, "freq", base),
        tokens=opts.budget,  # None: the whole corpus (tokens = 0)
        samples=opts.samples,
        max_length=opts.max_length,
        recipe=opts.recipe,
        text_field=opts.text_field,
        tokenizers=None
        if tokenizers is None
        else tuple(resolve_path(t, base) for t in as_str_list(tokenizers, "tokenizers", "freq")),
    )


def analysis_models(data: dict[str, Any], models: list[ModelSpec]) -> dict[str, tuple[str, ...]]:
    """``models = [names]`` of the analysis tables, each name checked against the models."""
    known = {key for m in models for key in (m.name, m.label)}
    only = {}
    for analysis in ANALYSES:
        table = data.get(analysis)
        if isinstance(table, dict) and "models" in table:
            names = as_str_list(table["models"], "models", analysis)
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ConfigError(f"{analysis}.models: no model named {', '.join(unknown)}")
            only[analysis] = tuple(names)
    return only
