"""The reference-set rules of the under-trained indicator (llmgeom.text.reference_tokens) on
real tokenizers built here: a GPT-2-style byte-level BPE (the byte oracle: transformers' own
GPT-2 byte table), a SentencePiece-style one (helpers.train_tokenizer) and a Llama-style BPE
with byte fallback; reachability against a plain encode(decode) loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import train_tokenizer
from magikarp_model import SPECIALS, corpus, tokenizer_for
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from llmgeom.errors import ConfigError
from llmgeom.text.reference_tokens import NEVER_UTF8, token_roles


@pytest.fixture(scope="module")
def byte_level():
    return tokenizer_for(corpus(sentences=200))


def plain_unreachable(tokenizer, ids):
    special = set(tokenizer.all_special_ids)
    return [
        i
        for i in ids
        if i not in special
        and tokenizer.encode(tokenizer.decode([i]), add_special_tokens=False) != [i]
    ]


def test_byte_level_reference_rows(byte_level):
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    n = len(byte_level)
    roles = token_roles(n + 5, byte_level)
    char_of = bytes_to_unicode()
    vocab = byte_level.get_vocab()
    never = sorted(vocab[char_of[b]] for b in NEVER_UTF8)
    unused = sorted(byte_level.convert_tokens_to_ids(SPECIALS[1:]))
    assert roles.reasons == {"beyond_tokenizer": 5, "never_utf8": 13, "unused_name": 4}
    assert np.flatnonzero(roles.reference).tolist() == sorted(
        never + unused + list(range(n, n + 5))
    )
    # byte-level decoding is lossless: the loop's unreachable tokens are the partial UTF-8 bytes
    loop = plain_unreachable(byte_level, range(n))
    assert np.flatnonzero(roles.unreachable).tolist() == loop
    assert all("\ufffd" in byte_level.decode([i]) for i in loop)
    assert np.flatnonzero(roles.undecodable).tolist() == loop
    ordinary = [
        i
        for i in range(n)
        if i not in loop and i not in byte_level.all_special_ids and i not in never + unused
    ]
    assert np.flatnonzero(roles.ordinary).tolist() == ordinary


def test_a_vocabulary_entry_no_merge_reaches_is_a_reference_row(byte_level):
    spec = json.loads(byte_level.backend_tokenizer.to_str())
    orphan = max(spec["model"]["vocab"].values()) + 1
    spec["model"]["vocab"]["zzqq"] = orphan  # no merge builds it
    raw = Tokenizer.from_str(json.dumps(spec))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>")
    assert tokenizer.decode([orphan]) == "zzqq"
    roles = token_roles(len(tokenizer), tokenizer)
    assert roles.reasons["unreachable"] == 1 and roles.reference[orphan]
    assert not roles.ordinary[orphan]


def test_sentencepiece_pieces_that_fail_alone_stay_out_of_the_reference(tmp_path):
    tokenizer = train_tokenizer(tmp_path)
    n = len(tokenizer)
    roles = token_roles(n, tokenizer)
    loop = plain_unreachable(tokenizer, range(n))
    assert loop  # word-internal pieces fail the round trip on their own
    assert set(np.flatnonzero(roles.unreachable)) <= set(loop)
    assert "unreachable" not in roles.reasons and not roles.reference.any()
    assert not (roles.ordinary & roles.unreachable).any()


def test_byte_fallback_duplicates_and_invalid_bytes():
    vocab = {"<unk>": 0, "<0x41>": 1, "<0xF5>": 2, "A": 3, "B": 4, "▁": 5, "▁A": 6, "▁B": 7}
    merges = [("▁", "A"), ("▁", "B")]
    raw = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>")
    roles = token_roles(8, tokenizer)
    assert roles.reasons == {"unreachable": 1, "never_utf8": 1}
    assert np.flatnonzero(roles.reference).tolist() == [1, 2]  # <0x41> duplicates "A"
    assert np.flatnonzero(roles.ordinary).tolist() == [5, 6, 7]  # "▁" decodes to " "


def test_without_a_tokenizer_and_user_ids():
    roles = token_roles(10, None, vocab_size=7, extra_ids=[2, 8])
    assert np.flatnonzero(roles.reference).tolist() == [2, 7, 8, 9]
    assert roles.reasons == {"beyond_tokenizer": 3, "user": 2}
    assert roles.ordinary.tolist() == (~roles.reference).tolist()
    with pytest.raises(ConfigError, match="reference_ids: id 10 is outside") as err:
        token_roles(10, None, extra_ids=[10])
    assert err.value.parameters == ("reference_ids",)
