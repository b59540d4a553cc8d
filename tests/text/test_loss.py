"""llmgeom.text.loss against a hand computation: one document at a time, float64 log-softmax.

The oracle feeds each document alone (no padding, no mask, no position ids) to the model and
sums ``log_softmax`` at the targets in float64; llmgeom batches, sorts, pads and masks.
"""

from __future__ import annotations

import math

import pytest
import tiny_models
import torch
from text.helpers import ENGLISH, TXT_DOCUMENTS, train_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

from llmgeom.errors import ConfigError
from llmgeom.text.loss import NonFiniteLossError, compute_loss, plan_batches

TEXTS = [
    *ENGLISH.splitlines(),
    *TXT_DOCUMENTS,
    "",  # <bos> only: 1 token, skipped
    "cat",  # <bos> cat: 2 tokens, one prediction
    "Zebras! " * 9,  # unseen words: many byte-ish tokens
    "naïve café — 東京",  # multi-byte UTF-8 (unknown to the tokenizer: <unk>)
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return train_tokenizer(tmp_path_factory.mktemp("tok"))


def _builders(vocab: int):
    return {
        "gpt2": lambda: tiny_models.gpt2(vocab=vocab, width=16),
        "pythia": lambda: tiny_models.pythia(vocab=vocab, width=16),
        "qwen": lambda: tiny_models.qwen(tied=True, vocab=vocab, width=16),
        "opt": lambda: tiny_models.opt(vocab=vocab, width=16),
        "llama": lambda: tiny_models.llama(vocab=vocab, width=8),
    }


FAMILIES = ("gpt2", "pythia", "qwen", "opt", "llama")


def _model(family: str, tokenizer, seed: int = 0):
    torch.manual_seed(seed)
    return _builders(len(tokenizer) + 5)[family]().eval()  # 5 padding rows, as Pythia's


def hand(model, tokenizer, texts, max_length):
    """Per kept document: (nll_sum, n_tokens, utf8_bytes); and the number skipped."""
    docs, skipped = [], 0
    for text in texts:
        ids = tokenizer(text)["input_ids"][:max_length]
        if len(ids) < 2:
            skipped += 1
            continue
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        nll = -sum(float(logp[t - 1, ids[t]]) for t in range(1, len(ids)))
        docs.append((nll, len(ids), len(text.encode("utf-8"))))
    return docs, skipped


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_equals_the_hand_computation(family, tokenizer):
    model = _model(family, tokenizer)
    result = compute_loss(model, tokenizer, corpus=TEXTS, batch_tokens=64)
    max_length = min(model.config.get_text_config().max_position_embeddings, 2048)
    docs, skipped = hand(model, tokenizer, TEXTS, max_length)
    nll = sum(d[0] for d in docs)
    predicted = sum(d[1] - 1 for d in docs)
    assert result.definition["max_length"] == max_length
    assert result.documents == len(docs) and result.documents_skipped == skipped == 1
    assert result.predicted_tokens == predicted
    assert result.tokens == sum(d[1] for d in docs)
    assert result.nll_sum == pytest.approx(nll, rel=1e-6)
    assert result.loss == pytest.approx(nll / predicted, abs=1e-5)
    assert result.perplexity == pytest.approx(math.exp(nll / predicted), rel=1e-5)
    authors = sum(d[0] / (d[1] - 1) * d[1] for d in docs) / sum(d[1] for d in docs)
    assert result.loss_authors_weighting == pytest.approx(authors, abs=1e-5)
    assert abs(result.loss_authors_weighting - result.loss) > 1e-4  # they do differ
    assert result.model["family"] == {"qwen": "qwen2.5"}.get(family, family)


def test_bits_per_byte_counts_the_utf8_bytes_of_the_kept_documents(tokenizer):
    model = _model("qwen", tokenizer)  # context 2048: nothing is cut
    result = compute_loss(model, tokenizer, corpus=TEXTS)
    docs, _ = hand(model, tokenizer, TEXTS, 2048)
    assert result.documents_truncated == 0
    n_bytes = sum(d[2] for d in docs)  # the skipped "" document has no bytes anyway
    assert result.bytes == n_bytes
    assert result.bytes_exact
    nll = sum(d[0] for d in docs)
    assert result.bits_per_byte == pytest.approx(nll / math.log(2) / n_bytes, rel=1e-6)


def test_skipped_documents_are_counted_and_add_no_bytes(tokenizer):
    model = _model("gpt2", tokenizer)
    result = compute_loss(model, tokenizer, corpus=["cat", "", "", "The dog sat."])
    assert (result.documents, result.documents_skipped) == (2, 2)
    assert result.bytes == len("cat") + len("The dog sat.")


@pytest.mark.parametrize("family", ["gpt2", "opt", "llama"])
def test_max_length_truncation(family, tokenizer):
    model = _model(family, tokenizer)
    result = compute_loss(model, tokenizer, corpus=TEXTS, max_length=5)
    docs, _ = hand(model, tokenizer, TEXTS, 5)
    lengths = [len(tokenizer(t)["input_ids"]) for t in TEXTS]
    assert result.documents_truncated == sum(n > 5 for n in lengths)
    assert result.predicted_tokens == sum(min(n, 5) - 1 for n in lengths if n >= 2)
    assert result.loss == pytest.approx(sum(d[0] for d in docs) / result.predicted_tokens, abs=1e-5)
    # the bytes of a cut document: the shortest prefix that encodes to exactly its kept tokens
    expected = 0
    for text, n in zip(TEXTS, lengths, strict=True):
        if n < 2:
            continue
        if n <= 5:
            expected += len(text.encode())
            continue
        keep = tokenizer(text)["input_ids"][:5]
        cut = min(i for i in range(len(text) + 1) if tokenizer(text[:i])["input_ids"] == keep)
        expected += len(text[:cut].encode())
    assert result.bytes == expected


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_size_and_padding_side_do_not_change_the_loss(family, tokenizer):
    model = _model(family, tokenizer)
    one = compute_loss(model, tokenizer, corpus=TEXTS, batch_size=1, batch_tokens=1 << 30)
    right = compute_loss(model, tokenizer, corpus=TEXTS, batch_tokens=1 << 30)
    left = compute_loss(model, tokenizer, corpus=TEXTS, batch_tokens=1 << 30, padding_side="left")
    small = compute_loss(model, tokenizer, corpus=TEXTS, batch_tokens=40, padding_side="left")
    for other in (right, left, small):
        assert other.predicted_tokens == one.predicted_tokens
        assert other.loss == pytest.approx(one.loss, abs=1e-5)
        assert other.loss_authors_weighting == pytest.approx(one.loss_authors_weighting, abs=1e-5)


def test_left_padding_through_several_layers(tokenizer):
    """Padded positions must not leak into later layers (two layers, very uneven lengths)."""
    torch.manual_seed(1)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=16, n_layer=3, n_head=2, n_positions=64,
        bos_token_id=2, eos_token_id=3,
    )  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    texts = ["cat", "The quick brown fox jumps over the lazy dog. " * 2, "The dog sat."]
    docs, _ = hand(model, tokenizer, texts, 64)
    left = compute_loss(model, tokenizer, corpus=texts, padding_side="left")
    expected = sum(d[0] for d in docs) / sum(d[1] - 1 for d in docs)
    assert left.loss == pytest.approx(expected, abs=1e-5)


def test_samples_keeps_the_first_documents(tokenizer):
    model = _model("gpt2", tokenizer)
    result = compute_loss(model, tokenizer, corpus=TEXTS, samples=3)
    docs, _ = hand(model, tokenizer, TEXTS[:3], 16)
    assert result.documents == 3
    assert result.nll_sum == pytest.approx(sum(d[0] for d in docs), rel=1e-6)


def test_plan_batches_respects_the_token_budget():
    lengths = [7, 3, 12, 12, 5, 1, 9, 30]
    batches = plan_batches(lengths, batch_tokens=24)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 24
    assert batches[0] == [7]  # longest first, alone: it exceeds the budget
    assert [len(b) for b in plan_batches(lengths, 10**6, batch_size=3)] == [3, 3, 2]


def test_nonfinite_loss_is_one_clear_error(tokenizer):
    model = _model("gpt2", tokenizer)
    with torch.no_grad():
        model.transformer.ln_f.bias[0] = float("inf")
    with pytest.raises(NonFiniteLossError, match=r"NaN or infinite in float32.*hold NaN/inf"):
        compute_loss(model, tokenizer, corpus=TEXTS)


def test_float16_overflow_is_reported_with_a_dtype_hint(tokenizer):
    model = _model("gpt2", tokenizer)
    with torch.no_grad():
        model.transformer.ln_f.weight.fill_(6e4)  # a float16 weight, but x * 6e4 overflows
    model = model.half()
    hint = r"overflowed float16; use dtype='float32' or dtype='bfloat16'"
    with pytest.raises(NonFiniteLossError, match=hint):
        compute_loss(model, tokenizer, corpus=TEXTS[:4])


def test_bad_arguments_are_config_errors(tokenizer):
    model = _model("gpt2", tokenizer)
    with pytest.raises(ConfigError, match="2 tokens or more"):
        compute_loss(model, tokenizer, corpus=["", ""])
    with pytest.raises(ConfigError, match="exceeds the model's context length") as err:
        compute_loss(model, tokenizer, corpus=TEXTS, max_length=17)
    assert str(err.value).startswith("max_length=17 exceeds")  # the parameter, not the flag
    assert err.value.parameters == ("max_length",)
    with pytest.raises(ConfigError, match="at least 2"):
        compute_loss(model, tokenizer, corpus=TEXTS, max_length=1)
    with pytest.raises(ConfigError, match="needs its tokenizer"):
        compute_loss(model, corpus=TEXTS)
    too_small = tiny_models.gpt2(vocab=len(tokenizer) - 1)
    with pytest.raises(ConfigError, match=r"has 200 entries but the model only 199"):
        compute_loss(too_small, tokenizer, corpus=TEXTS)


def test_documents_read_in_several_pools_give_the_same_loss(tokenizer, monkeypatch):
    import llmgeom.text.batching as batching

    model = _model("gpt2", tokenizer)
    whole = compute_loss(model, tokenizer, corpus=TEXTS * 3)
    monkeypatch.setattr(batching, "_POOL_BATCHES", 1)
    monkeypatch.setattr(batching, "_POOL_CAP", 64)  # pools of 64 tokens: about 5 documents
    assert batching.pool_size(16, 16) == 64
    pooled = compute_loss(model, tokenizer, corpus=TEXTS * 3, batch_tokens=16)
    assert pooled.predicted_tokens == whole.predicted_tokens
    assert pooled.loss == pytest.approx(whole.loss, abs=1e-6)
    assert pooled.loss_authors_weighting == pytest.approx(whole.loss_authors_weighting, abs=1e-6)


def test_an_argument_that_does_not_apply_is_an_error(tokenizer):
    """Never silently dropped: each names its parameter."""
    from llmgeom.text.lm import wrap_model

    model = _model("gpt2", tokenizer)
    loaded = wrap_model(model, tokenizer)
    cases = [
        (dict(model_or_loaded=loaded, tokenizer=tokenizer, corpus=TEXTS), "tokenizer"),
        (dict(model_or_loaded=loaded, name="x", corpus=TEXTS), "name"),
        (dict(model_or_loaded=model, tokenizer=tokenizer, corpus=TEXTS, recipe="paper"), "recipe"),
        (
            dict(model_or_loaded=model, tokenizer=tokenizer, corpus=TEXTS, text_field="b"),
            "text_field",
        ),
    ]
    for kwargs, parameter in cases:
        with pytest.raises(ConfigError, match=rf"^{parameter}[= ].* does not apply: ") as err:
            compute_loss(**kwargs)
        assert err.value.parameters == (parameter,)


def test_the_result_is_frozen_and_round_trips_through_save_and_load(tokenizer, tmp_path):
    import csv
    import dataclasses
    import json

    from llmgeom.text.loss import LossResult

    model = _model("gpt2", tokenizer)
    result = compute_loss(model, tokenizer, corpus=TEXTS, name="tiny", corpus_name="mixed")
    json_path, table = result.save(tmp_path)
    loaded = LossResult.load(json_path)
    assert type(loaded) is LossResult and loaded == result
    assert loaded.to_dict() == result.to_dict() == json.loads(json_path.read_text())
    assert LossResult.from_dict(loaded.to_dict()).to_dict() == loaded.to_dict()
    assert (loaded.loss, loaded.tokens, loaded.model_name, loaded.corpus_name) == (
        result.loss, result.tokens, "tiny", "mixed",
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.loss = 0.0  # type: ignore[misc]
    assert len(repr(result)) < 120 and "<caption>LossResult</caption>" in result._repr_html_()
    with table.open(newline="") as fh:  # the CSV module reads back the row save wrote
        (row,) = list(csv.DictReader(fh))
    assert float(row["loss"]) == loaded.loss and row["model"] == "tiny"
    # a sweep's labels: a new result, the original untouched, and the label survives a reload
    labelled = result.with_labels(label="mine", family="gpt2-like")
    assert (labelled.model_name, labelled.family, result.model_name) == (
        "mine",
        "gpt2-like",
        "tiny",
    )
    assert LossResult.load(labelled.save(tmp_path)[0]) == labelled


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_authors_weighting_equals_transformers_own_loss_weighted_by_label_tokens(
    family, tokenizer, tmp_path
):
    """The authors' average (cali-1.py): each segment tokenised with truncation, batch size 1,
    labels = the input ids, transformers' own mean loss times the number of label tokens (the
    un-predicted first one included), summed and divided by the label tokens. A segment of one
    token has no prediction (its mean loss is NaN): llmgeom skips it, and so does the oracle."""
    import csv

    model = _model(family, tokenizer)
    max_length = 12  # some documents are cut, as by the script's truncation=True
    result = compute_loss(model, tokenizer, corpus=TEXTS, max_length=max_length, batch_tokens=64)
    weighted = label_tokens = 0.0
    for text in TEXTS:
        ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        if len(ids) < 2:
            continue
        batch = torch.tensor([ids])
        with torch.no_grad():
            mean = model(input_ids=batch, labels=batch).loss.item()
        weighted += mean * len(ids)
        label_tokens += len(ids)
    assert result.documents_truncated > 0 and result.tokens == label_tokens
    assert result.loss_authors_weighting == pytest.approx(weighted / label_tokens, rel=1e-5)
    assert abs(result.loss_authors_weighting - result.loss) > 1e-4  # two different averages
    # the losses.csv row carries both, read back by the csv module
    _json_path, table = result.save(tmp_path)
    with table.open(newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert float(row["loss_authors_weighting"]) == result.loss_authors_weighting
    assert float(row["loss"]) == result.loss
