"""From a sweep config to units (model x analysis x corpus, toy runs), and what they will cost.

:func:`expand_units` names every unit and the files it will write with the same naming rules
as the single commands (``llmgeom measure``'s result stem, ``llmgeom loss``'s
``<model>.<corpus>.loss.json``, ``llmgeom freq``'s ``<tokenizer>.<corpus>.*``, the toy
experiment's ``toy-<name>.json``), so a re-run can tell which units are done before running
anything. Two units that would write the same file are a ConfigError. :func:`estimate` gives a
rough download size and compute time for the plan (``reproduce`` prints it before starting).

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

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import MeasureOptions
from .config import FreqSpec, LossSpec, ModelSpec, SweepConfig, ToySpec
from .units import Resources, Unit

LOSSES_CSV = "losses.csv"
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# rough rates for the estimate: said to be rough wherever they are printed
CPU_FLOPS = 5e10  # a few CPU cores, float32 matmul
GPU_FLOPS = 5e13  # one recent GPU, half precision
TOKENIZER_BYTES = 5_000_000  # tokenizer files of one model
TEXT_BYTES_PER_TOKEN = 4.5  # English text, BPE tokenizers
TOY_MODEL_STEP_S = 8e-3  # one toy model, one step at n = 1000, batch 2048 (toy-phase.toml)


# ------------------------------------------------------------------------------ naming


def _hub(model: ModelSpec) -> tuple[str, str]:
    from ..sources.hub.names import resolve_name

    name = resolve_name(model.source, model.revision)
    return name.repo_id, name.revision


def measure_file(model: ModelSpec, options: Any) -> str:
    """The JSON ``llmgeom measure`` writes for ``model`` under ``options`` (rows, center),
    named after the model's ``name`` where the config gave one.

    Example:
        >>> from llmgeom.options import MeasureOptions
        >>> model = ModelSpec("pythia-70m", "pythia-70m", "step1000")
        >>> measure_file(model, MeasureOptions(center=True))
        'EleutherAI--pythia-70m.step1000.raw+centered.json'
        >>> measure_file(ModelSpec("/d/w.npy", "mine", local=True, named=True), MeasureOptions())
        'mine.raw.json'
    """
    from ..records.measurement import result_stem
    from ..records.measurement_format import variant_name

    repo_id, revision = (None, None) if model.local else _hub(model)
    variant = variant_name(options.rows, options.center, options.fold_norm)
    record = {
        "model": {
            "repo_id": repo_id,
            "source": model.source,
            "revision": revision,
            "name": model.given_name,
        },
        "variant": {"name": variant},
    }
    return f"{result_stem(record)}.json"


def corpus_name(spec: str) -> str:
    """The short name ``open_corpus`` gives ``spec`` (without reading it).

    Example:
        >>> corpus_name("hf:NeelNanda/pile-10k:train"), corpus_name("/data/wiki.txt")
        ('pile-10k', 'wiki')
    """
    from ..text.corpus import _hf_name

    if spec.startswith("hf:"):
        return _hf_name(spec)
    path = Path(spec)
    return path.resolve().name if path.is_dir() else path.stem


def lm_name(model: ModelSpec) -> str:
    """The name ``llmgeom loss`` gives a model (Hub id, folder name or GGUF stem).

    Example:
        >>> lm_name(ModelSpec("opt-125m", "opt-125m"))
        'facebook/opt-125m'
    """
    if model.local:
        path = Path(model.source)
        return path.resolve().name if path.is_dir() else path.stem
    from ..sources.registry import lookup

    entry = lookup(model.source)
    return entry.hub_id if entry else model.source


def loss_model_name(model: ModelSpec) -> str:
    """The model's name in its loss results: the name the config gave, else :func:`lm_name`.

    Example:
        >>> loss_model_name(ModelSpec("opt-125m", "mine", named=True))
        'mine'
    """
    return model.given_name or lm_name(model)


def loss_file(model: ModelSpec, corpus: str) -> str:
    """``<model>.<corpus>.loss.json`` as :func:`llmgeom.text.loss.result_path` names it."""
    from ..text.loss_record import _safe

    return f"{_safe(loss_model_name(model))}.{_safe(corpus_name(corpus))}.loss.json"


def tokenizer_name(source: str, local: bool) -> str:
    """The name ``load_tokenizer`` gives a tokenizer source (``llmgeom freq``'s file stem).

    Example:
        >>> tokenizer_name("EleutherAI/pythia-1b", False)
        'pythia-1b'
    """
    if local:
        path = Path(source)
        return path.resolve().name if path.is_dir() else path.stem
    from ..sources.registry import alias_for, lookup

    entry = lookup(source)
    return alias_for(entry.hub_id if entry else source)


def freq_files(tokenizer: str, corpus: str) -> tuple[str, str, str]:
    """The counts, record and plot ``llmgeom freq`` writes for one tokenizer name and corpus."""
    from ..text.freq_record import file_names

    names = file_names(tokenizer, corpus_name(corpus))
    return (names["counts"], names["record"], names["plot"])


# ------------------------------------------------------------------------------ resources


def _registry(model: ModelSpec) -> Any:
    if model.local:
        return None
    from ..sources.registry import lookup

    return lookup(model.source)


def parse_params(text: str) -> float | None:
    """``"125M"`` -> 1.25e8, ``"1.3B"`` -> 1.3e9 (models.csv's nominal_params), else None.

    Example:
        >>> parse_params("1.3B"), parse_params("331M"), parse_params("?")
        (1300000000.0, 331000000.0, None)
    """
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMBT])\s*", text or "")
    if not match:
        return None
    return float(match.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[match.group(2)]


def head_bytes(model: ModelSpec) -> int:
    """Bytes of the head as stored on the Hub (models.csv), 0 when unknown."""
    entry = _registry(model)
    if entry is None:
        return 0
    rows, cols = entry.head_shape
    return rows * cols * _DTYPE_BYTES.get(entry.storage_dtype, 2)


def weight_bytes(model: ModelSpec) -> int:
    """Bytes of the whole checkpoint as stored (models.csv's parameter count), 0 when unknown."""
    entry = _registry(model)
    params = parse_params(entry.nominal_params) if entry else None
    return int(params * _DTYPE_BYTES.get(entry.storage_dtype, 2)) if params else 0


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
            "name": model.label,
            "label": model.given_name,  # the record's name (measure --name)
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
                "label": model.given_name,  # [[models]] name and family
                "family": model.family,
                "corpus_name": corpus_name(corpus),
                "samples": spec.samples,
                "max_length": spec.max_length,
                "dtype": spec.dtype,
                "recipe": spec.recipe,
                "text_field": spec.text_field,
                "device": spec.device,
                "batch_tokens": spec.batch_tokens,
                "quantization": spec.quantization,
                "expected": loss_file(model, corpus),
            }
            weights = weight_bytes(model)
            bytes_per = _DTYPE_BYTES.get(spec.dtype or "float32", 4)
            entry = _registry(model)
            memory = (
                int(weights / _DTYPE_BYTES.get(entry.storage_dtype, 2) * bytes_per) if entry else 0
            )
            out.append(
                Unit(
                    f"loss/{model.label}/{params['corpus_name']}",
                    "loss",
                    params,
                    (params["expected"], LOSSES_CSV),
                    Resources(1.0, _gpus(spec.device), memory),
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
                "tokens": spec.tokens,
                "samples": spec.samples,
                "max_length": spec.max_length,
                "recipe": spec.recipe,
                "text_field": spec.text_field,
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


# ------------------------------------------------------------------------------ estimate


@dataclass(frozen=True)
class Estimate:
    """Rough download size and compute time of a set of units (rates in the module)."""

    download_bytes: dict[str, int]
    cpu_seconds: float
    gpu_seconds: float
    unknown: tuple[str, ...]  # units whose size is not known (local or unregistered models)
    by_kind: dict[str, tuple[float, float]] = field(default_factory=dict)  # kind -> (cpu, gpu) s

    @property
    def total_bytes(self) -> int:
        """Every download together."""
        return sum(self.download_bytes.values())

    def lines(self) -> list[str]:
        """The estimate as the command prints it."""
        parts = ", ".join(f"{k} {_size(v)}" for k, v in self.download_bytes.items() if v)
        out = [
            f"download (rough): {_size(self.total_bytes)}" + (f" ({parts})" if parts else ""),
            f"compute (rough): {_duration(self.cpu_seconds)} on a CPU "
            f"(~{CPU_FLOPS / 1e9:g} GFLOP/s), {_duration(self.gpu_seconds)} on one GPU "
            f"(~{GPU_FLOPS / 1e12:g} TFLOP/s)",
        ]
        if len(self.by_kind) > 1:
            kinds = ", ".join(
                f"{kind} {_duration(cpu)} / {_duration(gpu)}"
                for kind, (cpu, gpu) in self.by_kind.items()
            )
            out.append(f"  of which (CPU / GPU): {kinds}")
        if self.unknown:
            out.append(
                f"not counted (size unknown): {len(self.unknown)} unit(s), e.g. {self.unknown[0]}"
            )
        return out


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _duration(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _unit_cost(unit: Unit, config: SweepConfig) -> tuple[dict[str, float], float, float, bool]:
    """(bytes by kind, cpu s, gpu s, known) of one unit."""
    p = unit.params
    if unit.kind == "measure":
        model = ModelSpec(
            p["source"], p["name"], p["revision"], local=Path(p["source"]).is_absolute()
        )
        entry = _registry(model)
        if entry is None:
            return {}, 0.0, 0.0, False
        n, m = entry.head_shape
        gram = 2.0 * n * m * m
        budget = float(p["options"].get("time_budget") or 60.0)
        pairs = p["options"].get("pairs")
        exact = n * n * m  # half of the 2 n^2 m flops of the all-pairs products
        cpu = gram / CPU_FLOPS + (0.0 if pairs == "gram" else min(exact / CPU_FLOPS, budget))
        if pairs == "exact":
            cpu = gram / CPU_FLOPS + exact / CPU_FLOPS
        gpu = (gram + (0 if pairs == "gram" else exact)) / GPU_FLOPS
        return {"heads": head_bytes(model)}, cpu, gpu, True
    if unit.kind == "loss":
        model = ModelSpec(
            p["source"], p["model_name"], p["revision"], local=Path(p["source"]).is_absolute()
        )
        entry = _registry(model)
        samples = p["samples"] or 1000
        tokens = samples * (p["max_length"] or 2048)
        text = {"corpora": tokens * TEXT_BYTES_PER_TOKEN} if p["corpus"].startswith("hf:") else {}
        params = parse_params(entry.nominal_params) if entry else None
        if not params:
            return text, 0.0, 0.0, False
        flops = 2.0 * params * tokens
        return {"models": weight_bytes(model), **text}, flops / CPU_FLOPS, flops / GPU_FLOPS, True
    if unit.kind == "freq":
        tokens = p["tokens"] or 1_000_000
        text_bytes = tokens * TEXT_BYTES_PER_TOKEN if p["corpus"].startswith("hf:") else 0
        local = Path(p["tokenizer"]).is_absolute()
        download = {"tokenizers": 0 if local else TOKENIZER_BYTES, "corpora": text_bytes}
        return download, tokens / 5e5, 0.0, True
    if unit.kind == "toy":
        spec = ToySpec("x", p["source"], p["table"])
        cfg = spec.load()
        runs = cfg.runs if p["run_index"] is None else (cfg.runs[p["run_index"]],)
        models = sum(len(r.seeds) for r in runs) * len(cfg.m)
        scale = cfg.n * cfg.batch / (1000 * 2048)
        cpu = cfg.steps * models * TOY_MODEL_STEP_S * scale
        return {}, cpu, cpu / 50.0, True
    return {}, 0.0, 0.0, False  # pragma: no cover


#: The downloads shared between units: one per model (loss units of one model on several
#: corpora), per corpus and per tokenizer, keyed by these unit parameters.
_DOWNLOADED_ONCE = {
    "models": ("source", "revision"),
    "corpora": ("corpus",),
    "tokenizers": ("tokenizer",),
}


def estimate(units: list[Unit], config: SweepConfig) -> Estimate:
    """A rough estimate of what running ``units`` downloads and costs (models counted once).

    Example:
        >>> from llmgeom.sweep.config import parse_config
        >>> cfg = parse_config('models = ["gpt2"]\\n[measure]\\npairs = "gram"')
        >>> e = estimate(expand_units(cfg), cfg)
        >>> e.download_bytes["heads"]   # 50257 x 768 float32
        154389504
    """
    totals: dict[str, int] = {}
    cpu = gpu = 0.0
    by_kind: dict[str, tuple[float, float]] = {}
    unknown = []
    counted: set[tuple] = set()
    for unit in units:
        parts, c, g, known = _unit_cost(unit, config)
        for part, names in _DOWNLOADED_ONCE.items():
            if part in parts:
                key = (part, *(unit.params[name] for name in names))
                if key in counted:
                    del parts[part]
                counted.add(key)
        for k, v in parts.items():
            totals[k] = totals.get(k, 0) + int(v)
        cpu += c
        gpu += g
        k_cpu, k_gpu = by_kind.get(unit.kind, (0.0, 0.0))
        by_kind[unit.kind] = (k_cpu + c, k_gpu + g)
        if not known:
            unknown.append(unit.id)
    return Estimate(totals, cpu, gpu, tuple(unknown), by_kind)


__all__ = [
    "Estimate", "corpus_name", "estimate", "expand_units", "freq_files", "loss_file",
    "measure_file", "tokenizer_name", "toy_run_labels",
]  # fmt: skip
