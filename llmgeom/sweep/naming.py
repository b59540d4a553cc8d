"""The files each unit writes, named by the same rules as the single commands: ``llmgeom
measure``'s result stem, ``llmgeom loss``'s ``<model>.<corpus>.loss.json``, ``llmgeom freq``'s
``<tokenizer>.<corpus>.*``; a re-run tells from these names which units are done.

Example:
    >>> loss_file(ModelSpec("gpt2", "gpt2"), "hf:wikitext:wikitext-103-v1:train")
    'openai-community--gpt2.wikitext-103-v1.loss.json'
    >>> freq_files("gpt2", "/data/wiki.txt")[0]
    'gpt2.wiki.counts.npz'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .model_specs import ModelSpec

LOSSES_CSV = "losses.csv"  # the table every loss unit adds its row to


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
