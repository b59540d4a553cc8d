"""The sweep config's tables are derived from the option types: every field is a key of its
table, a bad value gives the option type's message (the same as the Python keyword's and the
command-line flag's), a key that does not apply is an error, and the runners call the analyses
with every option the table set."""

from __future__ import annotations

import functools
import inspect
import tomllib
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import llmgeom
from llmgeom.cli import main
from llmgeom.configs import config_dir
from llmgeom.errors import ConfigError
from llmgeom.options import MeasureOptions
from llmgeom.sweep import runners
from llmgeom.sweep.config import load_config, parse_config
from llmgeom.sweep.engine import run_sweep
from llmgeom.sweep.option_tables import TABLES
from llmgeom.sweep.plan import expand_units
from llmgeom.sweep.sweep_options import ModelEntry, SweepOptions
from llmgeom.text.options import FreqOptions, LossOptions, ModelOptions

BASE = "/nonexistent-base"
MODELS = 'models = ["gpt2"]\n'
WIKI = "hf:wikitext:wikitext-103-v1:train"
#: What a table needs besides the key under test to be a config that asks for something.
HEADERS = {
    "top": ("", 'toy = ["quick"]\n'),
    "models": ("[[models]]\n", "[measure]\n"),
    "measure": (MODELS + "[measure]\n", ""),
    "loss": (MODELS + "[loss]\n" + 'corpora = ["hf:x"]\n', ""),
    "freq": (MODELS + "[freq]\n" + 'corpora = ["hf:x"]\n', ""),
}
#: Text values that must name something real (any other text field gets "my-<name>").
TEXT = {"device": "cpu", "executor": "ray", "source": "gpt2", "weights": "./counts.npz"}
#: Keys that only make sense with another one set.
COMPANIONS = {"address": {"executor": "ray"}}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _other_value(cls: type, f: Any) -> Any:
    """A valid value of field ``f`` other than its default, from its declared type."""
    hint = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    literal = [a for a in args if typing.get_origin(a) is typing.Literal] or (
        [hint] if typing.get_origin(hint) is typing.Literal else []
    )
    choices = f.metadata.get("choices") or (typing.get_args(literal[0]) if literal else ())
    if choices:
        return next(c for c in choices if c != f.default)
    kinds = set(args) | ({hint} if not args else set())
    default = None if f.default is MISSING else f.default
    if bool in kinds:
        return not default
    if int in kinds:
        return default + 1 if isinstance(default, int) else 3
    if float in kinds:
        return default * 2
    return TEXT.get(f.name, f"my-{f.name}")  # text, or an untyped field (weights: a path)


def _cases() -> list[tuple[str, type, str]]:
    return [
        (table, cls, key)
        for table in HEADERS
        for cls in TABLES[table].types
        for key in TABLES[table].option_keys(cls)
    ]


def _parsed(table: str, cls: type, cfg: Any) -> Any:
    if table == "models":
        return cfg.models[0]
    return {
        "top": cfg.options,
        "measure": cfg.measure,
        "loss": cfg.loss and (cfg.loss.options if cls is LossOptions else cfg.loss.model),
        "freq": cfg.freq and cfg.freq.options,
    }[table]


@pytest.mark.parametrize(("table", "cls", "key"), _cases())
def test_every_option_field_is_a_key_of_its_table(table, cls, key):
    """Generated from the dataclass fields: a field added to an option type is covered here."""
    f = {x.name: x for x in fields(cls)}[key]
    value = _other_value(cls, f)
    head, tail = HEADERS[table]
    extra = "".join(f"{k} = {_toml(v)}\n" for k, v in COMPANIONS.get(key, {}).items())
    if table == "models" and key != "source":
        extra += 'source = "gpt2"\n'
    cfg = parse_config(f"{head}{extra}{key} = {_toml(value)}\n{tail}", base_dir=BASE)
    got = getattr(_parsed(table, cls, cfg), key)
    expected = str(Path(BASE) / value) if key in TABLES[table].paths else value
    assert got == expected and got != f.default


def test_the_tables_take_what_the_option_types_declare_and_nothing_twice():
    for name, table in TABLES.items():
        declared = {f.name for cls in table.types for f in fields(cls)} - set(table.elsewhere)
        assert set(table.keys) == declared | set(table.own), name
        assert not set(table.own) & declared, f"{name}: a sweep key shadows an option"
    # the labels of a model are given per model, never for a whole table
    assert set(TABLES["measure"].elsewhere) == {"name", "family", "revision", "progress"}


def test_the_runners_can_pass_every_option_under_its_own_name():
    """The runners call each analysis with the option object's fields as keywords."""
    from llmgeom.text.freq import count_tokens
    from llmgeom.text.lm import load_model
    from llmgeom.text.loss import compute_loss

    for cls, function in (
        (LossOptions, compute_loss),
        (ModelOptions, load_model),
        (FreqOptions, count_tokens),
        (MeasureOptions, llmgeom.measure),
    ):
        keywords = set(inspect.signature(function).parameters)
        assert {f.name for f in fields(cls)} <= keywords, function.__name__


class _Called(Exception):
    """Stops a runner once the analysis is called (its keywords recorded)."""


def _record(calls: dict[str, Any], name: str, result: Any = None, like: Any = None) -> Any:
    """A fake of ``like`` (its signature kept) that records its keywords as ``calls[name]``."""

    @functools.wraps(like or (lambda *args, **kwargs: None))
    def fake(*args: Any, **kwargs: Any) -> Any:
        calls[name] = kwargs
        if result is None:
            raise _Called(name)
        return result

    return fake


def _every_field(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: _other_value(cls, f) for f in fields(cls) if f.name not in skip}


def test_loss_and_freq_units_call_the_analyses_with_every_option(monkeypatch, tmp_path):
    loss_values = _every_field(LossOptions)
    model_values = _every_field(ModelOptions)
    freq_values = _every_field(FreqOptions)
    table = lambda values: "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())  # noqa: E731
    cfg = parse_config(
        f'{MODELS}[loss]\ncorpora = ["{WIKI}"]\n{table(loss_values | model_values)}'
        f'[freq]\ncorpora = ["{WIKI}"]\n{table(freq_values)}',
        base_dir=BASE,
    )
    loss_unit, freq_unit = expand_units(cfg)
    calls: dict[str, Any] = {}

    class Loaded:
        context_length = None  # unknown: max_length is used as given

    import llmgeom.text.freq
    import llmgeom.text.lm
    import llmgeom.text.loss
    import llmgeom.text.tokenizers

    loads = set(inspect.signature(llmgeom.text.lm.load_model).parameters)
    fake = _record(calls, "load_model", Loaded(), like=llmgeom.text.lm.load_model)
    monkeypatch.setattr(llmgeom.text.lm, "load_model", fake)
    monkeypatch.setattr(llmgeom.text.loss, "compute_loss", _record(calls, "compute_loss"))
    monkeypatch.setattr(llmgeom.text.tokenizers, "load_tokenizer", _record(calls, "tok", "t"))
    monkeypatch.setattr(llmgeom.text.freq, "count_tokens", _record(calls, "count_tokens"))
    runners._LOADED.clear()
    with pytest.raises(_Called):
        runners.run_loss(dict(loss_unit.params), str(tmp_path))
    with pytest.raises(_Called):
        runners.run_freq(dict(freq_unit.params), str(tmp_path))
    runners._LOADED.clear()
    # every option reaches one call with its value: the model's loading (ModelOptions and the
    # LossOptions that load_model takes, quantization) or the loss of the loaded model
    loading = {k: v for k, v in loss_values.items() if k in loads}
    assert "quantization" in loading and loading["quantization"] != "none"
    rest = {k: v for k, v in loss_values.items() if k not in loads}
    assert calls["load_model"] == {"revision": None, **model_values, **loading, "progress": False}
    assert calls["compute_loss"] == {"corpus": WIKI, **rest, "progress": False}
    assert calls["count_tokens"] == {**freq_values, "progress": False}


def test_measure_units_call_measure_with_every_option(monkeypatch, tmp_path):
    skip = (*TABLES["measure"].elsewhere, "weights")  # weights: a counts file the runner reads
    values = _every_field(MeasureOptions, skip)
    cfg = parse_config(
        '[[models]]\nsource = "gpt2"\nname = "g"\nfamily = "f"\nrevision = "r1"\n[measure]\n'
        + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items()),
        base_dir=BASE,
    )
    (unit,) = expand_units(cfg)
    calls: dict[str, Any] = {}
    import llmgeom.geometry.measurement

    monkeypatch.setattr(llmgeom.geometry.measurement, "measure", _record(calls, "measure"))
    with pytest.raises(_Called):
        runners.run_measure(dict(unit.params), str(tmp_path))
    options = calls["measure"]["options"]
    assert {k: getattr(options, k) for k in values} == values
    assert (options.name, options.family, options.revision) == ("g", "f", "r1")


# ---------------------------------------------------------------- the same message everywhere

#: (table, TOML key and value, the Python call with the same keyword, the command line with the
#: same flag, how the message names it in Python and on the command line: name, flag, ...)
SAME_MESSAGE = [
    (
        "measure",
        "bins = -1",
        lambda: llmgeom.measure(np.eye(4, 3), bins=-1),
        ["measure", "x.npy", "--bins", "-1"],
        ("bins", "--bins"),
    ),
    (
        "measure",
        "sample_rows = 1",
        lambda: llmgeom.measure(np.eye(4, 3), sample_rows=1),
        ["measure", "x.npy", "--sample-rows", "1"],
        ("sample_rows=1", "--sample-rows 1"),
    ),
    (
        "measure",
        "precision = 2.0",
        lambda: llmgeom.measure(np.eye(4, 3), precision=2.0),
        ["measure", "x.npy", "--precision", "2.0"],
        ("precision", "--precision"),
    ),
    (
        "loss",
        "max_length = 1",
        lambda: llmgeom.compute_loss("no-such-model", corpus=["a b"], max_length=1),
        ["loss", "no-such-model", "--corpus", "c.txt", "--max-length", "1"],
        ("max_length", "--max-length"),
    ),
    (
        "loss",
        'text_field = ""',
        lambda: llmgeom.compute_loss("no-such-model", corpus=["a b"], text_field=""),
        ["loss", "no-such-model", "--corpus", "c.txt", "--text-field", ""],
        ("text_field", "--text-field"),
    ),
    (
        "loss",
        'device = "tpu"',
        lambda: llmgeom.text.lm.load_model("no-such-model", device="tpu"),
        ["loss", "no-such-model", "--corpus", "c.txt", "--device", "tpu"],
        (),
    ),
    (
        "freq",
        "tokens = -1",
        lambda: llmgeom.count_tokens("no-such-tokenizer", "c.txt", tokens=-1),
        ["freq", "no-such-tokenizer", "--corpus", "c.txt", "--tokens", "-1"],
        ("tokens", "--tokens"),
    ),
    (
        "top",
        "jobs = 0",
        lambda: run_sweep(parse_config('toy = ["quick"]'), jobs=0),
        ["sweep", "toy-quick.toml", "--jobs", "0"],
        ("jobs", "--jobs"),
    ),
    (
        "top",
        'address = "auto"',
        lambda: run_sweep(parse_config('toy = ["quick"]'), address="auto"),
        ["sweep", "toy-quick.toml", "--address", "auto"],
        ("address", "--address", "executor='ray'", "--executor ray"),
    ),
    (
        "models",
        'name = ""',
        lambda: llmgeom.measure(np.eye(4, 3), name=""),
        ["measure", "x.npy", "--name", ""],
        ("name", "--name"),
    ),
]


@pytest.mark.parametrize(("table", "setting", "python", "argv", "renamed"), SAME_MESSAGE)
def test_a_bad_value_says_the_same_in_toml_python_and_on_the_command_line(
    table, setting, python, argv, renamed, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    import llmgeom.text.lm  # noqa: F401 - the device case calls it

    with pytest.raises(ConfigError) as info:
        python()
    said = str(info.value)
    head, tail = HEADERS[table]
    if table == "models":
        setting = f'source = "gpt2"\n{setting}'
    with pytest.raises(ConfigError) as info:
        parse_config(f"{head}{setting}\n{tail}", base_dir=BASE)
    place = {"top": "", "models": "models[0]."}.get(table, f"[{table}] ")
    assert str(info.value) == place + said
    assert main(argv) == 1
    expected = said
    for python_name, flag in zip(renamed[::2], renamed[1::2], strict=True):
        expected = expected.replace(python_name, flag)
    assert capsys.readouterr().err.strip() == f"llmgeom {argv[0]}: error: {expected}"


# ---------------------------------------------------------------- keys that do not apply


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MODELS + '[loss]\ncorpora = ["hf:x"]\nsample_rows = 300',
            "[loss] sample_rows: not a loss option; it belongs in [measure] (known: ",
        ),
        (
            MODELS + '[freq]\ncorpora = ["hf:x"]\nbatch_tokens = 4',
            "[freq] batch_tokens: not a freq option; it belongs in [loss] (known: ",
        ),
        (MODELS + "[measure]\nrevision = 'step1'", "[measure] revision: given per model"),
        (MODELS + "[measure]\nprogress = false", "[measure] progress: a top-level key"),
        (MODELS + "[measure]\njobs = 2", "[measure] jobs: not a measure option; it belongs in the"),
        (MODELS + "[loss]\ncorpora = ['hf:x']\nrevision = 'r'", "it belongs in [[models]]"),
        ('[[models]]\nsource = "gpt2"\ncorpora = ["a"]\n[measure]', "it belongs in [loss]"),
        ('toy = ["quick"]\nsamples = 3', "samples: not a top-level key of the sweep config; it"),
        ('toy = ["quick"]\nexecuter = "ray"', "did you mean 'executor'?"),
        # the spellings of the command line (--corpus, --sample, --tokenizer) point to the keys
        (MODELS + '[loss]\ncorpus = "a.txt"', "[loss] corpus: not a loss option; did you mean 'c"),
        (MODELS + "[measure]\nsample = 9", "[measure] sample: not a measure option; did you mea"),
        (MODELS + '[freq]\ncorpora = ["a"]\ntokenizer = "gpt2"', "did you mean 'tokenizers'?"),
        # dtype = "auto" is no value of load_model's dtype (leave the key out for the default)
        (MODELS + '[loss]\ncorpora = ["a"]\ndtype = "auto"', "[loss] dtype must be one of"),
    ],
)
def test_a_key_that_does_not_apply_is_an_error_naming_it(text, message):
    with pytest.raises(ConfigError) as info:
        parse_config(text, base_dir=BASE)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_sweep_options_come_from_the_config_unless_given():
    cfg = parse_config('executor = "ray"\naddress = "auto"\njobs = 2\ntoy = ["quick"]')
    assert cfg.options == SweepOptions(executor="ray", address="auto", jobs=2)
    from llmgeom.sweep.engine import run_options

    assert run_options(cfg, jobs=None) == cfg.options
    assert run_options(cfg, jobs=4).jobs == 4
    with pytest.raises(ConfigError, match="address joins a Ray cluster"):
        run_options(cfg, executor="local")
    assert ModelEntry(source="gpt2").name is None


# ---------------------------------------------------------------- the shipped configs


def _runs(source: str) -> int:
    from llmgeom.toy.config import load_config as load_toy

    return len(load_toy(source).runs)


@pytest.mark.parametrize("path", sorted(config_dir().glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_parses_and_plans_its_units(path):
    """The unit count from the raw TOML (models x revisions, x corpora, tokenizers x corpora, toy
    runs) against the plan; every unit id and file distinct."""
    raw = tomllib.loads(path.read_text())
    units = expand_units(load_config(path))
    kinds = [u.kind for u in units]
    if "models" not in raw:  # a toy experiment file: one unit per run
        assert kinds == ["toy"] * _runs(str(path))
    else:
        models = len(raw["models"]) * len(raw.get("revisions", [None]))
        assert kinds.count("measure") == (models if "measure" in raw else 0)
        loss = raw.get("loss", {})
        assert kinds.count("loss") == models * len(loss.get("corpora", []))
        freq = raw.get("freq", {})
        assert kinds.count("freq") == len(freq.get("tokenizers", [])) * len(freq.get("corpora", []))
    assert len({u.id for u in units}) == len(units)
    files = [f for u in units for f in u.outputs if f != "losses.csv"]
    assert len(set(files)) == len(files)


def test_reproduce_takes_the_sweep_options_under_the_same_flags(capsys):
    assert main(["reproduce", "paper", "--jobs", "0", "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "llmgeom reproduce: error: --jobs must be a positive integer, got 0"
    assert main(["reproduce", "paper", "--executor", "dask", "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "llmgeom reproduce: error: --executor must be one of local, ray, got 'dask'"
