"""Library errors name the Python parameter; the command line names the flag that sets it.

Each case raises the error twice: from the Python API (the message holds the parameter's name
and no ``--``) and from ``llmgeom`` (the same message with the flag, one line on stderr).
"""

from __future__ import annotations

import numpy as np
import pytest

import llmgeom
from llmgeom.cli import build_parser, main
from llmgeom.cli.flags import flags_of, with_flags
from llmgeom.errors import ConfigError, InvalidMatrixError, LlmgeomError
from llmgeom.text.options import FreqOptions, LossOptions


def _matrix(tmp_path, *, nan_row: bool = False):
    W = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)
    if nan_row:
        W[3, 0] = np.nan
    path = tmp_path / ("nan.npy" if nan_row else "w.npy")
    np.save(path, W)
    return path


def _cli_error(capsys, argv) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


CASES = {
    # name: (library call, library message, CLI argv, CLI message)
    "seed": (
        lambda p: llmgeom.measure(p["w"], seed=-1),
        "seed must be an integer >= 0, got -1",
        ["measure", "{w}", "--seed", "-1"],
        "llmgeom measure: error: --seed must be an integer >= 0, got -1",
    ),
    "sample_rows": (
        lambda p: llmgeom.measure(p["w"], sample_rows=1),
        "sampling needs at least 2 rows, got sample_rows=1",
        ["measure", "{w}", "--sample", "1"],
        "llmgeom measure: error: sampling needs at least 2 rows, got --sample-rows 1",
    ),
    "tensor": (
        lambda p: llmgeom.load_unembedding(p["w"], tensor="lm_head.weight"),
        "{w}: a .npy file holds one array; tensor='lm_head.weight' does not apply",
        ["measure", "{w}", "--tensor", "lm_head.weight"],
        "llmgeom measure: error: {w}: a .npy file holds one array; --tensor lm_head.weight "
        "does not apply",
    ),
    "drop_nonfinite": (
        lambda p: llmgeom.measure(p["nan"], pairs="gram", progress=False),
        "1 row(s) contain NaN or inf (rows 3); use drop_nonfinite=True to skip them",
        ["measure", "{nan}", "--pairs", "gram"],
        "llmgeom measure: error: 1 row(s) contain NaN or inf (rows 3); use --drop-nonfinite "
        "to skip them",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_library_names_the_parameter_and_the_cli_its_flag(case, tmp_path, capsys):
    call, library, argv, cli = CASES[case]
    paths = {"w": _matrix(tmp_path), "nan": _matrix(tmp_path, nan_row=True)}
    with pytest.raises(LlmgeomError) as err:
        call(paths)
    assert str(err.value) == library.format(**paths)
    assert "--" not in str(err.value)
    assert err.value.parameters == (case,)
    argv = [a.format(**paths) for a in argv] + ["--out", tmp_path / "out", "--no-progress"]
    assert _cli_error(capsys, argv) == cli.format(**paths)
    assert not (tmp_path / "out").exists()


def test_the_flags_come_from_the_running_commands_parser():
    parser = build_parser()
    loss = flags_of(parser, parser.parse_args(["loss", "gpt2", "--corpus", "a.txt"]))
    assert loss["max_length"] == "--max-length" and loss["text_field"] == "--text-field"
    assert loss["quantization"] == "--quantization"
    assert loss["trust_remote_code=True"] == "--trust-remote-code"
    fit = flags_of(parser, parser.parse_args(["fit", "chinchilla"]))
    assert fit["alpha_n_se"] == "--alpha-n-se" and "max_length" not in fit
    measure = flags_of(parser, parser.parse_args(["measure", "gpt2"]))
    assert measure["sample_rows"] == "--sample-rows" and "n_bootstrap" not in measure


@pytest.mark.parametrize(
    ("message", "parameters", "expected"),
    [
        ("max_length=4096 exceeds 1024", ["max_length"], "--max-length 4096 exceeds 1024"),
        ("samples must be at least 1, got 0", ["samples"], "--samples must be at least 1, got 0"),
        (
            "address joins a Ray cluster: use it with executor='ray'",
            ["address", "executor"],
            "--address joins a Ray cluster: use it with --executor ray",
        ),
        (
            "quantization='8bit' needs bitsandbytes",
            ["quantization"],
            "--quantization 8bit needs bitsandbytes",
        ),
        ("the samples of x; samples=3", ["samples"], "the samples of x; --samples 3"),
        ("/data/max_length/a.txt: bad", ["max_length"], "/data/max_length/a.txt: bad"),
        ("seed must be >= 0", [], "seed must be >= 0"),  # no parameter: untouched
    ],
)
def test_with_flags(message, parameters, expected):
    flags = {
        "max_length": "--max-length",
        "samples": "--samples",
        "address": "--address",
        "executor": "--executor",
        "seed": "--seed",
        "quantization": "--quantization",
    }
    assert with_flags(message, parameters, flags) == expected


def test_parameters_survive_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(ConfigError("jobs must be >= 1", parameter="jobs")))
    assert err.parameters == ("jobs",) and str(err) == "jobs must be >= 1"
    tensor = pickle.loads(pickle.dumps(InvalidMatrixError("x", parameter=("a", "b"))))
    assert tensor.parameters == ("a", "b")


def test_freq_budget_names_tokens_in_python_and_the_flag_on_the_cli(tmp_path, capsys):
    with pytest.raises(ConfigError) as err:
        FreqOptions(tokens=-3)
    assert str(err.value) == "tokens must be at least 0 (0: the whole corpus), got -3"
    argv = ["freq", "gpt2", "--corpus", tmp_path / "a.txt", "--tokens", "-3", "--out", tmp_path]
    assert _cli_error(capsys, argv) == (
        "llmgeom freq: error: --tokens must be at least 0 (0: the whole corpus), got -3"
    )


@pytest.mark.parametrize(
    ("options", "function"),
    [
        (LossOptions, "llmgeom.text.loss:compute_loss"),
        (FreqOptions, "llmgeom.text.freq:count_tokens"),
    ],
)
def test_python_keywords_are_the_declared_options(options, function):
    """Every declared option is a keyword of the function, with the same default; the CLI's
    flag is the name with dashes."""
    import importlib
    import inspect
    from dataclasses import fields

    module, name = function.split(":")
    signature = inspect.signature(getattr(importlib.import_module(module), name))
    for f in fields(options):
        assert signature.parameters[f.name].default == f.default, f.name
        flag = f.metadata["flag"]
        assert flag is None or flag == "--" + f.name.replace("_", "-"), flag


@pytest.mark.parametrize(
    ("command", "options", "name", "flag", "bad", "message"),
    [
        ("loss", LossOptions, "samples", "--samples", 0, "must be at least 1, got 0"),
        ("loss", LossOptions, "max_length", "--max-length", 1, "must be at least 2 tokens, got 1"),
        ("loss", LossOptions, "batch_tokens", "--batch-tokens", 0, "must be at least 1, got 0"),
        ("loss", LossOptions, "batch_size", "--batch-size", 0, "must be at least 1, got 0"),
        ("freq", FreqOptions, "samples", "--samples", 0, "must be at least 1, got 0"),
        ("freq", FreqOptions, "max_length", "--max-length", 1, "must be at least 2 tokens, got 1"),
    ],
)
def test_a_count_flag_out_of_range_fails_as_its_keyword_does(
    tmp_path, capsys, command, options, name, flag, bad, message
):
    """The count flags reach the options' own check (one line, exit 1), not an argparse type
    with its own wording and exit 2: the same message as the Python keyword, with the flag."""
    with pytest.raises(ConfigError) as raised:
        options(**{name: bad})
    assert str(raised.value) == f"{name} {message}" and raised.value.parameters == (name,)
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n")
    line = _cli_error(capsys, [command, "gpt2", "--corpus", corpus, flag, bad])
    assert line == f"llmgeom {command}: error: {flag} {message}"
