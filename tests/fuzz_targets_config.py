"""Fuzz targets of the files llmgeom reads that are not checkpoints (issue 19): the sweep and
toy TOML configs (reference :mod:`tomllib`) and the JSON result records read by ``fit`` and
``report`` (reference :func:`json.loads`).

Each target's seeds are the committed configs / records and, for the TOML targets, structurally
mutated variants of them (:mod:`fuzz_struct`: values of other types, extreme numbers, odd strings,
keys dropped, renamed or written twice, deep nesting; the variant's name is its recipe, so a kept
input replays from its name). The property (:func:`fuzz_harness.check`): llmgeom's result equals
the reference reader's where the two map one to one, or llmgeom raises a typed error; the
reference reader failing means llmgeom must fail with a typed error too.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import math
import shutil
import tempfile
import tomllib
from functools import partial
from pathlib import Path
from typing import Any

from fuzz_harness import Outcome, Target, check
from fuzz_struct import build_seed, with_variants

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
memory_budget = "1GiB"
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
    if target == "tokens-json":
        return {k: v for k, v in _token_table_files().items() if k.endswith(".json")}
    if target in ("record-json", "report-folder", "fit-overlap"):
        return record_bases()
    if target == "sweep-toml":
        bases = {p.name: p.read_bytes() for p in sorted(CONFIGS.glob("*.toml"))}
        return bases | {n: t.lstrip().encode() for n, t in SWEEP_SEEDS.items()}
    return {p.name: p.read_bytes() for p in sorted(CONFIGS.glob("toy-*.toml"))}


def _write_and_parse(parse: Any, file_name: str) -> Any:
    def run(folder: Path, name: str, data: bytes) -> Any:
        (folder / file_name).write_bytes(data)
        return parse(folder / file_name)

    return run


def _read_every_way(path: Path) -> None:
    for read in _readers().values():
        with contextlib.suppress(Exception):
            read(path)


_PARSERS = {
    "sweep-toml": _write_and_parse(parse_sweep, "sweep.toml"),
    "toy-toml": _write_and_parse(parse_toy, "toy-fuzz.toml"),
    "record-json": _write_and_parse(_read_every_way, "record.json"),
}


def replay_seed(target: str, name: str) -> bytes:
    """The bytes of a kept input's seed (a base seed or a structural variant, by its name)."""
    return build_seed(name, _bases(target))


TARGETS = [
    Target("sweep-toml", sweep_seeds, run_sweep_toml),
    Target("toy-toml", toy_seeds, run_toy_toml),
]


# --------------------------------------------------------------------------- JSON records

GOLDEN = REPO / "tests" / "golden"
RECORD_FILE = "record.json"


@functools.cache
def record_bases() -> dict[str, bytes]:
    """The committed records (``tests/golden``: measurements, losses, token frequencies, fits,
    a toy result; the four toy results under ``results/`` are 0.2-0.9 MB and left out for
    speed) and the current version of each former-version record, as llmgeom reads it."""
    bases = {p.name: p.read_bytes() for p in sorted(GOLDEN.rglob("*.json"))}
    current = {}
    for name, data in bases.items():
        record = json.loads(data)
        schema = str(record.get("schema"))
        if schema in ("llmgeom.measurement/1",) or schema.startswith("llmgeom.fit."):
            folder = Path(tempfile.mkdtemp(prefix="llmgeom-fuzz-seed-"))
            try:
                (folder / name).write_bytes(data)
                new = _readers()["load_record" if "measurement" in schema else "load_fit"](
                    folder / name
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if new.get("schema") != schema:
                current[name.replace(".json", ".current.json")] = json.dumps(new).encode()
    return bases | current


def record_seeds(folder: Path) -> dict[str, bytes]:
    """The committed records and their structural variants."""
    warm_up("record-json")
    warm_up("report-folder")
    return with_variants(_bases("record-json"), VARIANTS_PER_SEED)


@functools.cache
def _readers() -> dict[str, Any]:
    """Every reader of a result record the user meets, by name: the measurement, loss, freq,
    toy and fit readers of ``report`` and ``fit``, and the typed results' ``load``."""
    from llmgeom.fits.io import load_fit
    from llmgeom.fits.results import ChinchillaFit, OverlapFit, WidthLossFit
    from llmgeom.geometry.result import MeasureResult
    from llmgeom.records.measurement import load_record
    from llmgeom.text.freq_record import load_freq_record
    from llmgeom.text.loss import LossResult, load_loss_record
    from llmgeom.toy.report import load_result
    from llmgeom.toy.result import ToyResult

    def typed(cls: Any) -> Any:
        return lambda path: cls.load(path).to_dict()

    return {
        "load_record": load_record,
        "load_fit": load_fit,
        "load_loss_record": load_loss_record,
        "load_freq_record": load_freq_record,
        "toy.load_result": load_result,
        **{
            f"{cls.__name__}.load": typed(cls)
            for cls in (
                MeasureResult,
                LossResult,
                ToyResult,
                OverlapFit,
                WidthLossFit,
                ChinchillaFit,
            )
        },
    }


def _leaves(data: Any) -> list[tuple[tuple, Any]]:
    """``(path, value)`` of every scalar in ``data`` (without recursion: records nest deep)."""
    out, stack = [], [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        else:
            out.append((path, node))
    return out


def _numbers(data: Any, dropped: tuple[tuple, ...] = ()) -> collections.Counter:
    """The numbers of ``data`` (NaN counted by its text), leaving out those at ``dropped``
    paths (keys a migration drops: the /1 measurement's copies of other fields)."""
    return collections.Counter(
        repr(v)
        for p, v in _leaves(data)
        if isinstance(v, int | float) and not isinstance(v, bool) and p[:2] not in dropped
    )


#: what the migration of a /1 measurement drops (copies of other fields; migrate_record)
MEASUREMENT_V1_DROPS = (("stats", "ratio_to_random"), ("variant", "n_rows_used"))


def record_same(ours: Any, theirs: Any) -> bool:
    """A record read by llmgeom equals the JSON's: exactly (NaN equal to NaN) when it was read
    as it is; a record of a former version, brought to the current one, keeps every number
    (but the copies the migration drops) and the fields it does not rename."""
    if ours.get("schema") == theirs.get("schema"):
        return same_json(ours, theirs)
    dropped = MEASUREMENT_V1_DROPS if theirs.get("schema") == "llmgeom.measurement/1" else ()
    if _numbers(ours) != _numbers(theirs, dropped):
        return False
    kept = ("model", "corpus", "tokenizer", "config")
    return all(same_json(ours[k], theirs[k]) for k in kept if k in theirs and k in ours)


def same_json(a: Any, b: Any) -> bool:
    """Deep equality of two JSON values, NaN equal to NaN, an int never equal to a float
    (without recursion: records nest deep)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
            return False
    return True


def run_record_json(folder: Path, data: bytes) -> Outcome:
    """Every record reader of :func:`_readers` on ``folder/record.json`` holding ``data``: each
    gives the JSON's record or a typed error (the outcome: the readers' outcomes together)."""
    warm_up("record-json")
    path = folder / RECORD_FILE
    path.write_bytes(data)
    outcomes = []
    for name, read in _readers().items():
        outcome = check(
            lambda read=read: read(path),
            lambda: json.loads(data.decode("utf-8")),
            same=record_same,
            allowed_dirs=[folder],
        )
        outcomes.append(f"{name}={outcome.detail or outcome.kind}")
    read_ok = [o.split("=")[0] for o in outcomes if o.endswith("=same")]
    return Outcome("same" if read_ok else "typed-error", ",".join(read_ok) or "all refused")


TARGETS.append(Target("record-json", record_seeds, run_record_json))


# --------------------------------------------------------------------------- a report's folder

#: the valid records beside the mutated one (three widths of one family: the report fits a law)
REPORT_COMPANIONS = (
    "zoo/gpt2-w8.raw.json",
    "zoo/gpt2-w16.raw.json",
    "zoo/gpt2-w32.raw.json",
    "loss/tiny-gpt2.c4.loss.json",
    "fit-chinchilla/chinchilla_fit.json",
)
MUTATED = "record.json"


def report_pages(folder: Path) -> Any:
    """What ``llmgeom report`` computes from ``folder`` but the figures: the gathered records,
    the laws, the summary rows and the HTML page (figures are drawn by :func:`build_report`,
    too slow for a campaign; the suite runs it on a few mutated folders)."""
    from llmgeom.report.build import _page
    from llmgeom.report.figures import Context
    from llmgeom.report.gather import gather
    from llmgeom.report.html import render_page
    from llmgeom.report.paper_table import paper_rows
    from llmgeom.report.summary import summary_rows

    found = gather(folder)
    ctx = Context.build(found)
    rows = summary_rows(found, [ctx.overlap, ctx.width_loss], paper_rows(ctx))
    render_page(_page(found, ctx, {}, {}, rows, folder))
    return found


def where_it_went(found: Any, data: bytes) -> str:
    """Where the mutated record landed in a gathered folder (``corrupt``, ``skipped`` or the
    kind it was read as), after checking the property: each file once, a corrupt file's reason
    one line, a record read equal to the JSON, a file that is no JSON never read, and every
    companion record read (or superseded by the mutated one: the same model, newer)."""
    from fuzz_harness import PropertyViolation

    from llmgeom.errors import one_line

    placed: dict[str, list[str]] = collections.defaultdict(list)
    for item in found.items():
        placed[item.rel].append(item.kind)
    for rel, reason in found.skipped:
        placed[rel].append("skipped" if "superseded" not in reason else "superseded")
    for rel, reason in found.corrupt:
        placed[rel].append("corrupt")
        if reason != one_line(reason) or not reason:
            raise PropertyViolation(f"{rel}: the reason is not one line: {reason!r:.200}")
    if len(placed[MUTATED]) != 1:
        raise PropertyViolation(f"{MUTATED} listed {placed[MUTATED]} (once expected)")
    for companion in REPORT_COMPANIONS:
        rel = Path(companion).name
        if placed[rel] in (["corrupt"], ["skipped"]) or len(placed[rel]) != 1:
            raise PropertyViolation(f"the valid {rel} was listed {placed[rel]}")
    landed = placed[MUTATED][0]
    try:
        theirs = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        if landed != "corrupt":
            raise PropertyViolation(f"{MUTATED} is no JSON, yet listed as {landed}") from None
        return landed
    item = next((i for i in found.items() if i.rel == MUTATED), None)
    if item is not None and isinstance(item.data, dict) and not record_same(item.data, theirs):
        raise PropertyViolation(f"{MUTATED} was read as a record other than the JSON's")
    return landed


def run_report_folder(folder: Path, data: bytes) -> Outcome:
    """The report's reading of ``folder`` holding the companion records and ``data`` as
    ``record.json``: the mutated file is read (equal to its JSON) or listed as corrupt or
    skipped, the companions are read, and no other exception."""
    warm_up("report-folder")
    for companion in REPORT_COMPANIONS:
        shutil.copyfile(GOLDEN / "v0_1" / companion, folder / Path(companion).name)
    (folder / MUTATED).write_bytes(data)
    landed: list[str] = []
    outcome = check(
        lambda: landed.append(where_it_went(report_pages(folder), data)),
        allowed_dirs=[folder],
    )
    return Outcome(outcome.kind, landed[0] if landed else outcome.detail)


def _report_once(folder: Path, name: str, data: bytes) -> Any:
    for companion in REPORT_COMPANIONS:
        shutil.copyfile(GOLDEN / "v0_1" / companion, folder / Path(companion).name)
    (folder / MUTATED).write_bytes(data)
    return report_pages(folder)


_PARSERS["report-folder"] = _report_once
TARGETS.append(Target("report-folder", record_seeds, run_report_folder))


# --------------------------------------------------------------------------- a fit's inputs

#: what a folder's JSON file must say it is to be read as a measurement (``/1`` is migrated)
MEASUREMENT_SCHEMAS = ("llmgeom.measurement/2", "llmgeom.measurement/1")
#: measurement records of two families beside the mutated one (``llmgeom fit overlap DIR``)
FIT_COMPANIONS = ("gpt2-w8", "gpt2-w16", "pythia-w8", "pythia-w16", "pythia-w32")


def measurement_seeds(folder: Path) -> dict[str, bytes]:
    """The committed measurement records (both versions) and their structural variants."""
    warm_up("fit-overlap")
    bases = {
        k: v for k, v in record_bases().items() if k.endswith((".raw.json", ".raw.current.json"))
    }
    return with_variants(bases, VARIANTS_PER_SEED)


def _fit_folder(folder: Path, data: bytes) -> Path:
    """``folder`` holding the companions (today's version) and ``data`` as ``record.json``."""
    bases = record_bases()
    for name in FIT_COMPANIONS:
        (folder / f"{name}.raw.json").write_bytes(bases[f"{name}.raw.current.json"])
    (folder / MUTATED).write_bytes(data)
    return folder


def fit_point_same(fit: Any, theirs: Any) -> bool:
    """The fit used the mutated record as its JSON says (its mean cos² at its head width) or,
    when it is no measurement (of today's version or the former one, which is migrated), left
    it out."""
    table = fit.to_dict()["points"]
    origin = [p for p in table if p.get("origin", "").endswith(MUTATED)]
    is_measurement = isinstance(theirs, dict) and theirs.get("schema") in MEASUREMENT_SCHEMAS
    if not is_measurement:
        return len(table) == len(FIT_COMPANIONS)
    if len(table) != len(FIT_COMPANIONS) + 1:
        return False
    ours = origin[0] if origin else None
    stats, model = theirs["stats"], theirs["model"]
    if ours is None:  # the points do not say their file: find it by its numbers
        return any(
            p["mean_cos2"] == float(stats["mean_cos2"]) and p["m"] == float(model["head_width"])
            for p in table
        )
    return ours["mean_cos2"] == float(stats["mean_cos2"])


def _int_of_a_float(text: str) -> int:
    """An integer no float can hold (more than 308 digits) makes a record unreadable: the
    documented limit of llmgeom's JSON reader, applied here to the reference reader."""
    if len(text.lstrip("-")) > 308:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def run_fit_overlap(folder: Path, data: bytes) -> Outcome:
    """``llmgeom.fits.fit_overlap`` on a folder of five measurement records and the mutated
    one: a typed error, or a fit that used the mutated record as its JSON says (or skipped it,
    when it is no measurement: a folder's other JSON files are skipped by design)."""
    from llmgeom.fits import fit_overlap

    warm_up("fit-overlap")
    _fit_folder(folder, data)
    return check(
        lambda: fit_overlap(folder, n_bootstrap=0),
        lambda: json.loads(data.decode("utf-8"), parse_int=_int_of_a_float),
        same=fit_point_same,
        allowed_dirs=[folder],
        lenient=True,  # not JSON: skipped as no measurement (said in the fit's notes)
    )


def _fit_once(folder: Path, name: str, data: bytes) -> Any:
    from llmgeom.fits import fit_overlap

    return fit_overlap(_fit_folder(folder, data), n_bootstrap=0)


_PARSERS["fit-overlap"] = _fit_once
TARGETS.append(Target("fit-overlap", measurement_seeds, run_fit_overlap))


# --------------------------------------------------------------------------- token tables

TOKENS_NAME = "head"  # the saved tables' name: head.tokens.json beside head.tokens.{parquet,csv}


@functools.cache
def _token_table_files() -> dict[str, bytes]:
    """A token table of a small matrix with counts, saved as Parquet and as CSV: ``{file name:
    bytes}`` (both tables, and the summary naming each)."""
    import torch

    from llmgeom.text.token_table import token_table

    torch.manual_seed(0)
    table = token_table(
        torch.randn(40, 6), counts=list(range(40)), name=TOKENS_NAME, progress=False
    )
    folder = Path(tempfile.mkdtemp(prefix="llmgeom-fuzz-seed-"))
    try:
        files = {}
        for fmt in ("parquet", "csv"):
            table_path, summary = table.save(folder, table_format=fmt)
            files[table_path.name] = table_path.read_bytes()
            files[f"{fmt}.json"] = summary.read_bytes()
        return files
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def tokens_seeds(folder: Path) -> dict[str, bytes]:
    """The summaries of a Parquet and a CSV token table, and their structural variants."""
    warm_up("tokens-json")
    return with_variants(_bases("tokens-json"), VARIANTS_PER_SEED)


def _tokens_folder(folder: Path, data: bytes) -> Path:
    for name, content in _token_table_files().items():
        if not name.endswith(".json"):
            (folder / name).write_bytes(content)
    path = folder / f"{TOKENS_NAME}.tokens.json"
    path.write_bytes(data)
    return path


def tokens_same(ours: Any, theirs: Any) -> bool:
    """The summary read back is the JSON's (its table read from the file it names)."""
    return same_json(ours.to_dict(), theirs)


def run_tokens_json(folder: Path, data: bytes) -> Outcome:
    """``TokenTable.load`` of a mutated summary beside its (intact) table files."""
    from llmgeom.records.token_table import TokenTable

    warm_up("tokens-json")
    path = _tokens_folder(folder, data)
    return check(
        lambda: TokenTable.load(path),
        lambda: json.loads(data.decode("utf-8")),
        same=tokens_same,
        allowed_dirs=[folder],
    )


def _tokens_once(folder: Path, name: str, data: bytes) -> Any:
    from llmgeom.records.token_table import TokenTable

    return TokenTable.load(_tokens_folder(folder, data))


_PARSERS["tokens-json"] = _tokens_once
TARGETS.append(Target("tokens-json", tokens_seeds, run_tokens_json))
