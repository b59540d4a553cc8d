"""Text corpora as documents: .txt, .jsonl, .parquet, folders of those, and ``hf:`` datasets.

The document definition is exact, because losses and token counts depend on it:

- ``.txt``: a document is a maximal run of non-blank lines joined with ``"\\n"`` (a blank line is
  empty or whitespace only; a line loses its ``"\\n"`` / ``"\\r\\n"`` ending, nothing else).
- ``.jsonl``: one document per record (a JSON object per non-blank line), its field ``text``
  (``text_field`` to change). ``.parquet``: one document per row of the column ``text_field``.
- a directory: its ``.txt`` / ``.jsonl`` / ``.parquet`` files, sorted by name, one after another.
- ``hf:NAME[:CONFIG[:SPLIT]]``: a Hugging Face dataset streamed with ``datasets`` (the optional
  ``corpora`` extra), one document per record.
- Documents are taken in order; empty ones (nothing but whitespace) are skipped; ``samples=N``
  keeps the first N.

``recipe="paper"`` reproduces the authors' sampling (``cali-1.py``): for wikitext and
bookcorpus, non-blank lines (``.txt``) or records are appended, each followed by a space, until
the text holds at least ``max_length // 2`` whitespace-separated words, which makes one document
(a last, shorter remainder is dropped, as in their script); for c4 and the Pile the documents are
taken as they come. The corpus kind is told by its name (``wikitext``, ``bookcorpus``, ``c4``,
``pile``).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
    >>> _ = path.write_text("One line.\\nTwo lines.\\n   \\nA second document.\\n")
    >>> corpus = open_corpus(path)
    >>> corpus.kind, corpus.name, len(corpus.sha256)
    ('txt', 'tiny', 64)
    >>> list(iter_documents(corpus))
    ['One line.\\nTwo lines.', 'A second document.']
    >>> list(iter_documents(corpus, samples=1))
    ['One line.\\nTwo lines.']
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, CorpusError, NetworkError, SourceNotFoundError
from .corpus_files import (
    INSTALL_HINT,
    decode_utf8,
    field_value,
    jsonl_records,
    parquet_records,
    txt_documents,
    txt_lines,
)

SUFFIXES = (".txt", ".jsonl", ".parquet")
RECIPES = ("paper",)
PAPER_MAX_LENGTH = 2048  # the authors' max_seq_length: a document holds >= 1024 words
_SPLITS = ("train", "validation", "test")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Corpus:
    """A corpus checked and fingerprinted by :func:`open_corpus`; read it with
    :func:`iter_documents`."""

    spec: str  # as the user gave it
    name: str  # short name for file names: file stem, folder name, or dataset name (+config)
    kind: str  # "txt" | "jsonl" | "parquet" | "dir" | "hf"
    files: tuple[Path, ...]  # the files read, in order (dir: sorted by name; hf: empty)
    sha256: str | None  # sha256 of the bytes of all files in order (None for hf:)
    text_field: str = "text"
    recipe: str | None = None  # None or "paper"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready provenance of the corpus."""
        return {
            "spec": self.spec,
            "name": self.name,
            "kind": self.kind,
            "files": [str(f) for f in self.files],
            "sha256": self.sha256,
            "text_field": self.text_field,
            "recipe": self.recipe,
        }


# ----------------------------------------------------------------------------- opening


def open_corpus(
    spec: str | os.PathLike[str], *, text_field: str = "text", recipe: str | None = None
) -> Corpus:
    """Check ``spec`` and fingerprint its files; raise a typed one-line error when unusable.

    Local files are read once here: their sha256 is taken and their UTF-8 checked (an
    undecodable byte is reported with its file and offset), and the first document is looked
    for (an empty corpus, or a first record without ``text_field``, fails now rather than after
    a long computation). ``hf:`` specs are only parsed here; the dataset is opened when read.
    """
    if recipe is not None and recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    if not text_field:
        raise ConfigError("the text field must be a non-empty name")
    spec_str = os.fspath(spec)
    if spec_str.startswith("hf:"):
        corpus = Corpus(spec_str, _hf_name(spec_str), "hf", (), None, text_field, recipe)
        _import_datasets(spec_str)  # fail now, not after loading a model
        if recipe:
            _paper_kind(corpus)
        return corpus
    path = Path(spec_str).expanduser()
    if not path.exists():
        raise SourceNotFoundError(f"no such corpus file or folder: {spec_str}")
    if path.is_dir():
        files = tuple(
            sorted(
                (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES),
                key=lambda p: p.name,
            )
        )
        if not files:
            raise CorpusError(f"{spec_str}: no {', '.join(SUFFIXES)} files in this folder")
        kind, name = "dir", path.resolve().name
    else:
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise CorpusError(
                f"{spec_str}: unknown corpus format {suffix or '(no suffix)'!r}; "
                f"expected {', '.join(SUFFIXES)}, a folder of those, or hf:NAME:CONFIG:SPLIT"
            )
        files, kind, name = (path,), suffix[1:], path.stem
    digest = hashlib.sha256()
    for file in files:
        _hash_and_check(file, digest)
    corpus = Corpus(spec_str, name, kind, files, digest.hexdigest(), text_field, recipe)
    if recipe:
        _paper_kind(corpus)
    if next(_raw_documents(corpus), None) is None:
        raise CorpusError(f"{spec_str}: empty corpus (no non-blank document)")
    return corpus


def _parse_hf(spec: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:CONFIG[:SPLIT]]`` -> (name, config, split); ``hf:NAME:SPLIT`` for a known
    split name."""
    parts = spec[3:].split(":")
    if not parts[0] or len(parts) > 3:
        raise ConfigError(f"bad dataset spec {spec!r}: expected hf:NAME:CONFIG:SPLIT")
    dataset = parts[0]
    config = parts[1] or None if len(parts) > 1 else None
    split = parts[2] if len(parts) > 2 and parts[2] else "train"
    if len(parts) == 2 and config in _SPLITS:
        split, config = config, None
    return dataset, config, split


def _hf_name(spec: str) -> str:
    dataset, config, _split = _parse_hf(spec)
    base = dataset.rsplit("/", 1)[-1]
    if config and config != base:
        return config if config.startswith(base) else f"{base}-{config}"
    return base


def _hash_and_check(file: Path, digest: Any) -> None:
    """Feed ``file``'s bytes to ``digest``; check text files decode as UTF-8."""
    text = file.suffix.lower() in (".txt", ".jsonl")
    try:
        with file.open("rb") as fh:
            if not text:
                for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
                    digest.update(chunk)
                return
            offset = 0
            for line in fh:  # b"\n" never occurs inside a UTF-8 multi-byte sequence
                digest.update(line)
                decode_utf8(line, file, offset)
                offset += len(line)
    except PermissionError:
        raise CorpusError(f"{file}: not readable (permission denied)") from None
    except IsADirectoryError:  # pragma: no cover - filtered above
        raise CorpusError(f"{file}: is a folder") from None


# ----------------------------------------------------------------------------- reading


def iter_documents(
    corpus: Corpus, *, samples: int | None = None, max_length: int | None = None
) -> Iterator[str]:
    """The corpus's non-empty documents in order, the first ``samples`` of them.

    ``max_length`` (tokens) matters only for ``recipe="paper"`` on wikitext and bookcorpus,
    where a document gathers at least ``max_length // 2`` words (default 2048 // 2).
    Raises :class:`~llmgeom.errors.CorpusError` if the corpus yields no document at all.
    """
    if samples is not None and samples < 1:
        raise ConfigError(f"samples must be a positive number of documents, got {samples}")
    if max_length is not None and max_length < 2:
        raise ConfigError(f"max_length must be at least 2 tokens, got {max_length}")
    docs = _raw_documents(corpus)
    if corpus.recipe == "paper" and _paper_kind(corpus) == "joined":
        docs = _join_lines(_raw_units(corpus), (max_length or PAPER_MAX_LENGTH) // 2)
    seen = 0
    for doc in docs:
        if samples is not None and seen >= samples:
            return
        seen += 1
        yield doc
    if seen == 0:
        raise CorpusError(f"{corpus.spec}: empty corpus (no non-blank document)")


def _paper_kind(corpus: Corpus) -> str:
    """``"joined"`` (wikitext, bookcorpus) or ``"records"`` (c4, the Pile) for the paper recipe."""
    key = corpus.name.lower() if corpus.kind != "hf" else corpus.spec.lower()
    if "wikitext" in key or "bookcorpus" in key:
        return "joined"
    if re.search(r"(^|[^a-z0-9])c4([^a-z0-9]|$)", key) or "pile" in key:
        return "records"
    raise ConfigError(
        f"recipe='paper' knows wikitext, bookcorpus, c4 and the Pile; cannot tell which "
        f"{corpus.spec!r} is (name the file or folder after one of them)",
        parameter="recipe",
    )


def _join_lines(units: Iterator[str], words: int) -> Iterator[str]:
    """The authors' segments: append non-blank units + " " until >= ``words`` words."""
    current: list[str] = []
    count = 0
    for unit in units:
        if not unit.strip():
            continue
        current.append(unit + " ")
        count += len(unit.split())
        if count >= words:
            yield "".join(current)
            current, count = [], 0


def _raw_units(corpus: Corpus) -> Iterator[str]:
    """Lines of ``.txt`` files, records otherwise: what the paper recipe joins."""
    for kind, file in _sources(corpus):
        if kind == "txt":
            assert file is not None  # only the "hf" kind has no file
            yield from txt_lines(file)
        else:
            yield from _records(kind, file, corpus)


def _raw_documents(corpus: Corpus) -> Iterator[str]:
    for kind, file in _sources(corpus):
        if kind == "txt":
            assert file is not None  # only the "hf" kind has no file
            docs = txt_documents(file)
        else:
            docs = _records(kind, file, corpus)
        for doc in docs:
            if doc.strip():
                yield doc


def _sources(corpus: Corpus) -> Iterator[tuple[str, Path | None]]:
    if corpus.kind == "hf":
        yield "hf", None
        return
    for file in corpus.files:
        yield file.suffix.lower()[1:], file


def _records(kind: str, file: Path | None, corpus: Corpus) -> Iterator[str]:
    if kind == "jsonl":
        assert file is not None
        return jsonl_records(file, corpus.text_field)
    if kind == "parquet":
        assert file is not None
        return parquet_records(file, corpus.text_field)
    return _hf_records(corpus)


def _import_datasets(spec: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise CorpusError(
            f"{spec}: Hugging Face datasets need the datasets package: {INSTALL_HINT}"
        ) from None
    return datasets


def _hf_records(corpus: Corpus) -> Iterator[str]:
    dataset, config, split = _parse_hf(corpus.spec)
    datasets = _import_datasets(corpus.spec)
    try:
        stream = datasets.load_dataset(dataset, config, split=split, streaming=True)
        rows = iter(stream)
        first = next(rows, None)
    except (ConnectionError, TimeoutError) as err:
        raise NetworkError(f"{corpus.spec}: cannot reach the Hugging Face Hub ({err})") from None
    except Exception as err:  # datasets raises many types; make it one line
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CorpusError(f"{corpus.spec}: cannot open the dataset ({text})") from None
    if first is None:
        return
    number = 1
    yield field_value(first, corpus.text_field, f"{corpus.spec}: record {number}")
    for row in rows:
        number += 1
        yield field_value(row, corpus.text_field, f"{corpus.spec}: record {number}")
