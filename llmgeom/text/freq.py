"""Token frequencies of a tokenizer on a corpus (the paper's §3), and their files.

Definition (as ``llmgeom freq`` documents it): the corpus's documents (see
:mod:`llmgeom.text.corpus`) are encoded one by one with ``add_special_tokens=False`` and counted
in order until ``tokens`` tokens; the document that crosses the budget is cut there, so exactly
``tokens`` are counted unless the corpus runs out first. ``counts[i]`` is the number of
occurrences of token id ``i``; its length is ``len(tokenizer)``.

:func:`save_freq` writes ``<name>.<corpus>.counts.npz`` (``counts``, int64),
``<name>.<corpus>.freq.json`` (schema ``llmgeom.freq/1``: statistics, the 20 most frequent
tokens, the two rank-frequency fits of :mod:`llmgeom.text.zipf`, provenance) and
``<name>.<corpus>.freq.png`` (the rank-frequency plot), each atomically.

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
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._atomic import atomic_path, read_schema_json, write_json_atomic
from ..errors import CorpusError, FitError
from ..progress import progress_bar
from ..records.measurement import package_versions
from .corpus import Corpus, iter_documents, open_corpus
from .options import DEFAULT_TOKENS, FreqOptions, reading_options, refuse_inapplicable
from .tokenizers import LoadedTokenizer, load_tokenizer
from .zipf import loglog_fit, rank_counts, zipf_mle

SCHEMA = "llmgeom.freq/1"
TOP_TOKENS = 20
PNG_DPI = 120  # of the rank-frequency figure
_BATCH_CHARS = 4 << 20  # documents are encoded in batches of at most about this many characters
_BATCH_DOCS = 4096  # ... and this many documents
_VERSIONED = (
    "llmgeom",
    "numpy",
    "transformers",
    "tokenizers",
    "huggingface_hub",
    "datasets",
    "pyarrow",
)


@dataclass
class FreqResult:
    """Token counts of one tokenizer on one corpus, with what is needed to report them."""

    tokenizer: LoadedTokenizer
    corpus: Corpus
    counts: np.ndarray  # int64, length len(tokenizer), index = token id
    budget: int | None  # the --tokens budget (None: the whole corpus)
    documents: int  # documents read (the cut one included)
    last_document_cut: bool  # whether the budget cut the last document
    samples: int | None = None
    max_length: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_counted(self) -> int:
        """Σ counts."""
        return int(self.counts.sum())

    @property
    def corpus_exhausted(self) -> bool:
        """Whether the corpus ran out before the budget was reached."""
        return self.budget is not None and self.tokens_counted < self.budget

    @property
    def stem(self) -> str:
        """``<tokenizer>.<corpus>``: the common part of the file names."""
        return f"{_safe(self.tokenizer.name)}.{_safe(self.corpus.name)}"

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("tokenizer", repr(self.tokenizer.name)),
            ("corpus", repr(self.corpus.name)),
            ("tokens_counted", str(self.tokens_counted)),
            ("documents", str(self.documents)),
        ]

    def __repr__(self) -> str:
        from ..records.base import repr_line

        return repr_line(type(self).__name__, self._rows())

    def _repr_html_(self) -> str:
        from ..records.base import html_table

        return html_table(type(self).__name__, self._rows())


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


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
    return FreqResult(
        tokenizer=loaded,
        corpus=corpus,
        counts=counts,
        budget=budget,
        documents=documents,
        last_document_cut=cut,
        samples=samples,
        max_length=max_length,
        timings={
            **({"load_s": loaded_at - start} if loaded_here else {}),
            "count_s": done - loaded_at,
            "tokens_per_s": counted / (done - loaded_at) if done > loaded_at else 0.0,
        },
    )


def _add(counts: np.ndarray, batch: Sequence[Sequence[int]], name: str) -> None:
    """Add the token ids of ``batch`` (lists of ids) to ``counts``."""
    array = np.fromiter(chain.from_iterable(batch), dtype=np.int64)
    if not array.size:
        return
    if array.max() >= counts.size or array.min() < 0:  # pragma: no cover - a broken tokenizer
        raise CorpusError(f"tokenizer {name} produced id {int(array.max())} >= len(tokenizer)")
    counts += np.bincount(array, minlength=counts.size)


def top_tokens(result: FreqResult, n: int = TOP_TOKENS) -> list[dict[str, Any]]:
    """The ``n`` most frequent tokens (ties by id): rank, id, token, decoded text, count."""
    counts = result.counts
    order = np.lexsort((np.arange(counts.size), -counts))[:n]
    order = order[counts[order] > 0]
    tokenizer = result.tokenizer.tokenizer
    total = max(result.tokens_counted, 1)
    rows = []
    for rank, token_id in enumerate(order.tolist(), start=1):
        rows.append(
            {
                "rank": rank,
                "id": token_id,
                "token": tokenizer.convert_ids_to_tokens(token_id),
                "text": tokenizer.decode([token_id]),
                "count": int(counts[token_id]),
                "frequency": int(counts[token_id]) / total,
            }
        )
    return rows


def fits(result: FreqResult) -> dict[str, Any]:
    """Both rank-frequency fits, or the reason each cannot be made."""
    out: dict[str, Any] = {}
    for key, fit in (("loglog", loglog_fit), ("mle", zipf_mle)):
        try:
            out[key] = fit(result.counts)
        except FitError as err:
            out[key] = {"error": str(err)}
    return out


def build_record(result: FreqResult, files: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON-ready record of ``result`` (schema ``llmgeom.freq/1``)."""
    vocab = int(result.counts.size)
    distinct = int(np.count_nonzero(result.counts))
    return {
        "schema": SCHEMA,
        "tokenizer": {
            "name": result.tokenizer.name,
            "source": result.tokenizer.source,
            "revision": result.tokenizer.revision,
            **result.tokenizer.identity,
        },
        "corpus": result.corpus.to_dict(),
        "options": {
            "tokens": result.budget,
            "samples": result.samples,
            "max_length": result.max_length,
            "add_special_tokens": False,
            "definition": "documents in order, each encoded without special tokens, counted "
            "until `tokens` tokens; the document crossing the budget is cut there",
        },
        "stats": {
            "tokens_counted": result.tokens_counted,
            "documents": result.documents,
            "last_document_cut": result.last_document_cut,
            "corpus_exhausted": result.corpus_exhausted,
            "vocab_size": vocab,
            "distinct_tokens": distinct,
            "fraction_never_seen": (vocab - distinct) / vocab if vocab else 0.0,
        },
        "top_tokens": top_tokens(result),
        "rank_frequency": fits(result),
        "files": files or {},
        "timings": result.timings,
        "environment": {"versions": package_versions(_VERSIONED)},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def plot_rank_frequency(result: FreqResult, record: dict[str, Any], ax: Any = None) -> Any:
    """The log-log rank-frequency plot with both fitted lines, drawn into ``ax`` (a new
    6 × 4.5 figure if omitted); returns the figure (saving is the caller's job)."""
    from ..plotting import new_figure

    ranked = rank_counts(result.counts)
    total = ranked.sum()
    ranks = np.arange(1, ranked.size + 1)
    if ax is None:
        fig, (ax,) = new_figure(1, 6, 4.5)
    else:
        fig = ax.figure
    ax.loglog(ranks, ranked / total, ".", ms=2, color="0.3", label="tokens")
    fit_info = record["rank_frequency"]
    loglog = fit_info.get("loglog", {})
    if "alpha" in loglog:
        line = np.exp(loglog["intercept"]) * ranks ** -loglog["alpha"] / total
        ax.loglog(ranks, line, "-", color="C0", label=f"log-log fit: α = {loglog['alpha']:.3f}")
    mle = fit_info.get("mle", {})
    if "s" in mle:
        log_r = np.log(np.arange(1, mle["n_ranks"] + 1))
        norm = np.exp(-mle["s"] * log_r).sum()
        lo, hi = mle["ci95"]
        ax.loglog(
            ranks,
            ranks ** -mle["s"] / norm,
            "--",
            color="C1",
            label=f"power-law MLE: s = {mle['s']:.3f} [{lo:.3f}, {hi:.3f}]",
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency")
    ax.set_title(
        f"{result.tokenizer.name} on {result.corpus.name} ({result.tokens_counted:,} tokens)",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    return fig


def save_freq(
    result: FreqResult, out_dir: str | os.PathLike[str], record: dict[str, Any] | None = None
) -> list[Path]:
    """Write the counts (npz), the record (JSON) and the plot (PNG); return the paths.

    ``record``: one :func:`build_record` already made (its ``files`` entry is filled in here).
    """
    from ..plotting import save_png

    out = Path(out_dir)
    counts_path = out / f"{result.stem}.counts.npz"
    json_path = out / f"{result.stem}.freq.json"
    png_path = out / f"{result.stem}.freq.png"
    files = {"counts": counts_path.name, "record": json_path.name, "plot": png_path.name}
    record = {**(record or build_record(result)), "files": files}
    with atomic_path(counts_path) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, counts=result.counts.astype(np.int64))
    save_png(plot_rank_frequency(result, record), png_path, dpi=PNG_DPI)
    write_json_atomic(json_path, record)
    return [counts_path, json_path, png_path]


def summary(result: FreqResult, record: dict[str, Any] | None = None) -> str:
    """A few lines describing ``result`` for the terminal."""
    record = record or build_record(result)
    stats = record["stats"]
    fit_info = record["rank_frequency"]
    lines = [
        f"{result.tokenizer.name} on {result.corpus.name}: {stats['tokens_counted']:,} tokens "
        f"from {stats['documents']:,} documents"
        + (" (corpus exhausted before the budget)" if stats["corpus_exhausted"] else ""),
        f"  distinct tokens {stats['distinct_tokens']:,} of {stats['vocab_size']:,} "
        f"({100 * stats['fraction_never_seen']:.1f} % never seen)",
    ]
    loglog, mle = fit_info["loglog"], fit_info["mle"]
    if "alpha" in loglog:
        lines.append(
            f"  rank-frequency exponent, log-log fit (paper): {loglog['alpha']:.3f} "
            f"(R² {loglog['r2']:.3f})"
        )
    else:
        lines.append(f"  log-log fit: {loglog['error']}")
    if "s" in mle:
        lo, hi = mle["ci95"]
        lines.append(
            f"  rank-frequency exponent, power-law MLE: {mle['s']:.4f} "
            f"(95 % CI {lo:.4f} to {hi:.4f})"
        )
    else:
        lines.append(f"  power-law MLE: {mle['error']}")
    top = ", ".join(f"{row['text']!r} {row['count']:,}" for row in record["top_tokens"][:5])
    lines.append(f"  most frequent: {top}")
    return "\n".join(lines)


def load_freq_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``<name>.<corpus>.freq.json`` record (schema :data:`SCHEMA`) and check the blocks
    readers use (``tokenizer``, ``corpus``, ``stats`` with ``tokens_counted``, ``rank_frequency``,
    ``files``: its JSON Schema, ``llmgeom/records/schemas/freq-1.json``); one-line
    :class:`ConfigError` naming the file otherwise. The counts themselves are read with
    :func:`llmgeom.geometry.weights.load_counts` from ``files["counts"]`` beside the record.

    Example:
        >>> import json, tempfile
        >>> p = Path(tempfile.mkdtemp()) / "t.c.freq.json"
        >>> _ = p.write_text(json.dumps({"schema": SCHEMA, "tokenizer": {}, "corpus": {},
        ...     "stats": {"tokens_counted": 8}, "rank_frequency": {}, "files": {}}))
        >>> load_freq_record(p)["stats"]["tokens_counted"]
        8
    """
    from ..records.schema import check_schema

    record = read_schema_json(path, SCHEMA, "freq record")
    return check_schema(record, SCHEMA, str(path), "freq record")
