"""Token frequencies of a tokenizer on a corpus (the paper's §3): :func:`count_tokens`.

Definition (as ``llmgeom freq`` documents it): the corpus's documents (see
:mod:`llmgeom.text.corpus`) are encoded one by one with ``add_special_tokens=False`` and counted
in order until ``tokens`` tokens; the document that crosses the budget is cut there, so exactly
``tokens`` are counted unless the corpus runs out first. ``counts[i]`` is the number of
occurrences of token id ``i``; its length is ``len(tokenizer)``.

The result is a :class:`~llmgeom.text.freq_record.FreqResult`: its ``save`` writes
``<name>.<corpus>.counts.npz`` (``counts``, int64), ``<name>.<corpus>.freq.json`` (schema
``llmgeom.freq/1``: statistics, the 20 most frequent tokens, the two rank-frequency fits of
:mod:`llmgeom.text.zipf`, provenance) and ``<name>.<corpus>.freq.png`` (the rank-frequency
plot), each atomically; ``FreqResult.load`` reads them back.

Example:
    >>> import tempfile, pathlib
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import PreTrainedTokenizerFast
    >>> vocab = {w: i for i, w in enumerate("[UNK] the cat sat on mat a dog".split())}
    >>> raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> raw.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "pets.txt").write_text("the cat sat on the mat\\n\\nthe dog sat\\n")
    >>> result = count_tokens(tok, folder / "pets.txt", tokens=8)
    >>> result.tokens_counted, result.counts.tolist()
    (8, [0, 3, 1, 1, 1, 1, 0, 1])
    >>> result.documents, result.last_document_cut
    (2, True)
    >>> paths = result.save(folder / "out")
    >>> FreqResult.load(paths[1]) == result
    True
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from typing import Any, Literal

import numpy as np

from ..errors import CorpusError
from ..progress import progress_bar
from .corpus import Corpus, iter_documents, open_corpus
from .freq_record import SCHEMA, FreqResult, build_freq_record, load_freq_record, top_tokens
from .options import DEFAULT_TOKENS, FreqOptions, reading_options, refuse_inapplicable
from .tokenizers import LoadedTokenizer, load_tokenizer

__all__ = ["SCHEMA", "FreqResult", "count_tokens", "load_freq_record"]

_BATCH_CHARS = 4 << 20  # documents are encoded in batches of at most about this many characters
_BATCH_DOCS = 4096  # ... and this many documents


def _batches(docs: Iterator[str], chars: Callable[[], int]) -> Iterator[list[str]]:
    """Documents in lists of about ``chars()`` characters (asked again for each list).

    Large lists keep the tokenizer's threads busy; ``chars`` shrinks them near the end of the
    budget so that little text is encoded only to be dropped.
    """
    batch: list[str] = []
    size = 0
    limit = chars()
    for doc in docs:
        batch.append(doc)
        size += len(doc)
        if size >= limit or len(batch) >= _BATCH_DOCS:
            yield batch
            batch, size = [], 0
            limit = chars()
    if batch:
        yield batch


def count_tokens(
    tokenizer_or_source: Any,
    corpus_or_spec: Corpus | str | os.PathLike[str],
    tokens: int = DEFAULT_TOKENS,
    *,
    text_field: str = "text",
    recipe: Literal["paper"] | None = None,
    samples: int | None = None,
    max_length: int | None = None,
    revision: str | None = None,
    progress: bool | None = None,
) -> FreqResult:
    """Count the tokens of the corpus's documents, in order, up to ``tokens`` of them.

    ``tokenizer_or_source``: a :class:`LoadedTokenizer`, a tokenizer object, or any source
    :func:`~llmgeom.text.tokenizers.load_tokenizer` accepts. ``tokens=0`` counts the whole
    corpus (as ``--tokens 0`` and a sweep's ``tokens = 0``). The options are those of
    :class:`~llmgeom.text.options.FreqOptions` (a bad value: a ``ConfigError`` naming it).
    """
    budget = FreqOptions(
        tokens=tokens, samples=samples, max_length=max_length, text_field=text_field, recipe=recipe
    ).budget  # None: the whole corpus
    start = time.perf_counter()
    if not isinstance(tokenizer_or_source, str | os.PathLike):
        refuse_inapplicable("the tokenizer is already loaded", revision=revision)
    if isinstance(corpus_or_spec, Corpus):
        refuse_inapplicable(
            "the corpus is already opened (they apply to a corpus spec)",
            **reading_options(text_field, recipe),
        )
    loaded = (
        tokenizer_or_source
        if isinstance(tokenizer_or_source, LoadedTokenizer)
        else load_tokenizer(tokenizer_or_source, revision=revision)
    )
    corpus = (
        corpus_or_spec
        if isinstance(corpus_or_spec, Corpus)
        else open_corpus(corpus_or_spec, text_field=text_field, recipe=recipe)
    )
    loaded_here = not (
        isinstance(tokenizer_or_source, LoadedTokenizer) and isinstance(corpus_or_spec, Corpus)
    )
    loaded_at = time.perf_counter()
    tokenizer = loaded.tokenizer
    vocab = len(tokenizer)
    counts = np.zeros(vocab, dtype=np.int64)
    counted = documents = chars = 0
    cut = False

    def batch_chars() -> int:
        """Characters for the next batch: about 1.1x what the rest of the budget needs."""
        if budget is None:
            return _BATCH_CHARS
        per_token = chars / counted if counted else 8.0  # few tokens are longer than 8 chars
        return max(1, min(_BATCH_CHARS, int(1.1 * (budget - counted) * per_token) + 1))

    docs = iter_documents(corpus, samples=samples, max_length=max_length)
    # total None: an open-ended bar (tqdm shows the count and the rate)
    with progress_bar(
        budget,
        f"counting {corpus.name}",
        unit="tok",
        progress=progress,
    ) as bar:
        for batch in _batches(docs, batch_chars):
            encoded = tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]
            kept = []
            for doc, ids in zip(batch, encoded, strict=True):
                documents += 1
                chars += len(doc)
                if budget is not None and counted + len(ids) >= budget:
                    cut = counted + len(ids) > budget
                    ids = ids[: budget - counted]
                kept.append(ids)
                counted += len(ids)
                if budget is not None and counted >= budget:
                    break
            _add(counts, kept, loaded.name)  # one bincount per batch, not per document
            bar.update(sum(map(len, kept)))
            if budget is not None and counted >= budget:
                break
    if counted == 0:
        raise CorpusError(
            f"{corpus.spec}: no tokens: the tokenizer encodes every document as empty"
        )
    done = time.perf_counter()
    record = build_freq_record(
        tokenizer={
            "name": loaded.name,
            "source": loaded.source,
            "revision": loaded.revision,
            **loaded.identity,
        },
        corpus=corpus.to_dict(),
        options={"tokens": budget, "samples": samples, "max_length": max_length},
        counts=counts,
        documents=documents,
        last_document_cut=cut,
        budget=budget,
        top=top_tokens(counts, tokenizer),
        timings={
            **({"load_s": loaded_at - start} if loaded_here else {}),
            "count_s": done - loaded_at,
            "tokens_per_s": counted / (done - loaded_at) if done > loaded_at else 0.0,
        },
    )
    return FreqResult._build(record, counts=counts)


def _add(counts: np.ndarray, batch: Sequence[Sequence[int]], name: str) -> None:
    """Add the token ids of ``batch`` (lists of ids) to ``counts``."""
    array = np.fromiter(chain.from_iterable(batch), dtype=np.int64)
    if not array.size:
        return
    if array.max() >= counts.size or array.min() < 0:  # pragma: no cover - a broken tokenizer
        raise CorpusError(f"tokenizer {name} produced id {int(array.max())} >= len(tokenizer)")
    counts += np.bincount(array, minlength=counts.size)
