"""Token counts against collections.Counter over the same encoding; the budget cut; the files."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
from helpers import ENGLISH, train_tokenizer, write_corpus

from llmgeom.text import freq as freq_module
from llmgeom.text.corpus import iter_documents, open_corpus
from llmgeom.text.freq import count_tokens
from llmgeom.text.freq_record import FreqResult


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok") / "tiny-bpe"
    train_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture
def corpus_dir(tmp_path):
    folder = tmp_path / "corpus"
    write_corpus(folder)
    (folder / "d.txt").write_text("\n\n".join(ENGLISH.splitlines() * 3))
    return folder


def stream(tokenizer, spec):
    """Every document encoded alone, without special tokens, concatenated in order."""
    ids = []
    for doc in iter_documents(open_corpus(spec)):
        ids.extend(tokenizer.encode(doc, add_special_tokens=False))
    return ids


def as_counter(counts):
    return Counter({i: int(c) for i, c in enumerate(counts) if c})


def test_counts_equal_counter_over_the_whole_corpus(tokenizer, corpus_dir):
    ids = stream(tokenizer, corpus_dir)
    result = count_tokens(tokenizer, corpus_dir, tokens=0)
    assert result.counts.dtype == np.int64 and result.counts.size == len(tokenizer)
    assert as_counter(result.counts) == Counter(ids)
    assert result.tokens_counted == len(ids) and not result.corpus_exhausted
    assert result.counts[tokenizer.bos_token_id] == 0  # special tokens are not added
    assert tokenizer("The cat")["input_ids"][0] == tokenizer.bos_token_id  # though by default


def test_budget_cuts_exactly_at_the_token(tokenizer, corpus_dir, monkeypatch):
    ids = stream(tokenizer, corpus_dir)
    lengths = [
        len(tokenizer.encode(d, add_special_tokens=False))
        for d in iter_documents(open_corpus(corpus_dir))
    ]
    boundary = sum(lengths[:3])  # exactly three whole documents
    for budget in (1, 7, boundary, boundary + 1, len(ids) - 1, len(ids), len(ids) + 50):
        result = count_tokens(tokenizer, corpus_dir, tokens=budget)
        assert as_counter(result.counts) == Counter(ids[:budget]), budget
        assert result.tokens_counted == min(budget, len(ids))
        assert result.corpus_exhausted == (budget > len(ids))
    at_boundary = count_tokens(tokenizer, corpus_dir, tokens=boundary)
    assert (at_boundary.documents, at_boundary.last_document_cut) == (3, False)
    past = count_tokens(tokenizer, corpus_dir, tokens=boundary + 1)
    assert (past.documents, past.last_document_cut) == (4, True)
    # batching documents for the tokenizer changes nothing
    monkeypatch.setattr(freq_module, "_BATCH_CHARS", 10)
    small_batches = count_tokens(tokenizer, corpus_dir, tokens=boundary + 5)
    assert as_counter(small_batches.counts) == Counter(ids[: boundary + 5])


def test_samples_limit_documents(tokenizer, corpus_dir):
    docs = list(iter_documents(open_corpus(corpus_dir)))[:2]
    expected = Counter(i for d in docs for i in tokenizer.encode(d, add_special_tokens=False))
    result = count_tokens(tokenizer, corpus_dir, tokens=0, samples=2)
    assert as_counter(result.counts) == expected and result.documents == 2


def test_top_tokens_and_record(tokenizer, tokenizer_dir, corpus_dir):
    result = count_tokens(tokenizer_dir, corpus_dir, tokens=300)
    ids = stream(tokenizer, corpus_dir)[:300]
    counter = Counter(ids)
    rows = result.top_tokens
    expected = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [(r["id"], r["count"]) for r in rows] == expected
    assert [r["token"] for r in rows] == tokenizer.convert_ids_to_tokens([i for i, _ in expected])
    record = result.to_dict()
    stats = record["stats"]
    assert stats["tokens_counted"] == 300 and stats["distinct_tokens"] == len(counter)
    assert stats["vocab_size"] == len(tokenizer)
    assert stats["fraction_never_seen"] == pytest.approx(1 - len(counter) / len(tokenizer))
    assert record["schema"] == "llmgeom.freq/1"
    assert record["tokenizer"]["kind"] == "local" and record["tokenizer"]["name"] == "tiny-bpe"
    assert record["corpus"]["sha256"] == open_corpus(corpus_dir).sha256
    assert record["rank_frequency"]["loglog"]["alpha"] > 0
    assert record["rank_frequency"]["mle"]["ci95"][0] < record["rank_frequency"]["mle"]["s"]
    json.dumps(record, allow_nan=False)


def test_save_writes_counts_record_and_plot(tokenizer_dir, corpus_dir, tmp_path):
    result = count_tokens(tokenizer_dir, corpus_dir / "a.txt", tokens=40)
    paths = result.save(tmp_path / "out")
    assert [p.name for p in paths] == [
        "tiny-bpe.a.counts.npz",
        "tiny-bpe.a.freq.json",
        "tiny-bpe.a.freq.png",
    ]
    with np.load(paths[0]) as data:
        assert data["counts"].dtype == np.int64
        np.testing.assert_array_equal(data["counts"], result.counts)
    record = json.loads(paths[1].read_text())
    assert record["files"]["counts"] == "tiny-bpe.a.counts.npz"
    assert record["stats"]["tokens_counted"] == 40
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)


def test_gguf_tokenizer_counts_like_its_source(tmp_path, corpus_dir):
    from helpers import write_gguf_tokenizer

    reference = write_gguf_tokenizer(tmp_path / "tiny.gguf")
    result = count_tokens(tmp_path / "tiny.gguf", corpus_dir, tokens=0)
    assert result.tokenizer["kind"] == "gguf" and result.tokenizer_name == "tiny"
    assert result.counts.size == len(reference)
    assert as_counter(result.counts) == Counter(stream(reference, corpus_dir))


def test_bad_budget(tokenizer, corpus_dir):
    from llmgeom.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"^tokens must be at least 0 \(0: the whole corpus\), got -1$"
    ):
        count_tokens(tokenizer, corpus_dir, tokens=-1)
    with pytest.raises(ConfigError, match=r"^tokens=None is no budget: tokens=0 counts the whole"):
        count_tokens(tokenizer, corpus_dir, tokens=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^max_length must be at least 2 tokens, got 1$") as err:
        count_tokens(tokenizer, corpus_dir, max_length=1)
    assert err.value.parameters == ("max_length",)


def test_an_argument_that_does_not_apply_is_an_error(tokenizer, corpus_dir):
    from llmgeom.errors import ConfigError

    opened = open_corpus(corpus_dir)
    with pytest.raises(ConfigError, match=r"^recipe='paper' does not apply: ") as err:
        count_tokens(tokenizer, opened, recipe="paper")
    assert err.value.parameters == ("recipe",)
    with pytest.raises(ConfigError, match=r"^revision='main' does not apply: the tokenizer"):
        count_tokens(tokenizer, corpus_dir, revision="main")


def test_count_tokens_returns_what_load_reads_back(tokenizer_dir, corpus_dir, tmp_path):
    """One class: the result of count_tokens equals the one load gives back (record, headline
    values and counts), and from_dict / to_dict round-trip exactly."""
    result = count_tokens(tokenizer_dir, corpus_dir, tokens=120)
    assert type(result) is FreqResult
    paths = result.save(tmp_path)
    loaded = FreqResult.load(paths[1])
    assert type(loaded) is FreqResult and loaded == result
    assert loaded.to_dict() == result.to_dict() == json.loads(paths[1].read_text())
    np.testing.assert_array_equal(loaded.counts, result.counts)
    assert loaded.counts.dtype == np.int64
    assert (loaded.tokens_counted, loaded.mle_s, loaded.top_tokens) == (
        result.tokens_counted, result.mle_s, result.top_tokens,
    )  # fmt: skip
    again = FreqResult.from_dict(loaded.to_dict())
    assert again == loaded and again.to_dict() == loaded.to_dict() and again.counts is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.tokens_counted = 1  # type: ignore[misc]
    assert len(repr(result)) < 120 and "<caption>FreqResult</caption>" in result._repr_html_()
    # the counts and the record agree (an independent reader: numpy's own)
    with np.load(paths[0]) as data:
        assert int(data["counts"].sum()) == loaded.tokens_counted == 120
