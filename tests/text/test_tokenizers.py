"""The tokenizer loader: local folders, GGUF files, objects, the Hub offline; one-line errors."""

from __future__ import annotations

import hashlib

import pytest
from helpers import ENGLISH, one_line_error, train_tokenizer, write_gguf_tokenizer

from llmgeom.errors import (
    CorruptCheckpointError,
    NetworkError,
    SourceNotFoundError,
)
from llmgeom.text.tokenizers import load_tokenizer

TEXTS = ["The cat sat on the mat.", "Zebras jump! 123 ünïcödé", ENGLISH]


def ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_local_folder(tmp_path):
    trained = train_tokenizer(tmp_path / "my-tok")
    loaded = load_tokenizer(tmp_path / "my-tok")
    assert loaded.name == "my-tok" and loaded.revision is None
    assert loaded.source == str(tmp_path / "my-tok")
    for text in TEXTS:
        assert ids(loaded.tokenizer, text) == ids(trained, text)
        assert loaded.tokenizer(text)["input_ids"] == trained(text)["input_ids"]
    identity = loaded.identity
    assert identity["kind"] == "local" and identity["vocab_size"] == len(trained) == 200
    digest = hashlib.sha256((tmp_path / "my-tok" / "tokenizer.json").read_bytes()).hexdigest()
    assert identity["files"]["tokenizer.json"] == digest


def test_object_is_passed_through(tmp_path):
    trained = train_tokenizer(tmp_path / "t")
    loaded = load_tokenizer(trained)
    assert loaded.tokenizer is trained and loaded.identity["kind"] == "object"
    assert loaded.identity["vocab_size"] == len(trained) and loaded.name == "t"
    with pytest.raises(TypeError):
        load_tokenizer(42)


def test_gguf_file_gives_the_same_encoding(tmp_path):
    reference = write_gguf_tokenizer(tmp_path / "tiny-model.gguf")
    loaded = load_tokenizer(tmp_path / "tiny-model.gguf")
    assert loaded.name == "tiny-model" and loaded.identity["kind"] == "gguf"
    assert (
        loaded.identity["sha256"]
        == hashlib.sha256((tmp_path / "tiny-model.gguf").read_bytes()).hexdigest()
    )
    assert len(loaded.tokenizer) == len(reference) == 300
    for text in TEXTS:
        assert ids(loaded.tokenizer, text) == ids(reference, text)


def test_bad_sources(tmp_path):
    assert "nope" in one_line_error(SourceNotFoundError, lambda: load_tokenizer("./nope"))
    one_line_error(SourceNotFoundError, lambda: load_tokenizer(tmp_path / "missing.gguf"))
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    message = one_line_error(SourceNotFoundError, lambda: load_tokenizer(empty))
    assert "no tokenizer files" in message
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    one_line_error(SourceNotFoundError, lambda: load_tokenizer(other))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text('{"model": ')
    one_line_error(CorruptCheckpointError, lambda: load_tokenizer(broken))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x00" * 40)
    one_line_error(CorruptCheckpointError, lambda: load_tokenizer(junk))


def test_hub_offline_is_a_network_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    message = one_line_error(NetworkError, lambda: load_tokenizer("pythia-70m"))
    assert "EleutherAI/pythia-70m" in message  # the alias resolved through the registry


def test_hub_id_loads_from_the_cache_offline(tmp_path, monkeypatch):
    """A Hub id goes through transformers' own cache: a snapshot laid out as the Hub's cache."""
    import huggingface_hub.constants

    cache = tmp_path / "hub-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / "models--acme--tiny-tok"
    trained = train_tokenizer(repo_dir / "snapshots" / commit)
    (repo_dir / "snapshots" / commit / "config.json").write_text("{}")  # every model repo has one
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    loaded = load_tokenizer("acme/tiny-tok")
    assert loaded.name == "tiny-tok" and loaded.source == "acme/tiny-tok"
    assert loaded.identity["kind"] == "hub" and loaded.identity["repo"] == "acme/tiny-tok"
    assert loaded.identity["commit"] == commit
    for text in TEXTS:
        assert ids(loaded.tokenizer, text) == ids(trained, text)


def test_hub_tokenizer_without_dns_answers_at_once(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://no-such-host.invalid")
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)  # a retry schedule would show up here
    with pytest.raises(NetworkError, match="cache lacks its tokenizer"):
        load_tokenizer("llmgeom-test/not-cached-anywhere")
    assert slept == []
