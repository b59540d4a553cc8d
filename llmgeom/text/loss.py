"""Cross-entropy of a causal language model on a text corpus (``llmgeom loss``).

Definition (exact; tests and users rely on it):

- Documents come from :func:`llmgeom.text.corpus.iter_documents` (or a list of strings), in
  order, the first ``samples`` of them.
- Each document is tokenised exactly as ``tokenizer(text)["input_ids"]`` (the tokenizer's
  default special tokens), then cut to its first ``max_length`` tokens (default: the model's
  context length, capped at 2048). Documents with fewer than 2 tokens are skipped and counted.
- ``loss`` = Σ_documents Σ_{t≥1} −log p(x_t | x_<t) / (number of predicted tokens), in
  nats/token: token-weighted, a document's first token is context only.
- ``loss_authors_weighting`` = Σ_d mean_d · n_d / Σ_d n_d, where ``mean_d`` is document d's mean
  loss over its predicted tokens and ``n_d`` its token count *including* the first token: the
  convention of the authors' script (Hugging Face's mean loss times the label count).
- ``bits_per_byte`` = Σ −log₂ p / (UTF-8 bytes of the kept text). The kept text is the text of
  the documents that were not skipped; for a document cut at ``max_length`` tokens, only the
  part its kept tokens cover (up to the end character of the last kept token, from the fast
  tokenizer's offsets; a slow tokenizer, which has no offsets, counts the whole document and
  ``bytes_exact`` is then false for a cut document).
- ``perplexity`` = exp(loss).

The batching (longest documents first, padded to a token budget, padding masked out and
position ids counted over real tokens only) never changes these numbers: the log-softmax at
each target is computed here from the logits and summed in float64, not taken from the
model's own mean loss.

Example:
    >>> plan_batches([3, 9, 4, 8, 2], batch_tokens=18)  # longest first, <= 18 padded tokens each
    [[1, 3], [2, 0, 4]]
"""

from __future__ import annotations

import copy
import csv
import hashlib
import inspect
import io
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch

from .._atomic import atomic_path, ensure_writable_dir, read_schema_json, write_json_atomic
from ..errors import ConfigError, LlmgeomError
from ..progress import progress_bar
from ..records.measurement import package_versions
from .options import DEFAULT_BATCH_TOKENS, LossOptions, reading_options, refuse_inapplicable

SCHEMA = "llmgeom.loss/1"
MAX_LENGTH_CAP = 2048  # the paper's truncation, and the default cap on a model's context
LOSSES_CSV = "losses.csv"
CSV_COLUMNS = ("model", "family", "corpus", "m", "loss", "head_width")
_VERSIONED = (
    "llmgeom", "torch", "numpy", "transformers", "tokenizers", "accelerate", "bitsandbytes",
    "gguf", "huggingface_hub", "safetensors",
)  # fmt: skip
_POOL_BATCHES = 32  # documents are sorted by length within pools of this many token budgets
_POOL_CAP = 1 << 22  # ...but at most this many tokens in memory at once
_TOKENIZE_CHUNK = 64  # documents per tokenizer call (fast tokenizers encode a list in parallel)
_MAX_EXP = 700.0  # exp() beyond this overflows a float: perplexity is then None
_ROWS_PER_CHUNK = 4096  # target positions per float32 log-softmax chunk (bounds the extra memory)


_NAN = "the model's weights or activations hold NaN/inf"
_NONFINITE_HINT = {
    "float16": "the model overflowed float16; use dtype='float32' or dtype='bfloat16'",
    "bfloat16": "use dtype='float32' to rule out an overflow",
}


class NonFiniteLossError(LlmgeomError, ArithmeticError):
    """The model produced NaN or infinite log-probabilities (e.g. float16 overflow)."""


# ------------------------------------------------------------------------------ the result


@dataclass
class LossResult:
    """The loss of one model on one corpus, with everything needed to reproduce it."""

    loss: float
    perplexity: float | None  # None where exp(loss) overflows
    bits_per_byte: float
    loss_authors_weighting: float
    nll_sum: float
    predicted_tokens: int
    tokens: int  # kept tokens, first tokens included
    bytes: int  # UTF-8 bytes of the kept text
    bytes_exact: bool
    documents: int  # documents scored
    documents_skipped: int  # fewer than 2 tokens
    documents_truncated: int  # cut at max_length
    model_name: str
    corpus_name: str
    model: dict[str, Any]
    corpus: dict[str, Any]
    options: dict[str, Any]
    dtype: str
    quantization: str | None
    device: str
    timings: dict[str, float]
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: package versions of the run (this process's, or the record's after :meth:`from_dict`)
    environment: dict[str, Any] = field(
        default_factory=lambda: {"versions": package_versions(_VERSIONED)}, repr=False
    )

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> LossResult:
        """The result back from its record (:meth:`to_dict`, or the JSON ``save_loss`` wrote):
        ``from_dict(r.to_dict()).to_dict() == r.to_dict()``.

        Example:
            >>> r = LossResult.from_dict({"schema": SCHEMA, "model": {"name": "m"},
            ...     "corpus": {"name": "c"}, "definition": {}, "dtype": "float32",
            ...     "quantization": None, "device": "cpu", "timings": {}, "created": "t",
            ...     "loss": {"loss": 3.5, "perplexity": 33.1, "bits_per_byte": 1.2,
            ...              "loss_authors_weighting": 3.49, "nll_sum": 35.0,
            ...              "predicted_tokens": 10, "tokens": 11, "bytes": 42,
            ...              "bytes_exact": True, "documents": 1, "documents_skipped": 0,
            ...              "documents_truncated": 0}})
            >>> r
            LossResult(model='m', corpus='c', loss=3.5, bits_per_byte=1.2, tokens=11)
            >>> LossResult.from_dict(r.to_dict()) == r
            True
        """
        record = copy.deepcopy(record)
        block, model, corpus = record["loss"], record["model"], record["corpus"]
        counts = ("predicted_tokens", "tokens", "bytes", "documents", "documents_skipped")
        return cls(
            loss=block["loss"],
            perplexity=block.get("perplexity"),
            bits_per_byte=block["bits_per_byte"],
            loss_authors_weighting=block["loss_authors_weighting"],
            nll_sum=block["nll_sum"],
            **{key: block[key] for key in counts},
            bytes_exact=block["bytes_exact"],
            documents_truncated=block["documents_truncated"],
            model_name=str(model.get("name") or model.get("source")),
            corpus_name=str(corpus.get("name")),
            model=model,
            corpus=corpus,
            options=record.get("definition", {}),
            dtype=record["dtype"],
            quantization=record.get("quantization"),
            device=record["device"],
            timings=record.get("timings", {}),
            created=record["created"],
            **({"environment": record["environment"]} if "environment" in record else {}),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LossResult:
        """Read a ``<model>.<corpus>.loss.json`` record (schema checked,
        :func:`load_loss_record`)."""
        return cls.from_dict(load_loss_record(path))

    def to_dict(self) -> dict[str, Any]:
        """The record (a copy): :meth:`to_record`, what ``save_loss`` writes."""
        return copy.deepcopy(self.to_record())

    def columns(self) -> dict[str, Any]:
        """The headline values as one table row (:func:`llmgeom.records.to_pandas`)."""
        return {
            "model": self.model_name,
            "family": self.family,
            "corpus": self.corpus_name,
            "d_model": self.model.get("d_model"),
            "head_width": self.model.get("head_width"),
            "loss": self.loss,
            "perplexity": self.perplexity,
            "bits_per_byte": self.bits_per_byte,
            "loss_authors_weighting": self.loss_authors_weighting,
            "tokens": self.tokens,
            "documents": self.documents,
            "created": self.created,
        }

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("model", repr(self.model_name)),
            ("corpus", repr(self.corpus_name)),
            ("loss", f"{self.loss:.4g}"),
            ("bits_per_byte", f"{self.bits_per_byte:.4g}"),
            ("tokens", str(self.tokens)),
        ]

    def __repr__(self) -> str:
        from ..records.base import repr_line

        return repr_line(type(self).__name__, self._rows())

    def _repr_html_(self) -> str:
        from ..records.base import html_table

        return html_table(type(self).__name__, self._rows())

    @property
    def family(self) -> str:
        """The ``losses.csv`` family (the config's model type outside the paper's four)."""
        return str(self.model.get("family") or self.model.get("model_type") or "other")

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record (schema :data:`SCHEMA`)."""
        return {
            "schema": SCHEMA,
            "model": self.model,
            "corpus": self.corpus,
            "definition": self.options,
            "loss": {
                "loss": self.loss,
                "unit": "nats/token",
                "perplexity": self.perplexity,
                "bits_per_byte": self.bits_per_byte,
                "loss_authors_weighting": self.loss_authors_weighting,
                "nll_sum": self.nll_sum,
                "predicted_tokens": self.predicted_tokens,
                "tokens": self.tokens,
                "bytes": self.bytes,
                "bytes_exact": self.bytes_exact,
                "documents": self.documents,
                "documents_skipped": self.documents_skipped,
                "documents_truncated": self.documents_truncated,
            },
            "dtype": self.dtype,
            "quantization": self.quantization,
            "device": self.device,
            "timings": self.timings,
            "environment": self.environment,
            "created": self.created,
        }

    def csv_row(self) -> dict[str, str]:
        """The ``losses.csv`` row: ``model,family,corpus,m,loss,head_width`` (m = d_model)."""
        return {
            "model": self.model_name,
            "family": self.family,
            "corpus": self.corpus_name,
            "m": _plain(self.model.get("d_model")),
            "loss": repr(self.loss),
            "head_width": _plain(self.model.get("head_width")),
        }

    def summary(self) -> str:
        """A few human lines."""
        quant = f", {self.quantization}" if self.quantization else ""
        lines = [
            f"{self.model_name} on {self.corpus_name}: loss {self.loss:.4f} nats/token "
            f"(perplexity {self.perplexity or float('inf'):.3f}, "
            f"{self.bits_per_byte:.4f} bits/byte)",
            f"  authors' weighting {self.loss_authors_weighting:.4f}; "
            f"{self.predicted_tokens:,} predicted tokens in {self.documents:,} documents "
            f"({self.documents_skipped:,} skipped: < 2 tokens; {self.documents_truncated:,} cut "
            f"at {self.options['max_length']} tokens)",
            f"  {self.dtype}{quant} on {self.device}; "
            f"{self.timings.get('tokens_per_s', 0.0):,.0f} tokens/s",
        ]
        return "\n".join(lines)


def max_length_at_most(limit: int | None, context: int | None) -> int | None:
    """The ``max_length`` a model uses when ``limit`` is an upper bound (a sweep's ``[loss]``
    ``max_length``): ``min(limit, context)``; ``limit`` when the context is unknown, None (the
    default rule of :func:`compute_loss`) when no limit is given.

    Example:
        >>> max_length_at_most(2048, 1024), max_length_at_most(2048, 4096)
        (1024, 2048)
        >>> max_length_at_most(2048, None), max_length_at_most(None, 1024) is None
        (2048, True)
    """
    if limit is None or context is None:
        return limit
    return min(limit, context)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------ documents


@dataclass
class _Doc:
    ids: list[int]
    n_bytes: int


@dataclass
class _Counts:
    documents: int = 0
    skipped: int = 0
    truncated: int = 0
    tokens: int = 0
    predicted: int = 0
    bytes: int = 0
    bytes_exact: bool = True
    nll: float = 0.0
    authors_num: float = 0.0


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


def _tokenized(
    tokenizer: Any, texts: Iterable[str], max_length: int, counts: _Counts
) -> Iterator[_Doc]:
    """Kept documents, cut to ``max_length`` tokens; short ones counted in ``counts``."""
    chunk: list[str] = []

    def flush() -> Iterator[_Doc]:
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
            yield _Doc(ids[:keep], n_bytes)
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


def _pools(docs: Iterator[_Doc], pool_tokens: int) -> Iterator[list[_Doc]]:
    pool: list[_Doc] = []
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


# ------------------------------------------------------------------------------ the forward


def _accepts_position_ids(model: torch.nn.Module) -> bool:
    try:
        return "position_ids" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return False


def pad_batch(
    rows: Sequence[Sequence[int]], padding_side: str = "right", pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of ``rows`` padded to the longest with ``pad_id``.

    Example:
        >>> ids, mask = pad_batch([[5, 6, 7], [8, 9]], padding_side="left")
        >>> ids.tolist(), mask.tolist()
        ([[5, 6, 7], [0, 8, 9]], [[1, 1, 1], [0, 1, 1]])
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row)
        start = 0 if padding_side == "right" else width - n
        ids[i, start : start + n] = torch.as_tensor(row, dtype=torch.long)
        mask[i, start : start + n] = 1
    return ids, mask


def _target_nll(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row Σ −log p(x_t | x_<t) over real (unpadded) targets, float64, shape (rows,)."""
    valid = (mask[:, 1:] & mask[:, :-1]).bool()
    rows = valid.nonzero()[:, 0]
    pred = logits[:, :-1][valid]  # (targets, vocab): only the positions that count
    targets = ids[:, 1:][valid]
    nll = torch.empty(targets.shape[0], dtype=torch.float64, device=logits.device)
    for start in range(0, targets.shape[0], _ROWS_PER_CHUNK):
        part = pred[start : start + _ROWS_PER_CHUNK].float()
        tgt = targets[start : start + _ROWS_PER_CHUNK, None]
        # −log softmax at the target = logsumexp − logit, in float32, summed in float64
        nll[start : start + _ROWS_PER_CHUNK] = (
            torch.logsumexp(part, dim=-1) - part.gather(1, tgt).squeeze(1)
        ).double()
    out = torch.zeros(ids.shape[0], dtype=torch.float64, device=logits.device)
    return out.index_add_(0, rows, nll)


def forward_nll(
    model: torch.nn.Module,
    rows: Sequence[Sequence[int]],
    *,
    padding_side: str = "right",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Σ −log p(x_t | x_<t) of each row (float64, on the CPU), one padded forward pass.

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> _ = torch.manual_seed(0)
        >>> m = GPT2LMHeadModel(GPT2Config(vocab_size=11, n_embd=8, n_layer=1, n_head=2,
        ...                                n_positions=8, bos_token_id=0, eos_token_id=0)).eval()
        >>> both = forward_nll(m, [[1, 2, 3], [4, 5]])
        >>> alone = forward_nll(m, [[4, 5]])
        >>> bool(torch.allclose(both[1], alone[0]))
        True
    """
    dev = torch.device(device) if device is not None else _input_device(model)
    ids, mask = pad_batch(rows, padding_side)
    ids, mask = ids.to(dev), mask.to(dev)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
    if _accepts_position_ids(model):
        # count positions over real tokens so that left padding does not shift them
        kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        logits = model(**kwargs).logits
        return _target_nll(logits, ids, mask).cpu()


def _input_device(model: torch.nn.Module) -> torch.device:
    hf_model: Any = model  # the getter is a transformers method, untyped on nn.Module
    try:
        return hf_model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device


# ------------------------------------------------------------------------------ the computation


def _corpus_documents(
    corpus: Any,
    *,
    samples: int | None,
    max_length: int,
    text_field: str,
    recipe: str | None,
    corpus_name: str | None,
) -> tuple[Iterator[str], dict[str, Any], str]:
    """Documents, the corpus record and its short name for ``corpus`` in any accepted form."""
    from .corpus import Corpus, iter_documents, open_corpus

    if isinstance(corpus, Corpus) or (
        isinstance(corpus, Sequence) and not isinstance(corpus, (str, bytes))
    ):
        refuse_inapplicable(
            "the corpus is already read (they apply to a corpus spec)",
            **reading_options(text_field, recipe),
        )
    if isinstance(corpus, Sequence) and not isinstance(corpus, (str, bytes)):
        texts = [str(t) for t in corpus]
        if samples is not None:
            texts = texts[:samples]
        digest = hashlib.sha256()
        for text in texts:
            digest.update(text.encode("utf-8") + b"\x00")
        name = corpus_name or "texts"
        info: dict[str, Any] = {"spec": None, "name": name, "kind": "in-memory", "files": [],
                "sha256": digest.hexdigest(), "text_field": None, "recipe": None}  # fmt: skip
        return iter(texts), info, name
    if not isinstance(corpus, Corpus):
        corpus = open_corpus(corpus, text_field=text_field, recipe=recipe)
    docs = iter_documents(corpus, samples=samples, max_length=max_length)
    return docs, corpus.to_dict(), corpus_name or corpus.name


def compute_loss(
    model_or_loaded: Any,
    tokenizer: Any = None,
    *,
    corpus: Any,
    samples: int | None = None,
    max_length: int | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    batch_size: int | None = None,
    text_field: str = "text",
    recipe: Literal["paper"] | None = None,
    padding_side: Literal["right", "left"] = "right",
    name: str | None = None,
    corpus_name: str | None = None,
    progress: bool | None = None,
) -> LossResult:
    """The loss of a causal LM on ``corpus`` as defined in the module docstring.

    ``model_or_loaded``: a :class:`~llmgeom.text.lm.LoadedModel` (from
    :func:`~llmgeom.text.lm.load_model`), a model source (path, Hub id, alias, ``.gguf`` file;
    loaded with defaults), or an in-memory ``transformers`` model with its ``tokenizer``.
    ``corpus``: a :class:`~llmgeom.text.corpus.Corpus`, a corpus spec (path or ``hf:...``) or a
    list of document strings. The options are those of
    :class:`~llmgeom.text.options.LossOptions` (a bad value: a :class:`ConfigError` naming it).

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
        >>> from tokenizers import Tokenizer, models, pre_tokenizers
        >>> vocab = {w: i for i, w in enumerate("[UNK] the cat sat on mat a dog".split())}
        >>> tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
        >>> tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
        >>> _ = torch.manual_seed(0)
        >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=8, n_embd=8, n_layer=1, n_head=2,
        ...                                    n_positions=16, bos_token_id=0, eos_token_id=0))
        >>> r = compute_loss(model, tokenizer, corpus=["the cat sat on the mat", "a", "the dog"])
        >>> r.predicted_tokens, r.documents, r.documents_skipped, r.bytes
        (6, 2, 1, 29)
        >>> abs(r.loss - math.log(8)) < 0.5  # a random model is close to uniform
        True
    """
    from .lm import LoadedModel, load_model, wrap_model

    started = time.perf_counter()
    LossOptions(  # validates, naming the bad parameter
        samples=samples, max_length=max_length, batch_tokens=batch_tokens, batch_size=batch_size,
        text_field=text_field, recipe=recipe, padding_side=padding_side,
    )  # fmt: skip
    if isinstance(model_or_loaded, LoadedModel):
        refuse_inapplicable("a LoadedModel has its own", tokenizer=tokenizer, name=name)
        loaded = model_or_loaded
    elif isinstance(model_or_loaded, (str, os.PathLike)):
        refuse_inapplicable("a model loaded from a source is named by it", name=name)
        loaded = load_model(model_or_loaded, tokenizer=tokenizer)
    else:
        if tokenizer is None:
            raise ConfigError(
                "an in-memory model needs its tokenizer: compute_loss(model, tokenizer, ...)"
            )
        loaded = wrap_model(model_or_loaded, tokenizer, name=name)
    context = loaded.context_length
    if max_length is None:
        max_length = min(context or MAX_LENGTH_CAP, MAX_LENGTH_CAP)
    elif context is not None and max_length > context:
        raise ConfigError(
            f"max_length={max_length} exceeds the model's context length ({context} tokens)",
            parameter="max_length",
        )

    texts, corpus_info, cname = _corpus_documents(
        corpus, samples=samples, max_length=max_length, text_field=text_field, recipe=recipe,
        corpus_name=corpus_name,
    )  # fmt: skip
    counts = _Counts()
    model = loaded.model
    tokenizer = loaded.tokenizer
    device = _input_device(model)
    t_read = t_forward = 0.0
    pool_tokens = pool_size(batch_tokens, max_length)
    pools = _pools(_tokenized(tokenizer, texts, max_length, counts), pool_tokens)
    with progress_bar(None, f"loss {loaded.name} on {cname}", unit="tok", progress=progress) as bar:
        while True:
            t0 = time.perf_counter()
            pool = next(pools, None)
            t_read += time.perf_counter() - t0
            if pool is None:
                break
            t0 = time.perf_counter()
            for batch in plan_batches([len(d.ids) for d in pool], batch_tokens, batch_size):
                rows = [pool[i].ids for i in batch]
                nll = forward_nll(model, rows, padding_side=padding_side, device=device)
                if not bool(torch.isfinite(nll).all()):
                    raise NonFiniteLossError(
                        f"the loss of {loaded.name} is NaN or infinite in {loaded.dtype} (after "
                        f"{counts.documents} documents): {_NONFINITE_HINT.get(loaded.dtype, _NAN)}",
                        parameter="dtype",
                    )
                for i, value in zip(batch, nll.tolist(), strict=True):
                    n = len(pool[i].ids)
                    counts.documents += 1
                    counts.tokens += n
                    counts.predicted += n - 1
                    counts.bytes += pool[i].n_bytes
                    counts.nll += value
                    counts.authors_num += value / (n - 1) * n
                bar.update(sum(len(r) for r in rows))
            t_forward += time.perf_counter() - t0
    if counts.documents == 0:
        raise ConfigError(
            f"no document of {cname} has 2 tokens or more ({counts.skipped} skipped): "
            "nothing to predict"
        )
    loss = counts.nll / counts.predicted
    if not math.isfinite(loss):  # pragma: no cover - caught per batch above
        raise NonFiniteLossError(
            f"the loss of {loaded.name} is not finite; use dtype='float32'", parameter="dtype"
        )
    total = time.perf_counter() - started
    options = {
        "tokenization": 'tokenizer(text)["input_ids"] (default special tokens)',
        "samples": samples,
        "max_length": max_length,
        "context_length": context,
        "min_tokens": 2,
        "weighting": "token (sum of NLL / predicted tokens)",
        "text_field": corpus_info.get("text_field"),
        "recipe": corpus_info.get("recipe"),
        "batch_tokens": batch_tokens,
        "batch_size": batch_size,
        "padding_side": padding_side,
    }
    return LossResult(
        loss=loss,
        perplexity=math.exp(loss) if loss < _MAX_EXP else None,
        bits_per_byte=counts.nll / math.log(2) / counts.bytes if counts.bytes else float("nan"),
        loss_authors_weighting=counts.authors_num / counts.tokens,
        nll_sum=counts.nll,
        predicted_tokens=counts.predicted,
        tokens=counts.tokens,
        bytes=counts.bytes,
        bytes_exact=counts.bytes_exact,
        documents=counts.documents,
        documents_skipped=counts.skipped,
        documents_truncated=counts.truncated,
        model_name=loaded.name,
        corpus_name=cname,
        model=loaded.identity,
        corpus=corpus_info,
        options=options,
        dtype=loaded.dtype,
        quantization=loaded.quantization,
        device=loaded.device,
        timings={
            "load_s": loaded.load_s,
            "read_tokenize_s": t_read,
            "forward_s": t_forward,
            "total_s": total + loaded.load_s,
            "tokens_per_s": counts.tokens / max(t_read + t_forward, 1e-9),
        },
    )


# ------------------------------------------------------------------------------ saving


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", part.replace("/", "--")).strip("._") or "x"


def result_path(result: LossResult, out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir/<model>.<corpus>.loss.json``."""
    return Path(out_dir) / f"{_safe(result.model_name)}.{_safe(result.corpus_name)}.loss.json"


def _read_losses_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows of an existing ``losses.csv`` (none when absent); typed error if it is
    not a loss table."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return list(CSV_COLUMNS), []
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the existing loss table ({err})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    missing = [c for c in CSV_COLUMNS[:5] if c not in columns]
    if missing:
        raise ConfigError(
            f"{path} exists but is not a loss table (missing column(s) {', '.join(missing)}); "
            "choose another --out"
        )
    for extra in CSV_COLUMNS:
        if extra not in columns:
            columns.append(extra)
    return columns, list(reader)


def save_loss(result: LossResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the JSON record and add (or replace) the result's row in ``out_dir/losses.csv``.

    Both files are written atomically; the table's other rows are kept, a row for the same
    model and corpus is replaced. Returns the paths written.

    Example:
        >>> import tempfile
        >>> r = LossResult(loss=3.5, perplexity=33.1, bits_per_byte=1.2,
        ...     loss_authors_weighting=3.49, nll_sum=35.0, predicted_tokens=10, tokens=11,
        ...     bytes=42, bytes_exact=True, documents=1, documents_skipped=0,
        ...     documents_truncated=0, model_name="org/tiny", corpus_name="wiki",
        ...     model={"family": "gpt2", "d_model": 64, "head_width": 64}, corpus={},
        ...     options={}, dtype="float32", quantization=None, device="cpu", timings={})
        >>> out = Path(tempfile.mkdtemp())
        >>> [p.name for p in save_loss(r, out)]
        ['org--tiny.wiki.loss.json', 'losses.csv']
        >>> print((out / "losses.csv").read_text().strip())
        model,family,corpus,m,loss,head_width
        org/tiny,gpt2,wiki,64,3.5,64
    """
    out = ensure_writable_dir(out_dir)
    table = out / LOSSES_CSV
    columns, rows = _read_losses_csv(table)  # refuse a foreign table before writing anything
    row = result.csv_row()
    rows = [r for r in rows if (r.get("model"), r.get("corpus")) != (row["model"], row["corpus"])]
    rows.append(row)
    json_path = write_json_atomic(result_path(result, out), result.to_record())
    with atomic_path(table) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return [json_path, table]


def load_loss_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``<model>.<corpus>.loss.json`` record (schema :data:`SCHEMA`) and check the blocks
    readers use (``model``, ``corpus``, ``loss`` with a numeric ``loss``: its JSON Schema,
    ``llmgeom/records/schemas/loss-1.json``); one-line
    :class:`ConfigError` naming the file otherwise.

    Example:
        >>> import json, tempfile
        >>> p = Path(tempfile.mkdtemp()) / "m.c.loss.json"
        >>> _ = p.write_text(json.dumps({"schema": SCHEMA, "model": {}, "corpus": {},
        ...                              "loss": {"loss": 3.5}}))
        >>> load_loss_record(p)["loss"]["loss"]
        3.5
    """
    from ..records.schema import check_schema

    record = read_schema_json(path, SCHEMA, "loss record")
    return check_schema(record, SCHEMA, str(path), "loss record")
