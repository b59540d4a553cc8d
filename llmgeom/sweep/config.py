"""The sweep configuration (TOML): this module alone reads and checks it.

Schema (every key optional except that something must be asked for)::

    out = "results/paper"             # relative to the config file's folder (default "results")
    executor = "local"                # where units run; also jobs, address (flags win)
    models = ["gpt2", "./ckpt"]       # or [[models]] tables: source, name, revision, family
    revisions = ["step1000", ...]     # or [[revisions]] tables: revision, models = [names]
    [measure]                         # every MeasureOptions field (llmgeom.measure's keywords)
    [loss]                            # corpora = [...], every LossOptions field (compute_loss's
                                      # keywords; max_length: at most, a model with a shorter
                                      # context uses its context) and every ModelOptions field
                                      # (load_model's: dtype, device, device_map)
    [freq]                            # corpora = [...], tokenizers = [...] and every FreqOptions
                                      # field (count_tokens's: tokens = 0 counts everything)
                                      # (each of the three may say models = [names] to run on
                                      # those models only)
    toy = ["toy-phase.toml", "quick"] # toy experiment files (or presets); or [[toy]] tables

Relative paths (``out``, local model sources, corpora, toy files, measure's ``weights``) are
relative to the config file's folder. ``revisions`` expands every model that names no revision
of its own over the listed training steps (a ``[[revisions]]`` table may restrict itself to some
models by name). The keys of each table are derived from the option types it sets
(:mod:`llmgeom.sweep.option_tables`): a key is the Python keyword's name, with its default and
its check, so a bad value gives the option type's own one-line
:class:`~llmgeom.errors.ConfigError`, in its table; a key that does not apply is an error
naming it (and the table it belongs in), never dropped.

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
    >>> parse_config('modles = ["gpt2"]')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: modles: not a top-level key of the sweep config; did you mean ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..configs import config_dir, read_toml_file
from ..errors import ConfigError
from ..options import MeasureOptions
from .analysis_tables import (
    FreqSpec,
    LossSpec,
    analysis_models,
    parse_freq,
    parse_loss,
    parse_measure,
)
from .config_values import read_toml
from .model_specs import ModelSpec, expand_revisions, parse_models, parse_revisions
from .option_tables import TABLES, read_table
from .sweep_options import SweepOptions
from .toy_specs import ToySpec, parse_toy

TOY_OUT = "results/toy"  # where a toy experiment file given as the sweep config writes


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
    options: SweepOptions = field(default_factory=SweepOptions)  # executor, jobs, address...

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


def parse_config(
    text: str, base_dir: str | os.PathLike[str] = ".", path: Path | None = None
) -> SweepConfig:
    """Parse the TOML ``text`` of a sweep config whose relative paths start at ``base_dir``."""
    return config_from_dict(read_toml(text, path), base_dir, path)


def config_from_dict(
    data: dict[str, Any], base_dir: str | os.PathLike[str] = ".", path: Path | None = None
) -> SweepConfig:
    """The :class:`SweepConfig` of a parsed mapping (see the module docstring)."""
    base = Path(base_dir).expanduser().resolve()
    (options,), _ = read_table(data, TABLES["top"], base)
    models = expand_revisions(
        parse_models(data.get("models"), base), parse_revisions(data.get("revisions"))
    )
    config = SweepConfig(
        path=path,
        out=(base / options.out).resolve(),
        models=tuple(models),
        measure=parse_measure(data.get("measure"), base),
        loss=parse_loss(data.get("loss"), base),
        freq=parse_freq(data.get("freq"), base),
        toy=parse_toy(data.get("toy"), base),
        only=analysis_models(data, models),
        options=options,
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
        data = read_toml_file(file, "sweep config")
    except FileNotFoundError:
        shipped = config_dir() / file.name
        if file.parent == Path(".") and shipped.is_file():  # a shipped config by bare name
            file, data = shipped, read_toml_file(shipped, "sweep config")
        else:
            raise ConfigError(f"no such sweep config: {path}") from None
    if not data or any(key in data for key in TABLES["top"].keys):
        config = config_from_dict(data, file.resolve().parent, file)
        if out is None:
            return config
        return replace(
            config,
            out=Path(out).expanduser().resolve(),
            options=replace(config.options, out=str(out)),
        )
    spec = ToySpec(file.stem, source=str(file.resolve()))  # no sweep key: a toy experiment file
    spec.check()
    config = SweepConfig(file, Path(out or TOY_OUT).expanduser().resolve(), (), toy=(spec,))
    return config


__all__ = [
    "FreqSpec", "LossSpec", "ModelSpec", "SweepConfig", "ToySpec", "config_from_dict",
    "load_config", "parse_config",
]  # fmt: skip
