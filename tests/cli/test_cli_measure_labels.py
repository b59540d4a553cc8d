"""Labels a user gives a matrix without ``config.json`` (``measure --name/--family``, and
``name=``/``family=`` in Python) reach the record, its file name and the summary; a GGUF file's
family follows the same rule as ``loss`` (``general.architecture``, the families registry)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_models
from checkpoints import write_gguf

import llmgeom
from llmgeom.cli import main
from llmgeom.records.measurement import save_record
from llmgeom.text.lm import model_facts


def _npy(path, rows: int = 40, width: int = 8):
    np.save(path, np.random.default_rng(width).standard_normal((rows, width)).astype(np.float32))
    return path


def test_cli_labels_reach_the_record_file_name_and_summary(tmp_path, capsys):
    source = _npy(tmp_path / "gpt2-m16.npy")
    out = tmp_path / "out"
    argv = ["measure", str(source), "--name", "my-model", "--family", "mine", "--pairs", "gram"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert any(line.startswith("my-model  [raw]  mine  ") for line in printed.splitlines())
    assert [p.name for p in out.iterdir()] == ["my-model.raw.json"]
    record = json.loads((out / "my-model.raw.json").read_text())
    assert (record["model"]["name"], record["model"]["family"]) == ("my-model", "mine")
    assert record["model"]["source"] == str(source)  # the provenance stays the file


def test_python_labels_reach_the_record(tmp_path):
    W = np.random.default_rng(0).standard_normal((30, 6))
    report = llmgeom.measure(W, name="my-model", family="mine", pairs="gram", progress=False)
    assert (report.name, report.family, report.model["name"]) == ("my-model", "mine", "my-model")
    saved = save_record(report.to_dict(), tmp_path)
    assert saved.path.name == "my-model.raw.json"
    plain = llmgeom.measure(W, pairs="gram", progress=False)
    assert (plain.model["name"], plain.family, plain.name) == (None, None, "<array>")
    with pytest.raises(llmgeom.ConfigError, match=r"^family must be a non-empty"):
        llmgeom.measure(W, family=" ")


def test_one_name_for_two_sources_is_a_one_line_error(tmp_path, capsys):
    a, b = _npy(tmp_path / "a.npy"), _npy(tmp_path / "b.npy", width=6)
    out = tmp_path / "out"
    assert main(["measure", str(a), str(b), "--name", "x", "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmgeom measure: error: --name labels one model")
    assert not out.exists() or not any(out.iterdir())


def test_a_llama_gguf_is_llama_for_measure_as_for_loss(tmp_path, capsys):
    llama = tiny_models.llama(vocab=32, width=8)
    head = llama.get_output_embeddings().weight.detach().numpy()
    path = write_gguf(tmp_path / "x.gguf", "llama", {"output.weight": (head, None)}, 8)
    out = tmp_path / "out"
    assert main(["measure", str(path), "--pairs", "gram", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "  llama  " in next(line for line in printed if "x.gguf  [raw]" in line)
    record = json.loads((out / "x.gguf.raw.json").read_text())
    # loss records the family of the transformers model the GGUF loads as: a Llama
    assert record["model"]["family"] == model_facts(llama, list(range(32)))["family"] == "llama"
    assert llmgeom.measure(llama, pairs="gram", progress=False).family == "llama"
