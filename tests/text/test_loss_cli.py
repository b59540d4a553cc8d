"""``llmgeom loss`` end to end: saved models, corpora on disk, losses.csv read by ``fit loss``;
bad input as one-line errors with nothing written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import tiny_models
import torch
from text.helpers import (
    ALPHA,
    JSONL_DOCUMENTS,
    TXT_DOCUMENTS,
    C,
    designed_gpt2,
    designed_loss,
    train_tokenizer,
    write_corpus,
)

from llmgeom.cli import main


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    corpora = write_corpus(root / "corpora")
    models = {w: designed_gpt2(root / f"gpt2-w{w}", w, designed_loss(w)) for w in (16, 32, 64)}
    return models, corpora


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_loss_then_fit_loss_end_to_end(zoo, tmp_path, capsys):
    models, corpora = zoo
    out = tmp_path / "out"
    for width, folder in models.items():
        argv = ["loss", str(folder), "--corpus", str(corpora["txt"]), "--corpus",
                str(corpora["jsonl"]), "--out", str(out), "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        printed = capsys.readouterr().out
        for name in (f"gpt2-w{width}.a.loss.json", f"gpt2-w{width}.b.loss.json", "losses.csv"):
            assert f"wrote {out / name}" in printed
    with (out / "losses.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == [f"gpt2-w{w}" for w in (16, 32, 64) for _ in "ab"]
    for row in rows:
        width = int(row["m"])
        assert (row["family"], row["head_width"]) == ("gpt2", str(width))
        assert float(row["loss"]) == pytest.approx(designed_loss(width), abs=1e-5)
    record = json.loads((out / "gpt2-w32.a.loss.json").read_text())
    assert record["schema"] == "llmgeom.loss/1"
    assert record["loss"]["documents"] == len(TXT_DOCUMENTS)
    assert record["model"]["d_model"] == 32 and record["corpus"]["name"] == "a"
    assert record["dtype"] == "float32" and record["quantization"] is None

    fit_out = tmp_path / "fit"
    argv = ["fit", "loss", str(out / "losses.csv"), "--bootstrap", "0", "--out", str(fit_out)]
    assert main(argv) == 0
    capsys.readouterr()
    fit = json.loads((fit_out / "width_loss_fit_ls.json").read_text())
    assert fit["n_points"] == 6
    assert fit["alpha"] == pytest.approx(ALPHA, abs=1e-3)  # the designed law, recovered
    assert fit["C"] == pytest.approx(C, rel=1e-2)


def test_a_rerun_replaces_its_row_and_keeps_the_others(zoo, tmp_path, capsys):
    models, corpora = zoo
    out = tmp_path / "out"
    (out).mkdir()
    (out / "losses.csv").write_text(
        "model,family,corpus,m,loss,head_width,note\nother,opt,c4,768,3.3,768,kept\n"
    )
    for _ in range(2):
        argv = ["loss", str(models[16]), "--corpus", str(corpora["jsonl"]), "--out", str(out)]
        assert main(argv) == 0
    capsys.readouterr()
    with (out / "losses.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["model"], r["corpus"]) for r in rows] == [("other", "c4"), ("gpt2-w16", "b")]
    assert rows[0]["note"] == "kept"
    record = json.loads((out / "gpt2-w16.b.loss.json").read_text())
    assert record["loss"]["documents"] == len(JSONL_DOCUMENTS)


def _one_line_error(capsys, argv) -> str:
    capsys.readouterr()  # what the test's own set-up printed
    assert main([str(a) for a in argv]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("llmgeom loss: error: ")
    return lines[0]


def test_bad_corpora_are_one_line_errors_with_nothing_written(zoo, tmp_path, capsys):
    models, _ = zoo
    out = tmp_path / "out"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n\t\n")
    undecodable = tmp_path / "latin1.txt"
    undecodable.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    cases = {
        empty: "empty",
        undecodable: "latin1.txt",
        tmp_path / "missing.txt": "missing.txt",
        tmp_path / "data.csv": "data.csv",
    }
    (tmp_path / "data.csv").write_text("text\nhello\n")
    for corpus, expected in cases.items():
        line = _one_line_error(capsys, ["loss", models[16], "--corpus", corpus, "--out", out])
        assert expected in line
        assert _files(out) == []


def test_documents_all_too_short(tmp_path, capsys):
    folder = tmp_path / "model"
    tokenizer = train_tokenizer(folder, add_bos=False)
    tiny_models.gpt2(vocab=len(tokenizer)).save_pretrained(folder)
    corpus = tmp_path / "short.txt"
    corpus.write_text("a\n\nI\n")  # one token each without <bos>
    out = tmp_path / "out"
    line = _one_line_error(capsys, ["loss", folder, "--corpus", corpus, "--out", out])
    assert "2 tokens or more (2 skipped)" in line
    assert _files(out) == []


def test_bad_models_are_one_line_errors_with_nothing_written(zoo, tmp_path, capsys):
    _, corpora = zoo
    out = tmp_path / "out"
    small = tmp_path / "small"
    train_tokenizer(small)
    tiny_models.gpt2(vocab=150).save_pretrained(small)  # 200 tokens, 150 rows
    line = _one_line_error(capsys, ["loss", small, "--corpus", corpora["txt"], "--out", out])
    assert "the tokenizer has 200 entries but the model only 150 embedding rows" in line

    overflow = tmp_path / "overflow"
    tokenizer = train_tokenizer(overflow)
    model = tiny_models.gpt2(vocab=len(tokenizer))
    with torch.no_grad():
        model.transformer.ln_f.weight.fill_(6e4)  # fine in float32, overflows in float16
    model.save_pretrained(overflow)
    argv = ["loss", overflow, "--corpus", corpora["txt"], "--out", out, "--dtype", "float16"]
    line = _one_line_error(capsys, argv)
    assert "NaN or infinite in float16" in line and "--dtype float32 or --dtype bfloat16" in line

    line = _one_line_error(capsys, ["loss", tmp_path / "nope", "--corpus", corpora["txt"]])
    assert "nope" in line
    assert _files(out) == []


@pytest.mark.parametrize(
    ("installed", "gpu", "reason"),
    [
        (False, True, "needs bitsandbytes, which is not installed (pip install 'llmgeom[quant]')"),
        (True, False, "needs a CUDA GPU (bitsandbytes), and torch sees none"),
    ],
)
def test_quantization_needs_bitsandbytes_and_a_gpu(
    zoo, tmp_path, capsys, monkeypatch, installed, gpu, reason
):
    """Only the availability checks are replaced (whatever this machine has): a one-line error
    naming the Python parameter (the CLI its flag) before any model is loaded or file written."""
    from llmgeom.errors import ConfigError
    from llmgeom.text import quantization
    from llmgeom.text.lm import load_model
    from llmgeom.text.loss import compute_loss

    monkeypatch.setattr(quantization, "bitsandbytes_installed", lambda: installed)
    monkeypatch.setattr(quantization, "cuda_present", lambda: gpu)
    models, corpora = zoo
    out = tmp_path / "out"
    for bits in ("8bit", "4bit"):
        argv = ["loss", models[16], "--corpus", corpora["txt"], "--out", out]
        line = _one_line_error(capsys, [*argv, "--quantization", bits])
        assert line == f"llmgeom loss: error: --quantization {bits} {reason}"
        with pytest.raises(ConfigError) as err:
            compute_loss(str(models[16]), corpus=str(corpora["txt"]), quantization=bits)
        assert str(err.value) == f"quantization={bits!r} {reason}"
        assert err.value.parameters == ("quantization",)
        with pytest.raises(ConfigError, match=r"^quantization='8bit' needs"):
            load_model(models[16], quantization="8bit")
    assert _files(out) == []


def test_quantization_on_a_cpu_device_or_a_loaded_model_is_refused(zoo, monkeypatch):
    from llmgeom.errors import ConfigError
    from llmgeom.text import quantization
    from llmgeom.text.lm import load_model
    from llmgeom.text.loss import compute_loss

    models, corpora = zoo
    loaded = load_model(models[16], device="cpu")
    with pytest.raises(ConfigError, match=r"^quantization='8bit' does not apply: a LoadedModel"):
        compute_loss(loaded, corpus=str(corpora["txt"]), quantization="8bit")
    with pytest.raises(ConfigError, match=r"^quantization='4bit' does not apply: an in-memory"):
        compute_loss(loaded.model, loaded.tokenizer, corpus=["a b c"], quantization="4bit")
    with pytest.raises(ConfigError, match=r"^quantization must be one of '8bit', '4bit', 'none'"):
        compute_loss(loaded, corpus=str(corpora["txt"]), quantization="2bit")  # type: ignore[arg-type]
    monkeypatch.setattr(quantization, "bitsandbytes_installed", lambda: True)
    monkeypatch.setattr(quantization, "cuda_present", lambda: True)
    with pytest.raises(ConfigError) as err:
        load_model(models[16], quantization="8bit", device="cpu")
    assert str(err.value) == "quantization='8bit' needs a CUDA GPU, not device='cpu'"
    assert err.value.parameters == ("quantization", "device")


def test_quantization_is_a_sweep_key_that_reaches_the_loss_unit(tmp_path):
    from llmgeom.errors import ConfigError
    from llmgeom.sweep.config import load_config
    from llmgeom.sweep.plan import expand_units

    (tmp_path / "wiki.txt").write_text("some text\n")
    config = tmp_path / "sweep.toml"
    table = '[[models]]\nsource = "gpt2"\n[loss]\ncorpora = ["wiki.txt"]\n'
    config.write_text(table + 'quantization = "8bit"\n')
    (unit,) = [u for u in expand_units(load_config(config)) if u.kind == "loss"]
    assert unit.params["options"]["quantization"] == "8bit"
    config.write_text(table)
    (unit,) = [u for u in expand_units(load_config(config)) if u.kind == "loss"]
    assert unit.params["options"]["quantization"] == "none"
    config.write_text(table + 'quantization = "2bit"\n')
    with pytest.raises(ConfigError, match=r"quantization must be one of '8bit', '4bit', 'none'"):
        load_config(config)


def test_option_errors_name_the_flag(zoo, tmp_path, capsys):
    models, corpora = zoo
    out = tmp_path / "out"
    argv = ["loss", models[16], "--corpus", corpora["txt"], "--out", out, "--max-length", 10**6]
    line = _one_line_error(capsys, argv)
    assert line.startswith("llmgeom loss: error: --max-length 1000000 exceeds the model's context")
    assert _files(out) == []


def test_unwritable_out_fails_before_loading(zoo, tmp_path, capsys):
    models, corpora = zoo
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["loss", models[16], "--corpus", corpora["txt"], "--out", blocker / "sub"]
    assert "not a directory" in _one_line_error(capsys, argv)


def test_the_model_flags_are_load_models_keywords_with_its_defaults():
    """ModelOptions declares load_model's keywords once: the same names, the same defaults,
    and the flags of `llmgeom loss` that set them."""
    import argparse
    import inspect
    from dataclasses import fields

    from llmgeom.cli.flags import flags_of
    from llmgeom.cli.loss import register
    from llmgeom.options import from_namespace
    from llmgeom.text.lm import load_model
    from llmgeom.text.options import ModelOptions

    keywords = inspect.signature(load_model).parameters
    for f in fields(ModelOptions):
        assert keywords[f.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert keywords[f.name].default == f.default, f.name
    parser = argparse.ArgumentParser(prog="llmgeom")
    register(parser.add_subparsers(dest="command"))
    argv = ["loss", "gpt2", "--corpus", "a.txt"]
    assert from_namespace(ModelOptions, parser.parse_args(argv)) == ModelOptions()
    flags = flags_of(parser, parser.parse_args(argv))
    assert (flags["dtype"], flags["device"], flags["device_map"]) == (
        "--dtype",
        "--device",
        "--device-map",
    )
    given = ["--dtype", "bfloat16", "--device", "cpu", "--device-map", "auto"]
    opts = from_namespace(ModelOptions, parser.parse_args([*argv, *given]))
    assert opts == ModelOptions("bfloat16", "cpu", "auto")
    with pytest.raises(SystemExit):  # argparse: the declared choices
        parser.parse_args([*argv, "--dtype", "float64"])


def test_fit_loss_fits_either_column_of_losses_csv(tmp_path, capsys):
    """Two designed laws in one table, exact on 6 points: the token-weighted ``loss`` column
    follows α = 0.9, the authors' ``loss_authors_weighting`` α = 0.5; ``--column`` picks the
    one fitted (default: ``loss``) and the fit names it."""
    rows = []
    for corpus, offset in (("a", 2.0), ("b", 2.5)):
        for m in (16, 32, 64):
            token, authors = 40 / m**0.9 + offset, 10 / m**0.5 + offset + 0.1
            rows.append(f"gpt2-w{m},gpt2,{corpus},{m},{token!r},{m},{authors!r}")
    table = tmp_path / "losses.csv"
    header = "model,family,corpus,m,loss,head_width,loss_authors_weighting"
    table.write_text("\n".join([header, *rows]) + "\n")
    fits = {}
    stems = {
        None: "width_loss_fit_ls",
        "loss": "width_loss_fit_ls",
        "authors": "width_loss_fit_ls_authors",
    }
    for column in (None, "loss", "authors"):
        out = tmp_path / "fits"  # one folder: the authors' fit must not overwrite the other
        argv = ["fit", "loss", str(table), "--bootstrap", "0", "--out", str(out)]
        assert main(argv + (["--column", column] if column else [])) == 0
        fits[column] = json.loads((out / f"{stems[column]}.json").read_text())
    capsys.readouterr()
    assert fits[None]["alpha"] == pytest.approx(0.9, abs=1e-6) and fits[None]["C"] == (
        pytest.approx(40, rel=1e-5)
    )
    assert fits[None]["column"] == fits["loss"]["column"] == "loss"
    assert fits["loss"]["alpha"] == fits[None]["alpha"]
    assert fits["authors"]["alpha"] == pytest.approx(0.5, abs=1e-6)
    assert fits["authors"]["C"] == pytest.approx(10, rel=1e-5)
    assert fits["authors"]["column"] == "loss_authors_weighting"
    # a table of an earlier llmgeom, without the column: one line naming it
    table.write_text("model,family,corpus,m,loss\ngpt2,gpt2,a,16,3.3\n")
    argv = ["fit", "loss", str(table), "--column", "authors", "--out", str(tmp_path / "x")]
    assert main(argv) == 1
    assert "missing column(s) loss_authors_weighting" in capsys.readouterr().err
