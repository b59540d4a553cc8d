"""Fuzz targets of the files llmgeom reads that are not checkpoints (issue 19): the sweep and
toy TOML configs (reference :mod:`tomllib`) and the JSON result records read by ``fit`` and
``report`` (reference :func:`json.loads`).

Each target's seeds are the committed configs / records and, for the TOML targets, structurally
mutated variants of them (:mod:`fuzz_toml`: values of other types, extreme numbers, odd strings,
keys dropped, renamed or written twice, deep nesting; the variant's name is its recipe, so a kept
input replays from its name). The property (:func:`fuzz_harness.check`): llmgeom's result equals
the reference reader's where the two map one to one, or llmgeom raises a typed error; the
reference reader failing means llmgeom must fail with a typed error too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import shutil
import tempfile
import tomllib
from functools import partial
from pathlib import Path
from typing import Any

from fuzz_harness import Outcome, Target, check
from fuzz_toml import build_seed, with_variants

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
VARIANTS_PER_SEED = 150  # structural variants of each TOML seed the campaign mutates further


# --------------------------------------------------------------------------- warming up


@functools.cache
def warm_up(target: str) -> None:
    """Parse the target's base seeds once outside the property, so that the modules a parser
    imports lazily are imported before fuzzing (the audit hook records a module's first import
    as an ``exec`` of its code: a side effect on whichever input came first)."""
    folder = Path(tempfile.mkdtemp(prefix="llmgeom-fuzz-warm-"))
    try:
        for name, data in _bases(target).items():
            with contextlib.suppress(Exception):
                _PARSERS[target](folder, name, data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- comparing values


def same_value(ours: Any, theirs: Any) -> bool:
    """``ours`` (a field of llmgeom's config object) equals ``theirs`` (the TOML value): numbers
    by value (NaN equals NaN; an int read into a float field is the same number), lists and
    tuples element by element, tables key by key."""
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return type(ours) is type(theirs) and ours == theirs
    if isinstance(theirs, int | float) and isinstance(ours, int | float):
        if isinstance(theirs, float) and math.isnan(theirs):
            return isinstance(ours, float) and math.isnan(ours)
        if isinstance(ours, float) and isinstance(theirs, int):  # an int read into a float field
            return abs(theirs) < 2**1024 and ours == float(theirs)
        return ours == theirs
    if isinstance(theirs, list) and isinstance(ours, list | tuple):
        return len(ours) == len(theirs) and all(map(same_value, ours, theirs))
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return ours.keys() == theirs.keys() and all(same_value(ours[k], theirs[k]) for k in theirs)
    return type(ours) is type(theirs) and ours == theirs


def _fields_match(obj: Any, table: dict[str, Any], converted: dict[str, Any]) -> bool:
    """Every key of ``table`` that is a field of ``obj`` holds the TOML value; ``converted``
    maps a key to how a string value is read (a duration, a size, a path)."""
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in table.items():
        if key not in names:
            continue
        ours = getattr(obj, key)
        if key in converted and isinstance(value, str):
            if not converted[key](ours, value):
                return False
        elif not same_value(ours, value):
            return False
    return True


def _a_positive_number(ours: Any, text: str) -> bool:  # "10m", "2G": read into a number
    return isinstance(ours, int | float) and not isinstance(ours, bool) and 0 < ours < math.inf


def _resolved(base: Path, ours: Any, text: str) -> bool:  # a local path, made absolute
    return isinstance(ours, str) and (ours == text or Path(ours) == (base / text).resolve())


# --------------------------------------------------------------------------- sweep configs

SWEEP_SEEDS = {
    "tables.toml": """
out = "res"
executor = "local"
jobs = 2
models = [
  {source = "gpt2", name = "g", family = "gpt2"},
  "pythia-70m",
  {source = "./ckpt", name = "local"},
]
revisions = [{revision = "step1", models = ["pythia-70m"]}, {revision = "step2", models = ["g"]}]
[measure]
pairs = "gram"
time_budget = "1m"
memory_budget = "1G"
weights = "./counts.npz"
center = true
seed = 3
models = ["g@step2"]
[loss]
corpora = ["./c.txt", "hf:wikitext:x:train"]
samples = 5
max_length = 64
dtype = "float32"
device = "cpu"
[freq]
corpora = ["hf:x"]
tokenizers = ["gpt2"]
tokens = 0
""",
    "toy-tables.toml": """
out = "toys"
toy = ["quick", {name = "t", n = 20, m = [2, 3, 4], steps = 10, gamma = [-1.0, 0.5]}]
""",
    "revisions.toml": """
models = ["pythia-70m", "pythia-160m@step3"]
revisions = ["step1000", "step2000"]
[measure]
pairs = "sample"
sample_rows = 100
rows = "all"
""",
}


def sweep_seeds(folder: Path) -> dict[str, bytes]:
    """The shipped sweep and toy configs, three written here, and their structural variants."""
    warm_up("sweep-toml")
    return with_variants(_bases("sweep-toml"), VARIANTS_PER_SEED)


def sweep_same(config: Any, toml: dict[str, Any], base: Path) -> bool:
    """llmgeom's :class:`~llmgeom.sweep.config.SweepConfig` says what the parsed TOML says:
    the top-level options, every key of ``[measure]``, ``[loss]`` and ``[freq]`` (durations and
    sizes read into numbers, local paths made absolute), each table's corpora, the models'
    given names and revisions, and one toy experiment per ``toy`` entry."""
    from llmgeom.sweep.config_values import resolve_path

    if not any(k in toml for k in ("out", "models", "measure", "loss", "freq", "toy", "executor")):
        return config.toy and config.toy[0].source is not None  # a toy experiment file
    if not _fields_match(config.options, toml, {}):
        return False
    if isinstance(toml.get("out"), str) and config.out != (base / toml["out"]).resolve():
        return False
    budgets = {"time_budget": _a_positive_number, "memory_budget": _a_positive_number}
    paths = {"weights": partial(_resolved, base)}
    tables = {
        "measure": [config.measure],
        "loss": [config.loss and config.loss.options, config.loss and config.loss.model],
        "freq": [config.freq and config.freq.options],
    }
    for key, objects in tables.items():
        if key not in toml:
            if any(o is not None for o in objects):
                return False
            continue
        for obj in objects:
            if obj is None or not _fields_match(obj, toml[key], budgets | paths):
                return False
        spec = getattr(config, key)
        if key != "measure" and [
            resolve_path(c, base) for c in _listed(toml[key]["corpora"])
        ] != list(spec.corpora):
            return False
    models = toml.get("models") or []
    names = {m["name"] for m in models if isinstance(m, dict) and "name" in m}
    if not names <= {m.name for m in config.models}:
        return False
    revisions = [r if isinstance(r, str) else r["revision"] for r in toml.get("revisions", [])]
    if not {m.revision for m in config.models} - {None} <= {*revisions, *_own_revisions(models)}:
        return False
    toys = toml.get("toy")
    return len(config.toy) == (0 if toys is None else len(toys) if isinstance(toys, list) else 1)


def _own_revisions(models: list[Any]) -> set[str]:
    """The revisions the ``models`` entries name themselves (``revision`` or ``source@rev``)."""
    out = set()
    for m in models:
        source = m if isinstance(m, str) else m.get("source", "")
        if isinstance(m, dict) and "revision" in m:
            out.add(m["revision"])
        if isinstance(source, str) and "@" in source:
            out.add(source.rsplit("@", 1)[1])
    return out


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def _toml_of(data: bytes) -> dict[str, Any]:
    return tomllib.loads(data.decode("utf-8"))


def run_sweep_toml(folder: Path, data: bytes) -> Outcome:
    """``llmgeom.sweep.config.load_config`` on ``folder/sweep.toml`` holding ``data``."""
    warm_up("sweep-toml")
    path = folder / "sweep.toml"
    path.write_bytes(data)
    return check(
        lambda: parse_sweep(path),
        lambda: _toml_of(data),
        same=lambda ours, theirs: sweep_same(ours, theirs, folder.resolve()),
        allowed_dirs=[folder],
    )


# --------------------------------------------------------------------------- toy configs


def toy_seeds(folder: Path) -> dict[str, bytes]:
    """The shipped toy experiment files and their structural variants."""
    warm_up("toy-toml")
    return with_variants(_bases("toy-toml"), VARIANTS_PER_SEED)


def toy_same(config: Any, toml: dict[str, Any]) -> bool:
    """llmgeom's :class:`~llmgeom.toy.config.ToyConfig` says what the parsed TOML says: every
    top-level field, and each run's fields (its table's, else the top-level value, else the
    grid of top-level gamma × alpha)."""
    from llmgeom.toy.config import ToyRun

    run_keys = {f.name for f in dataclasses.fields(ToyRun)}
    top = {k: v for k, v in toml.items() if k not in run_keys and k != "runs"}
    defaults = {k: v for k, v in toml.items() if k in run_keys and k not in ("gamma", "alpha")}
    if "runs" in toml:
        tables = [{**defaults, **t} for t in toml["runs"]]
    else:
        gammas = _listed_value(toml.get("gamma", -1.0))
        alphas = _listed_value(toml.get("alpha", 1.0))
        tables = [{**defaults, "gamma": g, "alpha": a} for a in alphas for g in gammas]
    for table in [top, *tables]:  # one number where a list goes: a list of one
        for key in ("m", "seeds"):
            if key in table and not isinstance(table[key], list):
                table[key] = [table[key]]
    if not _fields_match(config, top, {}) or len(tables) != len(config.runs):
        return False
    return all(
        _fields_match(run, table, {}) for run, table in zip(config.runs, tables, strict=True)
    )


def _listed_value(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def run_toy_toml(folder: Path, data: bytes) -> Outcome:
    """``llmgeom.toy.config.load_config`` on ``folder/toy-fuzz.toml`` holding ``data``."""
    warm_up("toy-toml")
    path = folder / "toy-fuzz.toml"
    path.write_bytes(data)

    def reference() -> dict[str, Any]:
        toml = _toml_of(data)
        return {"name": "fuzz", **toml}  # the file's name is the experiment's default name

    return check(
        lambda: parse_toy(path),
        reference,
        same=toy_same,
        allowed_dirs=[folder],
    )


def parse_sweep(path: Path) -> Any:
    """The sweep config at ``path`` as ``llmgeom sweep`` reads it."""
    from llmgeom.sweep.config import load_config

    return load_config(path)


def parse_toy(path: Path) -> Any:
    """The toy experiment file at ``path`` as ``llmgeom toy run`` reads it."""
    from llmgeom.toy.config import load_config

    return load_config(path)


def _bases(target: str) -> dict[str, bytes]:
    """The unmutated seeds of ``target``."""
    if target == "sweep-toml":
        bases = {p.name: p.read_bytes() for p in sorted(CONFIGS.glob("*.toml"))}
        return bases | {n: t.lstrip().encode() for n, t in SWEEP_SEEDS.items()}
    return {p.name: p.read_bytes() for p in sorted(CONFIGS.glob("toy-*.toml"))}


def _write_and_parse(parse: Any, file_name: str) -> Any:
    def run(folder: Path, name: str, data: bytes) -> Any:
        (folder / file_name).write_bytes(data)
        return parse(folder / file_name)

    return run


_PARSERS = {
    "sweep-toml": _write_and_parse(parse_sweep, "sweep.toml"),
    "toy-toml": _write_and_parse(parse_toy, "toy-fuzz.toml"),
}


def replay_seed(target: str, name: str) -> bytes:
    """The bytes of a kept input's seed (a base seed or a structural variant, by its name)."""
    return build_seed(name, _bases(target))


TARGETS = [
    Target("sweep-toml", sweep_seeds, run_sweep_toml),
    Target("toy-toml", toy_seeds, run_toy_toml),
]
