"""Documents to token batches for :func:`~llmgeom.text.loss.compute_loss`: each document
tokenised and cut to ``max_length`` tokens (short ones skipped and counted), read in pools of
a few token budgets, and each pool grouped into padded batches, longest first.

The batching never changes a loss (padding is masked out); it only bounds the memory and the
padding of each forward pass.

Example:
    >>> plan_batches([3, 9, 4, 8, 2], batch_tokens=18)  # longest first, <= 18 padded tokens each
    [[1, 3], [2, 0, 4]]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

_POOL_BATCHES = 32  # documents are sorted by length within pools of this many token budgets
_POOL_CAP = 1 << 22  # ...but at most this many tokens in memory at once
_TOKENIZE_CHUNK = 64  # documents per tokenizer call (fast tokenizers encode a list in parallel)


@dataclass
class TokenizedDocument:
    """A kept document: its token ids (cut to ``max_length``) and the UTF-8 bytes they cover."""

    ids: list[int]
    n_bytes: int


@dataclass
class ReadCounts:
    """What reading the documents skipped and cut (filled in by :func:`tokenized_documents`)."""

    skipped: int = 0  # fewer than 2 tokens
    truncated: int = 0  # cut at max_length
    bytes_exact: bool = True  # false when a cut document's bytes could not be located


def _kept_bytes(
    text: str, ids: Sequence[int], offsets: Sequence[Any] | None, keep: int
) -> tuple[int, bool]:
    """UTF-8 bytes of the text covered by the first ``keep`` tokens (all of it when not cut)."""
    if keep >= len(ids):
        return len(text.encode("utf-8")), True
    if offsets is None:
        return len(text.encode("utf-8")), False
    end = max((int(stop) for _start, stop in offsets[:keep]), default=0)
    return len(text[:end].encode("utf-8")), True


def _encode(tokenizer: Any, texts: list[str]) -> tuple[list[list[int]], list[Any] | None]:
    """``tokenizer(text)["input_ids"]`` for each text (one list call), with offsets when the
    tokenizer is a fast one."""
    fast = bool(getattr(tokenizer, "is_fast", False))
    enc = tokenizer(texts, return_offsets_mapping=fast, verbose=False)
    return [list(ids) for ids in enc["input_ids"]], (enc["offset_mapping"] if fast else None)


def tokenized_documents(
    tokenizer: Any, texts: Iterable[str], max_length: int, counts: ReadCounts
) -> Iterator[TokenizedDocument]:
    """Each text as ``tokenizer(text)["input_ids"]`` cut to ``max_length`` tokens; texts of
    fewer than 2 tokens are skipped, and skipped or cut ones counted in ``counts``.

    Example:
        >>> class Chars:  # a stand-in tokenizer: one token per character
        ...     def __call__(self, texts, **kwargs):
        ...         return {"input_ids": [[ord(c) for c in t] for t in texts]}
        >>> counts = ReadCounts()
        >>> [d.ids for d in tokenized_documents(Chars(), ["abc", "x", "hello"], 4, counts)]
        [[97, 98, 99], [104, 101, 108, 108]]
        >>> counts.skipped, counts.truncated, counts.bytes_exact
        (1, 1, False)
    """
    chunk: list[str] = []

    def flush() -> Iterator[TokenizedDocument]:
        ids_list, offsets = _encode(tokenizer, chunk)
        for i, (text, ids) in enumerate(zip(chunk, ids_list, strict=True)):
            keep = min(len(ids), max_length)
            if keep < 2:
                counts.skipped += 1
                continue
            if keep < len(ids):
                counts.truncated += 1
            n_bytes, exact = _kept_bytes(text, ids, None if offsets is None else offsets[i], keep)
            counts.bytes_exact &= exact
            yield TokenizedDocument(ids[:keep], n_bytes)
        chunk.clear()

    for text in texts:
        chunk.append(text)
        if len(chunk) >= _TOKENIZE_CHUNK:
            yield from flush()
    if chunk:
        yield from flush()


def pool_size(batch_tokens: int, max_length: int) -> int:
    """Tokens read (and sorted by length) before batching: 32 batch budgets, at least four
    full-length documents, at most 4M tokens (``--batch-size`` gives an unbounded budget).

    Example:
        >>> pool_size(8192, 2048), pool_size(1 << 62, 2048)
        (262144, 4194304)
    """
    return min(max(batch_tokens * _POOL_BATCHES, 4 * max_length), max(_POOL_CAP, 4 * max_length))


def document_pools(
    docs: Iterable[TokenizedDocument], pool_tokens: int
) -> Iterator[list[TokenizedDocument]]:
    """``docs`` in consecutive lists of at least ``pool_tokens`` tokens (the last one shorter).

    Example:
        >>> docs = [TokenizedDocument([0] * n, n) for n in (3, 2, 4, 1)]
        >>> [[len(d.ids) for d in pool] for pool in document_pools(docs, 5)]
        [[3, 2], [4, 1]]
    """
    pool: list[TokenizedDocument] = []
    size = 0
    for doc in docs:
        pool.append(doc)
        size += len(doc.ids)
        if size >= pool_tokens:
            yield pool
            pool, size = [], 0
    if pool:
        yield pool


def plan_batches(
    lengths: Sequence[int], batch_tokens: int, batch_size: int | None = None
) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, longest first: each batch's rows × its
    longest length stays within ``batch_tokens`` (a longer document goes alone) and, if given,
    at most ``batch_size`` rows.

    Example:
        >>> plan_batches([3, 9, 4, 8, 2], batch_tokens=18)
        [[1, 3], [2, 0, 4]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        full = batch_size is not None and len(current) >= batch_size
        if current and ((len(current) + 1) * width > batch_tokens or full):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
