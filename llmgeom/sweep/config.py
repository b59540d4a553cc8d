"""The sweep configuration (TOML): this module alone reads and checks it.

Schema (every key optional except that something must be asked for)::

    out = "results/paper"             # relative to the config file's folder (default "results")
    models = ["gpt2", "./ckpt"]       # or [[models]] tables: source, name, revision, family
    revisions = ["step1000", ...]     # or [[revisions]] tables: revision, models = [names]
    [measure]                         # llmgeom measure's options (MeasureOptions fields)
    [loss]                            # corpora = [...], dtype, device and the LossOptions
                                      # samples, max_length, text_field, recipe, batch_tokens
                                      # (max_length: at most; a model with a shorter context
                                      # uses its context)
    [freq]                            # corpora = [...], tokenizers = [...] and the FreqOptions
                                      # tokens (0: the whole corpus), samples, max_length,
                                      # text_field, recipe
                                      # (each of the three may say models = [names] to run on
                                      # those models only)
    toy = ["toy-phase.toml", "quick"] # toy experiment files (or presets); or [[toy]] tables

Relative paths (``out``, local model sources, corpora, toy files, measure's ``weights``) are
relative to the config file's folder. ``revisions`` expands every model that names no revision
of its own over the listed training steps (a ``[[revisions]]`` table may restrict itself to some
models by name). Unknown keys and bad values are a one-line :class:`~llmgeom.errors.ConfigError`
naming the key. The analysis options are checked by the same types as the Python functions and
the commands (:class:`~llmgeom.options.MeasureOptions`, :class:`~llmgeom.text.options.LossOptions`,
:class:`~llmgeom.text.options.FreqOptions`): a key is the Python parameter's name.

Example:
    >>> cfg = parse_config('''
    ... out = "res"
    ... models = ["pythia-70m", {source = "gpt2", name = "g"}]
    ... revisions = ["step1000", "step2000"]
    ... [measure]
    ... pairs = "gram"
    ... ''', base_dir="/data")
    >>> str(cfg.out), [m.label for m in cfg.models]
    ('/data/res', ['pythia-70m@step1000', 'pythia-70m@step2000', 'g@step1000', 'g@step2000'])
    >>> cfg.measure.pairs
    'gram'
    >>> parse_config('modles = ["gpt2"]')
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: sweep config: unknown key 'modles' (known: freq, loss, measure, ...)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import MeasureOptions
from ..text.options import FreqOptions, LossOptions

TOP_KEYS = ("out", "models", "revisions", "measure", "loss", "freq", "toy")
MODEL_KEYS = ("source", "name", "revision", "family")
REVISION_KEYS = ("revision", "models")
# the sweep batches by tokens with right padding (whole-document batches and left padding are
# for a single `llmgeom loss` / compute_loss call): those two options are not sweep keys
LOSS_OPTION_KEYS = tuple(
    f.name for f in fields(LossOptions) if f.name not in ("batch_size", "padding_side")
)
LOSS_KEYS = (*LOSS_OPTION_KEYS, "corpora", "dtype", "device", "models")
FREQ_OPTION_KEYS = tuple(f.name for f in fields(FreqOptions))
FREQ_KEYS = (*FREQ_OPTION_KEYS, "corpora", "tokenizers", "models")
TOY_OUT = "results/toy"  # where a toy experiment file given as the sweep config writes
DTYPES = ("auto", "float32", "float16", "bfloat16")
MODEL_LABELS = ("name", "family")  # MeasureOptions fields given per model ([[models]])
MEASURE_OPTION_KEYS = tuple(
    f.name for f in fields(MeasureOptions) if f.name not in ("progress", *MODEL_LABELS)
)
MEASURE_KEYS = (*MEASURE_OPTION_KEYS, "models")
ANALYSES = ("measure", "loss", "freq")


@dataclass(frozen=True)
class ModelSpec:
    """One model (at one revision): ``source`` is absolute for a local path, else as given.

    ``named``: the config gave ``name`` (it then labels the measurement and loss records and
    their files: :attr:`given_name`); otherwise ``name`` is derived from the source and the
    records are named as by the single commands.
    """

    source: str
    name: str
    revision: str | None = None
    family: str | None = None
    local: bool = False
    named: bool = False

    @property
    def given_name(self) -> str | None:
        """The name the config gave (the records' label), None when derived from the source."""
        return self.name if self.named else None

    @property
    def label(self) -> str:
        """``name`` or ``name@revision`` (unit ids use it)."""
        return f"{self.name}@{self.revision}" if self.revision else self.name


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
    quantization: str = "none"  # "8bit" / "4bit": bitsandbytes, as the authors' script loaded


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


@dataclass(frozen=True)
class ToySpec:
    """One toy experiment: a file or preset (``source``), or an inline table (``table``)."""

    name: str
    source: str | None = None
    table: dict[str, Any] | None = None

    def load(self) -> Any:
        """The :class:`~llmgeom.toy.config.ToyConfig`."""
        from ..toy.config import config_from_dict, load_config

        if self.table is not None:
            return config_from_dict(dict(self.table), source=f"toy {self.name}")
        return load_config(self.source or self.name)


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, checked sweep config (paths absolute)."""

    path: Path | None
    out: Path
    models: tuple[ModelSpec, ...]
    measure: MeasureOptions | None = None
    loss: LossSpec | None = None
    freq: FreqSpec | None = None
    toy: tuple[ToySpec, ...] = ()
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)  # analysis -> model names

    def models_for(self, analysis: str) -> tuple[ModelSpec, ...]:
        """The models ``analysis`` runs on: all, or those its table's ``models`` names."""
        names = self.only.get(analysis)
        if names is None:
            return self.models
        return tuple(m for m in self.models if {m.name, m.label} & set(names))

    def with_models(self, names: list[str]) -> SweepConfig:
        """Only the models whose name or source is in ``names`` (``reproduce --models``)."""
        wanted = set(names)
        kept = tuple(m for m in self.models if {m.name, m.source, m.label} & wanted)
        found = {key for m in kept for key in (m.name, m.source, m.label)}
        missing = sorted(wanted - found)
        if missing:
            known = ", ".join(dict.fromkeys(m.name for m in self.models))
            raise ConfigError(f"no model named {', '.join(missing)} in the config (known: {known})")
        return replace(self, models=kept)


def _where(section: str | None, key: str) -> str:
    return f"{section}.{key}" if section else key


def _check_keys(table: dict[str, Any], known: tuple[str, ...], section: str | None) -> None:
    for key in table:
        if key not in known:
            where = f"[{section}]" if section else "sweep config"
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")


def _str(value: Any, key: str, section: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{_where(section, key)} must be a non-empty string, got {value!r}")
    return value


def _str_list(value: Any, key: str, section: str | None = None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{_where(section, key)} must be a non-empty list of strings")
    return [_str(v, key, section) for v in value]


def _is_local(text: str, base: Path) -> bool:
    return text.startswith((".", "/", "~")) or (base / text).expanduser().exists()


def _resolve(text: str, base: Path) -> str:
    """``text`` as an absolute path when it is a local path, else unchanged (Hub id, hf:)."""
    if text.startswith("hf:") or not _is_local(text, base):
        return text
    return str((base / Path(text).expanduser()).resolve())


def _model_name(source: str, local: bool) -> str:
    if local:
        return Path(source).name if Path(source).is_dir() else Path(source).stem
    from ..sources.registry import alias_for, lookup

    entry = lookup(source.split("@", 1)[0])
    return entry.alias if entry else alias_for(source.split("@", 1)[0])


def _family(source: str, local: bool) -> str | None:
    if local:
        return None
    from ..sources.registry import lookup

    entry = lookup(source.split("@", 1)[0])
    return entry.family if entry else None


def _models(raw: Any, base: Path) -> list[ModelSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("models must be a list of sources or [[models]] tables")
    out = []
    for i, item in enumerate(raw):
        table = {"source": item} if isinstance(item, str) else item
        if not isinstance(table, dict):
            raise ConfigError(f"models[{i}] must be a source string or a table")
        _check_keys(table, MODEL_KEYS, f"models[{i}]")
        if "source" not in table:
            raise ConfigError(f"models[{i}].source is missing")
        text = _str(table["source"], "source", f"models[{i}]")
        local = _is_local(text, base)
        source = _resolve(text, base)
        revision = table.get("revision")
        if revision is not None:
            revision = _str(revision, "revision", f"models[{i}]")
        elif not local and "@" in text:
            source, revision = text.rsplit("@", 1)
        name = table.get("name")
        name = (
            _str(name, "name", f"models[{i}]") if name is not None else _model_name(source, local)
        )
        family = table.get("family")
        family = _str(family, "family", f"models[{i}]") if family else _family(source, local)
        out.append(ModelSpec(source, name, revision, family, local, "name" in table))
    return out


def _revisions(raw: Any) -> list[tuple[str, set[str] | None]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise ConfigError("revisions must be a non-empty list of revisions or [[revisions]] tables")
    out: list[tuple[str, set[str] | None]] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append((_str(item, f"revisions[{i}]"), None))
            continue
        if not isinstance(item, dict):
            raise ConfigError(f"revisions[{i}] must be a revision string or a table")
        _check_keys(item, REVISION_KEYS, f"revisions[{i}]")
        if "revision" not in item:
            raise ConfigError(f"revisions[{i}].revision is missing")
        names = item.get("models")
        only = set(_str_list(names, "models", f"revisions[{i}]")) if names is not None else None
        out.append((_str(item["revision"], "revision", f"revisions[{i}]"), only))
    return out


def _expand(models: list[ModelSpec], revisions: list[tuple[str, set[str] | None]]) -> list:
    if not revisions:
        return models
    out = []
    for model in models:
        revs = [r for r, only in revisions if only is None or model.name in only]
        if model.revision is not None or not revs:
            out.append(model)
            continue
        if model.local:
            raise ConfigError(f"revisions apply to Hub models; {model.name} is a local path")
        out.extend(replace(model, revision=r) for r in revs)
    return out


def _measure(raw: Any, base: Path) -> MeasureOptions | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[measure] must be a table")
    _check_keys(raw, MEASURE_KEYS, "measure")
    values = {k: v for k, v in raw.items() if k in MEASURE_OPTION_KEYS}
    if isinstance(values.get("weights"), str):
        values["weights"] = _resolve(values["weights"], base)
    return _options(MeasureOptions, values, "measure", progress=False)


def _options(cls: type, values: dict[str, Any], section: str, **fixed: Any) -> Any:
    """``cls(**values)``: its own one-line error, in the section (keys are checked before)."""
    try:
        return cls(**values, **fixed)
    except ConfigError as err:
        raise ConfigError(f"[{section}]: {err}") from None


def _corpora(table: dict[str, Any], section: str, base: Path) -> tuple[str, ...]:
    if "corpora" not in table:
        raise ConfigError(f"{section}.corpora is missing")
    return tuple(_resolve(c, base) for c in _str_list(table["corpora"], "corpora", section))


def _loss(raw: Any, base: Path) -> LossSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[loss] must be a table")
    _check_keys(raw, LOSS_KEYS, "loss")
    opts = _options(LossOptions, {k: v for k, v in raw.items() if k in LOSS_OPTION_KEYS}, "loss")
    dtype = raw.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"loss.dtype: unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})")
    device = _str(raw.get("device", "auto"), "device", "loss")
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
        quantization=opts.quantization,
    )


def _freq(raw: Any, base: Path) -> FreqSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("[freq] must be a table")
    _check_keys(raw, FREQ_KEYS, "freq")
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
        else tuple(_resolve(t, base) for t in _str_list(tokenizers, "tokenizers", "freq")),
    )


def _toy(raw: Any, base: Path) -> tuple[ToySpec, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            local = _is_local(item, base) or item.endswith(".toml")
            source = _resolve(item, base) if local else item
            if local and not Path(source).is_file():
                raise ConfigError(f"toy[{i}]: no such toy config file {item!r}")
            name = Path(source).stem if local else f"toy-{item.removeprefix('toy-')}"
            out.append(ToySpec(name, source=source))
        elif isinstance(item, dict):
            table = dict(item)
            name = table.get("name", f"toy{i}")
            out.append(ToySpec(f"toy-{_str(name, 'name', f'toy[{i}]')}", table=table))
        else:
            raise ConfigError(f"toy[{i}] must be a toy config file, a preset name or a table")
    for spec in out:
        try:
            spec.load()  # every toy file checked now, before any unit runs
        except ConfigError as err:
            raise ConfigError(f"toy {spec.name}: {err}") from None
    return tuple(out)


def _only(data: dict[str, Any], models: list[ModelSpec]) -> dict[str, tuple[str, ...]]:
    """``models = [names]`` of the analysis tables, each name checked against the models."""
    known = {key for m in models for key in (m.name, m.label)}
    only = {}
    for analysis in ANALYSES:
        table = data.get(analysis)
        if isinstance(table, dict) and "models" in table:
            names = _str_list(table["models"], "models", analysis)
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ConfigError(f"{analysis}.models: no model named {', '.join(unknown)}")
            only[analysis] = tuple(names)
    return only


def parse_config(
    text: str, base_dir: str | os.PathLike[str] = ".", path: Path | None = None
) -> SweepConfig:
    """Parse the TOML ``text`` of a sweep config whose relative paths start at ``base_dir``."""
    return config_from_dict(_toml(text, path), base_dir, path)


def _toml(text: str, path: Path | None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = path or "sweep config"
        raise ConfigError(f"{where}: invalid TOML: {err}") from None


def config_from_dict(
    data: dict[str, Any], base_dir: str | os.PathLike[str] = ".", path: Path | None = None
) -> SweepConfig:
    """The :class:`SweepConfig` of a parsed mapping (see the module docstring)."""
    base = Path(base_dir).expanduser().resolve()
    _check_keys(data, TOP_KEYS, None)
    out = base / _str(data.get("out", "results"), "out")
    models = _expand(_models(data.get("models"), base), _revisions(data.get("revisions")))
    config = SweepConfig(
        path=path,
        out=out.resolve(),
        models=tuple(models),
        measure=_measure(data.get("measure"), base),
        loss=_loss(data.get("loss"), base),
        freq=_freq(data.get("freq"), base),
        toy=_toy(data.get("toy"), base),
        only=_only(data, models),
    )
    if not config.toy and not (config.models and (config.measure or config.loss or config.freq)):
        if config.freq is None or config.freq.tokenizers is None:
            raise ConfigError(
                "the sweep config asks for nothing: give models with [measure], [loss] or [freq], "
                "or toy configs"
            )
    labels = [m.label for m in config.models]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ConfigError(f"two models are named {', '.join(dupes)}: give them distinct names")
    return config


def load_config(
    path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> SweepConfig:
    """Read and check the sweep config file at ``path`` (one-line ConfigError if not usable).

    ``out`` (relative to the current folder) replaces the config's ``out``. A toy experiment
    file (no sweep key, e.g. ``configs/toy-phase.toml``) is a sweep of its runs, into ``out``
    or ``results/toy``. A bare name that is not a file is looked up among the shipped configs.

    Example:
        >>> from pathlib import Path
        >>> _ = Path("s.toml").write_text('out = "r"\\ntoy = ["quick"]\\n')
        >>> cfg = load_config("s.toml")
        >>> cfg.out == Path("r").resolve(), [t.name for t in cfg.toy]
        (True, ['toy-quick'])
        >>> cfg = load_config("toy-phase.toml")        # shipped, a toy experiment file
        >>> cfg.out == Path("results/toy").resolve(), cfg.toy[0].name
        (True, 'toy-phase')
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        from ..configs import config_dir

        shipped = config_dir() / file.name
        if file.parent == Path(".") and shipped.is_file():  # a shipped config by bare name
            file, text = shipped, shipped.read_text(encoding="utf-8")
        else:
            raise ConfigError(f"no such sweep config: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the sweep config {path}: {err}") from None
    data = _toml(text, file)
    if not data or any(key in data for key in TOP_KEYS):
        config = config_from_dict(data, file.resolve().parent, file)
        return config if out is None else replace(config, out=Path(out).expanduser().resolve())
    spec = ToySpec(file.stem, source=str(file.resolve()))  # no sweep key: a toy experiment file
    try:
        spec.load()
    except ConfigError as err:
        raise ConfigError(f"toy {spec.name}: {err}") from None
    config = SweepConfig(file, Path(out or TOY_OUT).expanduser().resolve(), (), toy=(spec,))
    return config
