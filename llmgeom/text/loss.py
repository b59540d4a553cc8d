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

The batching (:mod:`~llmgeom.text.batching`: longest documents first, padded to a token
budget) never changes these numbers: padding is masked out, position ids count real tokens
only, and the log-softmax at each target is computed from the logits and summed in float64
(:mod:`~llmgeom.text.nll`), not taken from the model's own mean loss.

Example:
    >>> max_length_at_most(2048, 1024)  # a sweep's max_length is an upper bound per model
    1024
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..errors import ConfigError, LlmgeomError
from ..progress import progress_bar
from .batching import ReadCounts, document_pools, plan_batches, pool_size, tokenized_documents
from .loss_record import (
    CSV_COLUMNS,
    LOSSES_CSV,
    SCHEMA,
    LossResult,
    load_loss_record,
    result_path,
    save_loss,
)
from .nll import forward_nll, input_device
from .options import (
    DEFAULT_BATCH_TOKENS,
    LossOptions,
    Quantization,
    reading_options,
    refuse_inapplicable,
)

_MAX_EXP = 700.0  # exp() beyond this overflows a float: perplexity is then None

__all__ = [
    "CSV_COLUMNS",
    "LOSSES_CSV",
    "MAX_LENGTH_CAP",
    "SCHEMA",
    "LossResult",
    "NonFiniteLossError",
    "compute_loss",
    "forward_nll",
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
class _Counts(ReadCounts):
    """The running sums of :func:`compute_loss` beside what reading skipped and cut."""

    documents: int = 0
    tokens: int = 0
    predicted: int = 0
    bytes: int = 0
    nll: float = 0.0
    authors_num: float = 0.0


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
    quantization: Quantization = "none",
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
    :class:`~llmgeom.text.options.LossOptions` (a bad value: a :class:`ConfigError` naming it);
    ``quantization`` (``"8bit"``/``"4bit"``: bitsandbytes on a CUDA GPU) applies to a model
    loaded here from a source (a :class:`~llmgeom.text.lm.LoadedModel` was loaded with its own).

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
        quantization=quantization,
    )  # fmt: skip
    bits = None if quantization == "none" else quantization  # None: nothing to refuse
    if isinstance(model_or_loaded, LoadedModel):
        refuse_inapplicable(
            "a LoadedModel has its own", tokenizer=tokenizer, name=name, quantization=bits
        )
        loaded = model_or_loaded
    elif isinstance(model_or_loaded, (str, os.PathLike)):
        refuse_inapplicable("a model loaded from a source is named by it", name=name)
        loaded = load_model(model_or_loaded, tokenizer=tokenizer, quantization=quantization)
    else:
        refuse_inapplicable("an in-memory model is already loaded", quantization=bits)
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
    device = input_device(model)
    t_read = t_forward = 0.0
    pool_tokens = pool_size(batch_tokens, max_length)
    pools = document_pools(tokenized_documents(tokenizer, texts, max_length, counts), pool_tokens)
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
    definition = {
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
    return LossResult.from_values(
        model=loaded.identity,
        corpus=corpus_info if cname == corpus_info.get("name") else {**corpus_info, "label": cname},
        definition=definition,
        values={
            "loss": loss,
            "perplexity": math.exp(loss) if loss < _MAX_EXP else None,
            "bits_per_byte": counts.nll / math.log(2) / counts.bytes if counts.bytes else math.nan,
            "loss_authors_weighting": counts.authors_num / counts.tokens,
            "nll_sum": counts.nll,
            "predicted_tokens": counts.predicted,
            "tokens": counts.tokens,
            "bytes": counts.bytes,
            "bytes_exact": counts.bytes_exact,
            "documents": counts.documents,
            "documents_skipped": counts.skipped,
            "documents_truncated": counts.truncated,
        },
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
