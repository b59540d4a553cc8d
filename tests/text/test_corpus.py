"""The corpus reader: the exact document definition per format, and one-line typed errors."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers import (
    JSONL_DOCUMENTS,
    PARQUET_DOCUMENTS,
    TXT_DOCUMENTS,
    one_line_error,
    write_corpus,
)

from llmgeom.errors import ConfigError, CorpusError, LlmgeomError, SourceNotFoundError
from llmgeom.text import corpus as corpus_module
from llmgeom.text.corpus import iter_documents, open_corpus


@pytest.fixture
def files(tmp_path):
    return write_corpus(tmp_path / "corpus")


def docs(spec, **kwargs):
    open_kwargs = {k: kwargs.pop(k) for k in ("text_field", "recipe") if k in kwargs}
    return list(iter_documents(open_corpus(spec, **open_kwargs), **kwargs))


def test_txt_documents_are_runs_of_non_blank_lines(files):
    corpus = open_corpus(files["txt"])
    assert (corpus.kind, corpus.name, corpus.files) == ("txt", "a", (files["txt"],))
    assert tuple(iter_documents(corpus)) == TXT_DOCUMENTS
    # independent oracle: split on blank (whitespace-only) lines by hand
    lines = files["txt"].read_bytes().decode().replace("\r\n", "\n").split("\n")
    blocks, block = [], []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line)
        elif block:
            blocks.append("\n".join(block))
            block = []
    assert tuple(blocks) == TXT_DOCUMENTS


def test_jsonl_one_document_per_non_empty_record(files):
    corpus = open_corpus(files["jsonl"])
    assert corpus.kind == "jsonl"
    assert tuple(iter_documents(corpus)) == JSONL_DOCUMENTS
    assert "\n\n" in JSONL_DOCUMENTS[1]  # a record's blank lines stay inside its document


def test_parquet_one_document_per_row(files):
    pytest.importorskip("pyarrow")
    assert tuple(docs(files["parquet"])) == PARQUET_DOCUMENTS


def test_folder_reads_its_files_sorted_by_name(tmp_path, files):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "z_first_written.txt").write_bytes(files["txt"].read_bytes())
    (folder / "m.jsonl").write_bytes(files["jsonl"].read_bytes())
    (folder / "notes.md").write_text("not a corpus file: ignored\n")
    corpus = open_corpus(folder)
    assert corpus.kind == "dir" and corpus.name == "mixed"
    assert [f.name for f in corpus.files] == ["m.jsonl", "z_first_written.txt"]
    assert tuple(iter_documents(corpus)) == JSONL_DOCUMENTS + TXT_DOCUMENTS
    raw = (folder / "m.jsonl").read_bytes() + (folder / "z_first_written.txt").read_bytes()
    assert corpus.sha256 == hashlib.sha256(raw).hexdigest()


def test_samples_keep_the_first_documents_across_files(tmp_path, files):
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "1.jsonl").write_bytes(files["jsonl"].read_bytes())
    (folder / "2.txt").write_bytes(files["txt"].read_bytes())
    wanted = (JSONL_DOCUMENTS + TXT_DOCUMENTS)[:5]
    assert tuple(docs(folder, samples=5)) == wanted
    assert tuple(docs(folder, samples=1000)) == JSONL_DOCUMENTS + TXT_DOCUMENTS
    with pytest.raises(ConfigError):
        docs(folder, samples=0)


def test_sha256_is_of_the_file_bytes(files):
    assert open_corpus(files["txt"]).sha256 == hashlib.sha256(files["txt"].read_bytes()).hexdigest()


def test_text_field_and_byte_order_mark(tmp_path):
    path = tmp_path / "content.jsonl"
    path.write_text(json.dumps({"content": "first"}) + "\n" + json.dumps({"content": "second"}))
    assert docs(path, text_field="content") == ["first", "second"]
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfhello\n\nworld\n")
    assert docs(bom) == ["hello", "world"]


def test_bad_inputs_are_one_line_typed_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n\t\n")
    assert "empty corpus" in one_line_error(CorpusError, lambda: open_corpus(empty))
    blank_records = tmp_path / "blank.jsonl"
    blank_records.write_text('{"text": ""}\n{"text": "  "}\n')
    assert "empty corpus" in one_line_error(CorpusError, lambda: open_corpus(blank_records))
    nothing = tmp_path / "nothing.txt"
    nothing.write_bytes(b"")
    one_line_error(CorpusError, lambda: open_corpus(nothing))

    missing = tmp_path / "missing.txt"
    assert str(missing) in one_line_error(SourceNotFoundError, lambda: open_corpus(missing))

    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"good line\nna\xefve caf\xe9\n")
    message = one_line_error(CorpusError, lambda: open_corpus(bad))
    assert str(bad) in message and "byte offset 12" in message  # 10 + len(b"na")

    unknown = tmp_path / "table.csv"
    unknown.write_text("text\nhello\n")
    assert "'.csv'" in one_line_error(CorpusError, lambda: open_corpus(unknown))

    folder = tmp_path / "no_corpus_files"
    folder.mkdir()
    (folder / "readme.md").write_text("hello")
    one_line_error(CorpusError, lambda: open_corpus(folder))

    one_line_error(ConfigError, lambda: open_corpus(empty, recipe="nope"))


def test_field_errors_name_the_field_and_the_record(tmp_path):
    path = tmp_path / "fields.jsonl"
    path.write_text('{"body": "one"}\n')
    message = one_line_error(CorpusError, lambda: open_corpus(path))
    assert "'text'" in message and "record 1" in message and "body" in message
    later = tmp_path / "later.jsonl"
    later.write_text('{"text": "one"}\n{"text": "two"}\n{"body": "three"}\n')
    corpus = open_corpus(later)  # the first record is fine
    message = one_line_error(CorpusError, lambda: list(iter_documents(corpus)))
    assert "record 3" in message and "'text'" in message
    not_json = tmp_path / "broken.jsonl"
    not_json.write_text('{"text": "one"}\n{"text": \n')
    corpus = open_corpus(not_json)
    assert "record 2" in one_line_error(CorpusError, lambda: list(iter_documents(corpus)))
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"text": 3}\n')
    one_line_error(CorpusError, lambda: open_corpus(numbers))


def test_parquet_errors(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["a"], "n": [1]}), path)
    message = one_line_error(CorpusError, lambda: open_corpus(path))
    assert "'text'" in message and "body" in message
    assert docs(path, text_field="body") == ["a"]
    one_line_error(CorpusError, lambda: open_corpus(path, text_field="n"))  # not text
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    one_line_error(CorpusError, lambda: open_corpus(broken))


def test_hf_specs_are_parsed_and_need_datasets(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace())  # a stand-in
    assert corpus_module._parse_hf("hf:wikitext:wikitext-103-v1:train") == (
        "wikitext",
        "wikitext-103-v1",
        "train",
    )
    assert corpus_module._parse_hf("hf:NeelNanda/pile-10k") == ("NeelNanda/pile-10k", None, "train")
    assert corpus_module._parse_hf("hf:bookcorpus:validation") == ("bookcorpus", None, "validation")
    assert corpus_module._parse_hf("hf:allenai/c4:en") == ("allenai/c4", "en", "train")
    corpus = open_corpus("hf:wikitext:wikitext-103-v1:train")
    assert (corpus.kind, corpus.name, corpus.sha256, corpus.files) == (
        "hf",
        "wikitext-103-v1",
        None,
        (),
    )
    assert open_corpus("hf:allenai/c4:en:validation").name == "c4-en"
    one_line_error(ConfigError, lambda: open_corpus("hf:"))
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    message = one_line_error(CorpusError, lambda: list(iter_documents(corpus)))
    assert "datasets" in message and "llmgeom[corpora]" in message
    # and at once when the corpus is opened, before any model is loaded
    message = one_line_error(CorpusError, lambda: open_corpus("hf:wikitext:wikitext-103-v1"))
    assert "llmgeom[corpora]" in message


def _authors_segments(lines, max_length):
    """cali-1.py's loop for wikitext/bookcorpus, transcribed (records = lines)."""
    texts, current = [], ""
    for line in lines:
        if line.strip():
            current += line + " "
        if len(current.split()) >= max_length // 2:
            texts.append(current)
            current = ""
    return texts


def test_paper_recipe_joins_wikitext_lines_like_the_authors(tmp_path):
    lines = [f"line {i} " + "word " * (i % 5) for i in range(60)]
    lines[7] = "   "  # blank lines are skipped, not counted
    lines[20] = ""
    path = tmp_path / "wikitext-103-sample.txt"
    path.write_text("\n".join(lines) + "\n")
    got = docs(path, recipe="paper", max_length=20)
    assert got == _authors_segments(lines, 20)
    assert all(len(d.split()) >= 10 for d in got) and len(got) >= 5
    assert docs(path, recipe="paper", max_length=20, samples=2) == got[:2]
    records = tmp_path / "bookcorpus.jsonl"
    records.write_text("".join(json.dumps({"text": line}) + "\n" for line in lines))
    assert docs(records, recipe="paper", max_length=20) == _authors_segments(lines, 20)


def test_paper_recipe_takes_c4_and_pile_documents_as_they_come(tmp_path, files):
    c4 = tmp_path / "c4-en.jsonl"
    c4.write_bytes(files["jsonl"].read_bytes())
    assert tuple(docs(c4, recipe="paper", samples=2)) == JSONL_DOCUMENTS[:2]
    pile = tmp_path / "pile-10k.txt"
    pile.write_bytes(files["txt"].read_bytes())
    assert tuple(docs(pile, recipe="paper")) == TXT_DOCUMENTS
    other = tmp_path / "novels.txt"
    other.write_text("hello\n")
    assert "wikitext" in one_line_error(ConfigError, lambda: open_corpus(other, recipe="paper"))


def test_hf_records_through_a_stand_in_datasets_module(monkeypatch):
    """The hf: path with a stand-in for ``datasets.load_dataset`` (no network in tests)."""
    import types

    rows = [{"text": " = Title = \n"}, {"text": ""}, {"text": " Some words here .\n"}]
    calls = []

    def load_dataset(name, config, split, streaming):
        calls.append((name, config, split, streaming))
        return iter(rows)

    fake = types.SimpleNamespace(load_dataset=load_dataset)
    monkeypatch.setitem(__import__("sys").modules, "datasets", fake)
    assert docs("hf:wikitext:wikitext-103-v1:train") == [rows[0]["text"], rows[2]["text"]]
    assert calls[-1] == ("wikitext", "wikitext-103-v1", "train", True)
    joined = docs("hf:wikitext:wikitext-103-v1:train", recipe="paper", max_length=6)
    assert joined == _authors_segments([r["text"] for r in rows], 6)
    assert "record 1" in one_line_error(
        CorpusError, lambda: docs("hf:wikitext:wikitext-103-v1:train", text_field="body")
    )

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'wikitext' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(fake, "load_dataset", offline)
    message = one_line_error(LlmgeomError, lambda: docs("hf:wikitext:wikitext-103-v1:train"))
    assert "hf:wikitext:wikitext-103-v1:train" in message and "reach" in message
