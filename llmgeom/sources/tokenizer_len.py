"""``len(tokenizer)`` (distinct ids of the vocabulary and added tokens) from tokenizer files,
without running any code: which rows of a padded head are real tokens (``--rows tokenizer``).

Example:
    >>> tokenizer_length_from_json(b'{"model": {"vocab": {"a": 0, "b": 1}},'
    ...                            b' "added_tokens": [{"id": 2, "content": "<eos>"}]}')
    3
"""

from __future__ import annotations

import json

from ..errors import CorruptCheckpointError


def tokenizer_length_from_json(raw: bytes | str, source: str = "tokenizer.json") -> int:
    """``len(tokenizer)`` from a fast tokenizer's ``tokenizer.json``."""
    try:
        data = json.loads(raw)
        vocab = data["model"]["vocab"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CorruptCheckpointError(f"{source}: not a tokenizer.json with a model vocab") from None
    ids = set(vocab.values()) if isinstance(vocab, dict) else set(range(len(vocab)))
    ids.update(int(tok["id"]) for tok in data.get("added_tokens") or [])
    return len(ids)


def tokenizer_length_from_vocab(
    vocab_raw: bytes | str, added_raw: bytes | str | None = None, source: str = "vocab.json"
) -> int:
    """``len(tokenizer)`` from a slow tokenizer's ``vocab.json`` (+ ``added_tokens.json``)."""
    try:
        ids = set(json.loads(vocab_raw).values())
        if added_raw:
            ids.update(json.loads(added_raw).values())
    except (json.JSONDecodeError, AttributeError):
        raise CorruptCheckpointError(
            f"{source}: malformed vocab.json / added_tokens.json"
        ) from None
    return len(ids)
