"""``llmgeom freq`` end to end: files written and printed; bad input: one line, nothing written."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from helpers import TXT_DOCUMENTS, train_tokenizer, write_corpus

from llmgeom.cli import main


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "tok"
    train_tokenizer(folder)
    return folder


@pytest.fixture
def corpora(tmp_path):
    return write_corpus(tmp_path / "corpora")


def run(capsys, *argv):
    code = main(["freq", *map(str, argv), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_end_to_end(capsys, tmp_path, tokenizer_dir, corpora):
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys,
        tokenizer_dir,
        "--corpus",
        corpora["txt"],
        "--corpus",
        corpora["jsonl"],
        "--tokens",
        25,
        "--out",
        out_dir,
    )
    assert (code, err) == (0, "")
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(
        f"tok.{c}.{kind}" for c in ("a", "b") for kind in ("counts.npz", "freq.json", "freq.png")
    )
    for name in names:
        assert f"wrote {out_dir / name}" in out
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    expected = [i for d in TXT_DOCUMENTS for i in tokenizer.encode(d, add_special_tokens=False)]
    with np.load(out_dir / "tok.a.counts.npz") as data:
        counts = data["counts"]
    assert counts.size == len(tokenizer) and counts.sum() == 25
    assert Counter({i: int(c) for i, c in enumerate(counts) if c}) == Counter(expected[:25])
    record = json.loads((out_dir / "tok.b.freq.json").read_text())
    assert record["corpus"]["kind"] == "jsonl" and record["stats"]["tokens_counted"] == 25
    assert "tokens from" in out and "mle_s " in out and "loglog_alpha " in out


@pytest.mark.parametrize(
    "case",
    ["empty", "missing", "undecodable", "field", "suffix", "tokenizer", "budget", "out_is_file"],
)
def test_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, tokenizer_dir, corpora, case):
    out_dir = tmp_path / "out"
    corpus, tokenizer, extra = corpora["txt"], tokenizer_dir, []
    if case == "empty":
        corpus = tmp_path / "empty.txt"
        corpus.write_text(" \n\n")
    elif case == "missing":
        corpus = tmp_path / "missing.txt"
    elif case == "undecodable":
        corpus = tmp_path / "bad.txt"
        corpus.write_bytes(b"fine\n\xff\xfe\n")
    elif case == "field":
        corpus, extra = corpora["jsonl"], ["--text-field", "body"]
    elif case == "suffix":
        corpus = tmp_path / "data.csv"
        corpus.write_text("text\nhello\n")
    elif case == "tokenizer":
        tokenizer = tmp_path / "no-tokenizer-here"
        tokenizer.mkdir()
    elif case == "budget":
        extra = ["--tokens", "-3"]
    elif case == "out_is_file":
        out_dir.write_text("a file, not a folder")
    code, out, err = run(capsys, tokenizer, "--corpus", corpus, "--out", out_dir, *extra)
    assert code == 1 and out == ""
    assert err.startswith("llmgeom freq: error: ") and err.count("\n") == 1, err
    if case == "out_is_file":
        assert out_dir.read_text() == "a file, not a folder"
    else:
        assert not out_dir.exists()


def test_same_corpus_name_twice_is_refused(capsys, tmp_path, tokenizer_dir, corpora):
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = other / "a.txt"
    twin.write_bytes(corpora["txt"].read_bytes())
    code, _out, err = run(
        capsys, tokenizer_dir, "--corpus", corpora["txt"], "--corpus", twin, "--out", tmp_path / "o"
    )
    assert code == 1 and "same name" in err and not (tmp_path / "o").exists()
