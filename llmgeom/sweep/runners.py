"""Runners of the built-in unit kinds: the same library calls as the single commands.

* ``measure``: :func:`llmgeom.geometry.measurement.measure` then
  :func:`llmgeom.records.measurement.save_record` (``llmgeom measure``), labelled with the
  ``[[models]]`` name (when given) and family;
* ``loss``: :func:`llmgeom.text.lm.load_model` with the ``[loss]`` table's
  :class:`~llmgeom.text.options.ModelOptions` (and ``quantization``),
  :func:`llmgeom.text.loss.compute_loss` with its other
  :class:`~llmgeom.text.options.LossOptions`, :func:`llmgeom.text.loss.save_loss`
  (``llmgeom loss``), the shared ``losses.csv`` updated
  under a file lock so that concurrent units never lose each other's rows; ``[loss]``
  ``max_length`` is an upper bound: each model uses min(max_length, its context length), for
  truncation and the paper recipe's segments alike, and its record says which
  (``definition.max_length``, with the bound as ``max_length_limit``); a ``[[models]]`` name
  and family label the record (``model.label``, ``model.family``), its file and its row;
* ``freq``: :func:`llmgeom.text.freq.count_tokens` with the ``[freq]`` table's
  :class:`~llmgeom.text.options.FreqOptions` and its result's ``save`` (``llmgeom freq``);
* ``toy``: :func:`llmgeom.toy.experiment.run_experiment` on the file's config, or on one run
  of it (``llmgeom toy run``/``sweep``).

A runner returns the files it wrote relative to the output folder and raises on failure
(:func:`llmgeom.sweep.units.run_unit` turns the error into the unit's one-line outcome). A
written file whose name differs from the one the plan predicted is an error: the plan's names
are how a re-run knows what is done.

Example:
    >>> import csv, pathlib
    >>> _ = pathlib.Path("losses.csv").write_text("model,family,corpus,m,loss,head_width\\n"
    ...                                           "org/tiny,gpt2,wiki,64,3.5,64\\n")
    >>> DONE_CHECKS["loss"]({"model_name": "org/tiny", "corpus_name": "wiki"}, ".")
    True
    >>> DONE_CHECKS["loss"]({"model_name": "org/tiny", "corpus_name": "c4"}, ".")
    False
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError

LOCK_SUFFIX = ".lock"
_LOADED: dict[tuple, Any] = {}  # the last model a loss unit loaded in this process


def _relative(paths: list[Path], out: str) -> list[str]:
    return [os.path.relpath(p, out) for p in paths]


def _check_name(written: Path, expected: str) -> None:
    if written.name != expected:
        raise ConfigError(
            f"wrote {written.name} where the sweep expected {expected}: the sweep's naming is out "
            "of step with the command's (please report this)"
        )


def run_measure(params: dict[str, Any], out: str) -> list[str]:
    """One ``llmgeom measure`` result (merged into an earlier one of the same tensor)."""
    from ..geometry.measurement import measure
    from ..options import MeasureOptions
    from ..records.measurement import save_record

    values = {k: v for k, v in params["options"].items() if k != "progress"}
    values["revision"] = params.get("revision")
    values["name"], values["family"] = params.get("name"), params.get("family")  # [[models]]
    options = MeasureOptions(**values, progress=False)
    if options.weights is not None:
        from ..geometry.weights import load_counts

        options = options.replace(weights=load_counts(options.weights))
    report = measure(params["source"], options=options)
    saved = save_record(report.to_dict(), out)
    _check_name(saved.path, params["expected"])
    return _relative([saved.path], out)


def measure_done(params: dict[str, Any], out: str) -> bool:
    """Whether the result file holds what this unit asks: a valid record with the same rows
    rule and centring, the exact pass where ``pairs = "exact"``, weighted statistics where
    ``weights`` is given (an earlier ``--pairs gram`` run into the same folder is not enough)."""
    from ..errors import LlmgeomError
    from ..records.measurement import load_record

    try:
        record = load_record(Path(out) / params["expected"])
    except (LlmgeomError, OSError, ValueError):
        return False
    options = params["options"]
    variant = record.get("variant") or {}
    if (variant.get("rows"), variant.get("center")) != (options["rows"], options["center"]):
        return False
    if variant.get("fold_norm", False) != options.get("fold_norm", False):
        return False
    if options.get("pairs") == "exact" and record["stats"].get("abs_cos_method") != "exact":
        return False
    return not (options.get("weights") and not record.get("weighted"))


def _load_model(source: str, revision: str | None, keywords: dict[str, Any]) -> Any:
    """``load_model(source, revision=..., **keywords)``, the last model kept for the next unit."""
    from ..text.lm import load_model

    key = (source, revision, tuple(sorted(keywords.items())))
    if key not in _LOADED:
        _LOADED.clear()  # one model at a time in memory
        _LOADED[key] = load_model(source, revision=revision, **keywords, progress=False)
    return _LOADED[key]


def losses_lock(out: str | os.PathLike[str]) -> Any:
    """The file lock that serialises updates of ``out/losses.csv`` between processes."""
    from filelock import FileLock

    from ..text.loss import LOSSES_CSV

    return FileLock(str(Path(out) / f".{LOSSES_CSV}{LOCK_SUFFIX}"))


def loading_options(options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A :class:`~llmgeom.text.options.LossOptions` as keywords: those of
    :func:`~llmgeom.text.lm.load_model` (how the model loads: ``quantization``), and the rest,
    :func:`~llmgeom.text.loss.compute_loss`'s (a loaded model refuses a loading option).

    Example:
        >>> from llmgeom.text.options import LossOptions
        >>> loading, rest = loading_options(LossOptions(samples=5))
        >>> loading, rest["samples"]
        ({'quantization': 'none'}, 5)
    """
    import inspect

    from ..text.lm import load_model

    loads = set(inspect.signature(load_model).parameters)
    values = options.to_dict()
    return {k: v for k, v in values.items() if k in loads}, {
        k: v for k, v in values.items() if k not in loads
    }


def run_loss(params: dict[str, Any], out: str) -> list[str]:
    """One ``llmgeom loss`` result: the JSON and its row of ``losses.csv``."""
    from ..text.loss import compute_loss, max_length_at_most, save_loss
    from ..text.options import LossOptions, ModelOptions

    loading, keywords = loading_options(LossOptions(**params["options"]))
    model = ModelOptions(**params["model_options"])
    loaded = _load_model(params["source"], params.get("revision"), model.to_dict() | loading)
    limit = keywords["max_length"]  # "at most": each model is cut at min(limit, its context)
    keywords["max_length"] = max_length_at_most(limit, loaded.context_length)
    result = compute_loss(loaded, corpus=params["corpus"], **keywords, progress=False)
    if limit is not None:  # the record's max_length is the one used; this is the sweep's bound
        result = result.with_definition(max_length_limit=limit)
    result = result.with_labels(label=params.get("name"), family=params.get("family"))
    Path(out).mkdir(parents=True, exist_ok=True)
    with losses_lock(out):  # read-modify-rename of the shared table, one process at a time
        paths = save_loss(result, out)
    _check_name(paths[0], params["expected"])
    return _relative(paths, out)


def loss_done(params: dict[str, Any], out: str) -> bool:
    """Whether ``out/losses.csv`` holds the unit's (model, corpus) row."""
    from ..text.loss import LOSSES_CSV

    try:
        with open(Path(out) / LOSSES_CSV, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return any(
        (r.get("model"), r.get("corpus")) == (params["model_name"], params["corpus_name"])
        and (r.get("loss") or "").strip()
        for r in rows
    )


def run_freq(params: dict[str, Any], out: str) -> list[str]:
    """One ``llmgeom freq`` result: counts (npz), record (JSON), rank-frequency plot (PNG)."""
    from ..text.freq import count_tokens
    from ..text.options import FreqOptions
    from ..text.tokenizers import load_tokenizer

    options = FreqOptions(**params["options"])
    loaded = load_tokenizer(params["tokenizer"], revision=params.get("revision"))
    result = count_tokens(loaded, params["corpus"], **options.to_dict(), progress=False)
    Path(out).mkdir(parents=True, exist_ok=True)
    paths = result.save(out)
    return _relative(paths, out)


def run_toy(params: dict[str, Any], out: str) -> list[str]:
    """One toy experiment (its file's config, or one run of it) with the plan's stem."""
    from dataclasses import replace

    from ..toy.experiment import run_experiment
    from .toy_specs import ToySpec

    config = ToySpec("toy", params.get("source"), params.get("table")).load()
    if params.get("run_index") is not None:
        config = replace(config, runs=(config.runs[int(params["run_index"])],))
    if config.threads is None:
        # A toy unit asks the executor for one CPU; training on one thread also makes its float
        # results independent of the executor and of the machine's core count (torch's CPU
        # reductions are split by thread count), so local and Ray sweeps write identical values.
        config = replace(config, threads=1)
    _doc, paths = run_experiment(config, out, progress=False, stem=params["stem"])
    return _relative(paths, out)


DONE_CHECKS: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "measure": measure_done,
    "loss": loss_done,
}

#: The built-in unit kinds; :mod:`.units` reads this table (this module never imports it, so
#: the dependency points one way).
BUILTIN_RUNNERS: dict[str, Callable[[dict[str, Any], str], list[str]]] = {
    "measure": run_measure,
    "loss": run_loss,
    "freq": run_freq,
    "toy": run_toy,
}
