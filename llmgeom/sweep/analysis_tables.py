"""The analysis tables of a sweep config, ``[measure]``, ``[loss]`` and ``[freq]``, read into
the option objects the runners call the analyses with (keys, defaults and checks are the option
types', :mod:`llmgeom.sweep.option_tables`), plus each table's corpora and tokenizers.

Example:
    >>> from pathlib import Path
    >>> parse_measure({"pairs": "gram"}, Path(".")).pairs
    'gram'
    >>> loss = parse_loss({"corpora": ["hf:x"], "max_length": 1024, "device": "cpu"}, Path("."))
    >>> loss.options.max_length, loss.model.device
    (1024, 'cpu')
    >>> parse_freq({"corpora": ["hf:x"], "tokens": 0}, Path(".")).options.budget  # all of it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import MeasureOptions
from ..text.options import FreqOptions, LossOptions, ModelOptions
from .config_values import as_str_list, resolve_path
from .model_specs import ModelSpec
from .option_tables import ANALYSES, TABLES, read_table


@dataclass(frozen=True)
class LossSpec:
    """``[loss]``: the corpora, the options of :func:`~llmgeom.text.loss.compute_loss`
    (``max_length`` at most: each model uses min(max_length, its context)) and how each model
    loads (the keywords of :func:`~llmgeom.text.lm.load_model`)."""

    corpora: tuple[str, ...]
    options: LossOptions = field(default_factory=LossOptions)
    model: ModelOptions = field(default_factory=ModelOptions)


@dataclass(frozen=True)
class FreqSpec:
    """``[freq]``: the corpora, the options of :func:`~llmgeom.text.freq.count_tokens`, and
    ``tokenizers`` instead of the models' own (one per family)."""

    corpora: tuple[str, ...]
    options: FreqOptions = field(default_factory=FreqOptions)
    tokenizers: tuple[str, ...] | None = None


def parse_measure(raw: Any, base: Path) -> MeasureOptions | None:
    """``[measure]``: the :class:`~llmgeom.options.MeasureOptions` of every measure unit."""
    if raw is None:
        return None
    (options,), _ = read_table(raw, TABLES["measure"], base, progress=False)
    return options


def _corpora(own: dict[str, Any], section: str, base: Path) -> tuple[str, ...]:
    if "corpora" not in own:
        raise ConfigError(f"[{section}] corpora is missing")
    return tuple(resolve_path(c, base) for c in as_str_list(own["corpora"], f"[{section}] corpora"))


def parse_loss(raw: Any, base: Path) -> LossSpec | None:
    """``[loss]``: its corpora, the loss options and how the models load."""
    if raw is None:
        return None
    (options, model), own = read_table(raw, TABLES["loss"], base)
    return LossSpec(_corpora(own, "loss", base), options, model)


def parse_freq(raw: Any, base: Path) -> FreqSpec | None:
    """``[freq]``: its corpora, the freq options and the tokenizers (default: the models')."""
    if raw is None:
        return None
    (options,), own = read_table(raw, TABLES["freq"], base)
    tokenizers = own.get("tokenizers")
    if tokenizers is not None:
        tokenizers = tuple(
            resolve_path(t, base) for t in as_str_list(tokenizers, "[freq] tokenizers")
        )
    return FreqSpec(_corpora(own, "freq", base), options, tokenizers)


def analysis_models(data: dict[str, Any], models: list[ModelSpec]) -> dict[str, tuple[str, ...]]:
    """``models = [names]`` of the analysis tables, each name checked against the models."""
    known = {key for m in models for key in (m.name, m.label)}
    only = {}
    for analysis in ANALYSES:
        table = data.get(analysis)
        if isinstance(table, dict) and "models" in table:
            names = as_str_list(table["models"], f"[{analysis}] models")
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ConfigError(f"[{analysis}] models: no model named {', '.join(unknown)}")
            only[analysis] = tuple(names)
    return only
