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

import hashlib
import inspect
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..errors import ConfigError, LlmgeomError
from ..progress import progress_bar
from .loss_record import (
    CSV_COLUMNS,
    LOSSES_CSV,
    SCHEMA,
    LossResult,
    load_loss_record,
    result_path,
    save_loss,
)
from .options import DEFAULT_BATCH_TOKENS, LossOptions, reading_options, refuse_inapplicable

_POOL_BATCHES = 32  # documents are sorted by length within pools of this many token budgets
_POOL_CAP = 1 << 22  # ...but at most this many tokens in memory at once
_TOKENIZE_CHUNK = 64  # documents per tokenizer call (fast tokenizers encode a list in parallel)
_MAX_EXP = 700.0  # exp() beyond this overflows a float: perplexity is then None
_ROWS_PER_CHUNK = 4096  # target positions per float32 log-softmax chunk (bounds the extra memory)

__all__ = [
    "CSV_COLUMNS",
    "LOSSES_CSV",
    "MAX_LENGTH_CAP",
    "SCHEMA",
    "LossResult",
    "NonFiniteLossError",
    "compute_loss",
    "load_loss_record",
    "max_length_at_most",
    "result_path",
    "save_loss",
]

MAX_LENGTH_CAP = 2048  # the paper's truncation, and the default cap on a model's context


_NAN = "the model's weights or activations hold NaN/inf"
_NONFINITE_HINT = {
    "float16": "the model overflowed float16; use dtype='float32' or dtype='bfloat16'",
    "bfloat16": "use dtype='float32' to rule out an overflow",
}


class NonFiniteLossError(LlmgeomError, ArithmeticError):
    """The model produced NaN or infinite log-probabilities (e.g. float16 overflow)."""


# ------------------------------------------------------------------------------ the result


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
