"""From a sweep config to units: measure per model, loss per model x corpus, freq per
tokenizer x corpus, toy per run.

:func:`expand_units` names every unit and the files it will write with the single commands'
naming rules (:mod:`llmgeom.sweep.naming`), so a re-run can tell which units are done before
running anything. Two units that would write the same file are a ConfigError. What the plan will
cost is :mod:`llmgeom.sweep.estimate`'s.

Example:
    >>> from llmgeom.sweep.config import parse_config
    >>> cfg = parse_config('''
    ... models = ["gpt2", "gpt2-medium", "pythia-70m"]
    ... [measure]
    ... [loss]
    ... corpora = ["hf:wikitext:wikitext-103-v1:train", "hf:allenai/c4:en:train"]
    ... [freq]
    ... corpora = ["hf:allenai/c4:en:train"]
    ... ''')
    >>> units = expand_units(cfg)
    >>> [u.id for u in units if u.kind != "loss"]  # doctest: +NORMALIZE_WHITESPACE
    ['measure/gpt2', 'measure/gpt2-medium', 'measure/pythia-70m', 'freq/gpt2/c4-en',
     'freq/pythia/c4-en']
    >>> units[0].outputs
    ('openai-community--gpt2.main.raw.json',)
    >>> units[3].outputs
    ('openai-community--gpt2.wikitext-103-v1.loss.json', 'losses.csv')
    >>> units[-1].outputs[0]
    'pythia-70m.c4-en.counts.npz'
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import MeasureOptions
from .analysis_tables import FreqSpec, LossSpec
from .config import SweepConfig
from .model_sizes import DTYPE_BYTES, head_bytes, registry_entry, weight_bytes
from .naming import (
    LOSSES_CSV,
    corpus_name,
    freq_files,
    loss_file,
    loss_model_name,
    measure_file,
    tokenizer_name,
)
from .toy_specs import ToySpec
from .units import Resources, Unit


def _gpus(device: str) -> float:
    return 1.0 if device.startswith("cuda") else 0.0


# ------------------------------------------------------------------------------ units


def _measure_units(config: SweepConfig, options: MeasureOptions) -> list[Unit]:
    record = options.to_record()
    record.pop("progress", None)
    out = []
    for model in config.models_for("measure"):
        params: dict[str, Any] = {
            "source": model.source,
            "revision": model.revision,
            "name": model.given_name,  # [[models]] name: the record's name (measure --name)
            "family": model.family,
            "options": record,
            "expected": measure_file(model, options),
        }
        head = head_bytes(model)
        out.append(
            Unit(
                f"measure/{model.label}",
                "measure",
                params,
                (params["expected"],),
                Resources(1.0, _gpus(options.device), 4 * head),  # float64 copies of the head
            )
        )
    return out


def _loss_units(config: SweepConfig, spec: LossSpec) -> list[Unit]:
    out = []
    for model in config.models_for("loss"):
        for corpus in spec.corpora:
            params: dict[str, Any] = {
                "source": model.source,
                "revision": model.revision,
                "corpus": corpus,
                "model_name": loss_model_name(model),
                "name": model.given_name,  # [[models]] name and family label the record
                "family": model.family,
                "corpus_name": corpus_name(corpus),
                "options": spec.options.to_dict(),  # compute_loss's keywords (LossOptions)
                "model_options": spec.model.to_dict(),  # load_model's keywords (ModelOptions)
                "expected": loss_file(model, corpus),
            }
            weights = weight_bytes(model)
            bytes_per = DTYPE_BYTES.get(spec.model.dtype or "float32", 4)
            entry = registry_entry(model)
            memory = (
                int(weights / DTYPE_BYTES.get(entry.storage_dtype, 2) * bytes_per) if entry else 0
            )
            out.append(
                Unit(
                    f"loss/{model.label}/{params['corpus_name']}",
                    "loss",
                    params,
                    (params["expected"], LOSSES_CSV),
                    Resources(1.0, _gpus(spec.model.device), memory),
                )
            )
    return out


def _tokenizers(config: SweepConfig, spec: FreqSpec) -> list[tuple[str, str, str | None, bool]]:
    """``(label, source, revision, local)`` per distinct tokenizer: one per family."""
    if spec.tokenizers is not None:
        out: list[tuple[str, str, str | None, bool]] = []
        for source in spec.tokenizers:
            local = Path(source).is_absolute()
            out.append((tokenizer_name(source, local), source, None, local))
        return out
    seen: dict[Any, tuple[str, str, str | None, bool]] = {}
    for model in config.models_for("freq"):
        key = ("family", model.family) if model.family else ("source", model.source)
        if key not in seen:
            label = model.family or model.name
            seen[key] = (label, model.source, model.revision, model.local)
    return list(seen.values())


def _freq_units(config: SweepConfig, spec: FreqSpec) -> list[Unit]:
    out = []
    for label, source, revision, local in _tokenizers(config, spec):
        name = tokenizer_name(source, local)
        for corpus in spec.corpora:
            params: dict[str, Any] = {
                "tokenizer": source,
                "revision": revision,
                "corpus": corpus,
                "tokenizer_name": name,
                "options": spec.options.to_dict(),  # count_tokens's keywords (FreqOptions)
            }
            files = freq_files(name, corpus)
            out.append(Unit(f"freq/{label}/{corpus_name(corpus)}", "freq", params, files))
    return out


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def toy_run_labels(config: Any) -> list[str]:
    """One label per run of a toy config: gamma and alpha, plus the run fields that vary.

    Example:
        >>> from llmgeom.toy.config import load_config
        >>> toy_run_labels(load_config("quick"))
        ['gamma=-1,alpha=1', 'gamma=0.111111,alpha=2', 'gamma=0.333333,alpha=2']
    """
    runs = config.runs
    names = [f.name for f in fields(runs[0])]
    varying = [
        n for n in names if n not in ("gamma", "alpha") and len({getattr(r, n) for r in runs}) > 1
    ]
    labels = []
    for run in runs:
        parts = [f"gamma={_fmt(run.gamma)}", f"alpha={_fmt(run.alpha)}"]
        parts += [f"{n}={_fmt(getattr(run, n))}" for n in varying]
        labels.append(",".join(parts).replace(" ", ""))
    if len(set(labels)) != len(labels):
        labels = [f"run{i}.{label}" for i, label in enumerate(labels)]
    return labels


def _toy_units(spec: ToySpec) -> list[Unit]:
    config = spec.load()
    base: dict[str, Any] = {"source": spec.source, "table": spec.table}
    device_gpus = _gpus(config.device)
    if len(config.runs) == 1:
        stem = f"toy-{config.name}"
        params = {**base, "run_index": None, "stem": stem}
        files = (f"{stem}.json", f"{stem}_loss.png", f"{stem}_phi.png")
        return [Unit(f"toy/{spec.name}", "toy", params, files, Resources(1.0, device_gpus))]
    out = []
    for i, label in enumerate(toy_run_labels(config)):
        stem = f"toy-{config.name}.{label}"
        params = {**base, "run_index": i, "stem": stem}
        files = (f"{stem}.json", f"{stem}_loss.png", f"{stem}_phi.png")
        out.append(
            Unit(f"toy/{spec.name}/{label}", "toy", params, files, Resources(1.0, device_gpus))
        )
    return out


def expand_units(config: SweepConfig) -> list[Unit]:
    """Every unit of ``config``: measure per model, loss per model x corpus, freq per tokenizer
    x corpus, toy per run; ConfigError when two units would write the same file."""
    units: list[Unit] = []
    if config.models and config.measure is not None:
        units += _measure_units(config, config.measure)
    if config.models and config.loss is not None:
        units += _loss_units(config, config.loss)
    if config.freq is not None and (config.models or config.freq.tokenizers):
        units += _freq_units(config, config.freq)
    for spec in config.toy:
        units += _toy_units(spec)
    owner: dict[str, str] = {}
    for unit in units:
        if unit.id in owner.values():
            raise ConfigError(f"two units are named {unit.id}: give the models distinct names")
        for name in unit.outputs:
            if name == LOSSES_CSV:
                continue
            if name in owner:
                why = " (loss results do not name the revision)" if unit.kind == "loss" else ""
                raise ConfigError(f"units {owner[name]} and {unit.id} would both write {name}{why}")
            owner[name] = unit.id
    return units


__all__ = ["expand_units", "toy_run_labels"]
