"""Which rows of a head are known to be unused (the reference set of the under-trained-token
indicator, :mod:`llmgeom.geometry.undertrained`) and which tokens may be candidates: the rules
of Land & Bartolo (2024, "Fishing for Magikarp") made automatic.

Reference rows, each counted under every reason it has (:data:`REASONS`):

* ``beyond_tokenizer``: rows at or beyond ``len(tokenizer)`` (padding no token id reaches);
* ``unreachable``: tokens that never come out of the tokenizer: ``encode(decode([t]))`` is not
  ``[t]``, neither on its own nor after a one-token prefix (the authors' guard against
  tokenizers that add or eat a leading space; ``add_special_tokens=False`` throughout), where
  that round trip is lossless: in a byte-level BPE vocabulary (GPT-2's) and for byte-fallback
  tokens ``<0x41>`` that duplicate a character token (the authors' Llama 2 and Mistral
  reference sets). In a SentencePiece-style vocabulary a word-internal piece (``ll`` of
  ``shells``) fails the round trip on its own yet occurs in text: such tokens are only kept out
  of the candidates, never made reference rows. Special tokens are not counted here;
* ``never_utf8``: tokens holding a byte that no valid UTF-8 text contains (0xC0, 0xC1,
  0xF5-0xFF), in a byte-level BPE vocabulary (GPT-2's byte-to-character table) or as a
  byte-fallback token ``<0xF5>``. A *partial* UTF-8 token (one that decodes to U+FFFD on its own,
  as the lead byte 0xE2) is not a reference row: it occurs inside multi-byte characters; it is
  only kept out of the candidates;
* ``unused_name``: tokens named like ``<unused12>``, ``[unused3]``, ``<|reserved_special_token_5|>``
  or ``<madeupword0>`` (never T5's ``<extra_id_N>``: those sentinels are trained);
* ``user``: ids the user passes.

A candidate may be only an *ordinary* token: below ``len(tokenizer)``, reachable, decodable on
its own, not special, not in the reference set. Without a tokenizer only the rows beyond a known
vocabulary size and the user's ids are reference rows, and every other row is ordinary.

Example:
    >>> roles = token_roles(6, None, vocab_size=4, extra_ids=[0])
    >>> roles.reference.tolist(), roles.reasons
    ([True, False, False, False, True, True], {'beyond_tokenizer': 2, 'user': 1})
    >>> unused_named(["<unused7>", "[unused1]", "<|reserved_special_token_3|>", "<extra_id_0>"])
    [True, True, True, False]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

REASONS = ("beyond_tokenizer", "unreachable", "never_utf8", "unused_name", "user")
NEVER_UTF8 = frozenset({0xC0, 0xC1, *range(0xF5, 0x100)})
PREFIXES = ("«", "»", "a")  # tried before a token whose round trip fails on its own
_UNUSED = re.compile(
    r"^[<\[]\|?(unused|reserved|madeupword)[A-Za-z_]*\d*\|?[>\]]$", flags=re.IGNORECASE
)
_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass(frozen=True)
class TokenRoles:
    """Per row of a head: ``reference`` (known unused), ``ordinary`` (may be a candidate),
    ``special``, ``unreachable``, ``undecodable`` (boolean masks), and ``reasons``: how many
    reference rows each reason gives (:data:`REASONS`, only those with any)."""

    reference: np.ndarray
    ordinary: np.ndarray
    special: np.ndarray
    unreachable: np.ndarray
    undecodable: np.ndarray
    reasons: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The number of rows of each role, for the summary."""
        return {
            "reference": int(self.reference.sum()),
            "ordinary": int(self.ordinary.sum()),
            "special": int(self.special.sum()),
            "unreachable": int(self.unreachable.sum()),
            "undecodable": int(self.undecodable.sum()),
        }


def unused_named(tokens: Sequence[str | None]) -> list[bool]:
    """Whether each vocabulary entry is named like an unused or reserved placeholder."""
    return [bool(t) and _UNUSED.match(str(t)) is not None for t in tokens]


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE table, character -> byte: printable bytes stand for themselves,
    the other 68 are shifted to 256 and up in order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    table = {chr(b): b for b in printable}
    shifted = [b for b in range(256) if b not in set(printable)]
    table.update({chr(256 + k): b for k, b in enumerate(shifted)})
    return table


def _byte_level(tokenizer: Any) -> bool:
    """Whether a (fast) tokenizer decodes GPT-2-style byte-level tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    decoder = json.loads(backend.to_str()).get("decoder") or {}
    parts = decoder.get("decoders") or [decoder]
    return any(isinstance(p, dict) and p.get("type") == "ByteLevel" for p in parts)


def never_utf8(tokens: Sequence[str | None], byte_level: bool) -> list[bool]:
    """Whether each vocabulary entry holds a byte that valid UTF-8 never contains.

    Example:
        >>> never_utf8(["<0xF5>", "<0xE2>", "a", chr(0xF5 + 0)], byte_level=True)
        [True, False, False, True]
    """
    table = _byte_decoder() if byte_level else {}
    out = []
    for token in tokens:
        text = token or ""
        fallback = _BYTE_FALLBACK.match(text)
        if fallback:
            out.append(int(fallback.group(1), 16) in NEVER_UTF8)
        elif byte_level and text and all(c in table for c in text):
            out.append(any(table[c] in NEVER_UTF8 for c in text))
        else:
            out.append(False)
    return out


def special_ids(tokenizer: Any) -> set[int]:
    """The ids of the tokenizer's special tokens (named ones and added tokens marked special)."""
    ids = {int(i) for i in getattr(tokenizer, "all_special_ids", []) or []}
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    ids.update(int(i) for i, tok in decoder.items() if getattr(tok, "special", False))
    return ids


def _encode_all(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return list(tokenizer(texts, add_special_tokens=False)["input_ids"])


def reachable(tokenizer: Any, ids: Sequence[int], strings: Sequence[str | None]) -> np.ndarray:
    """Whether ``encode(decode([t])) == [t]`` for each id (``strings``: the decoded ids), else
    after a one-token prefix (:data:`PREFIXES`): ``encode(decode([p, t])) == [p, t]``."""
    ids = [int(i) for i in ids]
    texts = [s if s is not None else "" for s in strings]
    ok = np.array([enc == [t] for enc, t in zip(_encode_all(tokenizer, texts), ids, strict=True)])
    ok = ok.astype(bool) if ok.size else np.zeros(0, dtype=bool)
    for prefix in PREFIXES:
        todo = np.flatnonzero(~ok)
        encoded = _encode_all(tokenizer, [prefix])
        if todo.size == 0 or len(encoded[0]) != 1:
            continue
        p = encoded[0][0]
        pairs = [[p, ids[k]] for k in todo]
        decoded = list(tokenizer.batch_decode(pairs))
        again = _encode_all(tokenizer, decoded)
        ok[todo] = [enc == pair for enc, pair in zip(again, pairs, strict=True)]
    return ok


def token_roles(
    n_rows: int,
    tokenizer: Any,
    *,
    strings: Sequence[str | None] | None = None,
    vocab_size: int | None = None,
    extra_ids: Sequence[int] = (),
) -> TokenRoles:
    """The reference rows and ordinary tokens of a head of ``n_rows`` rows (module docstring).

    ``tokenizer``: a transformers tokenizer or None; ``strings``: its ``decode([i])`` per row
    (computed when not given); ``vocab_size``: the tokenizer's length when there is no tokenizer
    (e.g. read from its files), None if unknown; ``extra_ids``: the user's reference ids.
    """
    extra = np.asarray(list(extra_ids), dtype=np.int64)
    if extra.size and (extra.min() < 0 or extra.max() >= n_rows):
        bad = int(extra[(extra < 0) | (extra >= n_rows)][0])
        raise ConfigError(
            f"reference_ids: id {bad} is outside the head's {n_rows} rows",
            parameter="reference_ids",
        )
    size = len(tokenizer) if tokenizer is not None else vocab_size
    k = n_rows if size is None else min(int(size), n_rows)
    masks = {reason: np.zeros(n_rows, dtype=bool) for reason in REASONS}
    masks["beyond_tokenizer"][k:] = True
    masks["user"][extra] = True
    special = np.zeros(n_rows, dtype=bool)
    unreachable = np.zeros(n_rows, dtype=bool)
    undecodable = np.zeros(n_rows, dtype=bool)
    if tokenizer is not None and k:
        ids = list(range(k))
        if strings is None:
            strings = list(tokenizer.batch_decode([[i] for i in ids]))
        strings = list(strings)[:k]
        special[[i for i in special_ids(tokenizer) if 0 <= i < k]] = True
        raw = list(tokenizer.convert_ids_to_tokens(ids))
        byte_level = _byte_level(tokenizer)
        masks["unused_name"][:k] = unused_named(raw)
        masks["never_utf8"][:k] = never_utf8(raw, byte_level)
        undecodable[:k] = ["\ufffd" in (s or "") for s in strings]
        unreachable[:k] = ~reachable(tokenizer, ids, strings) & ~special[:k]
        lossless = np.zeros(n_rows, dtype=bool)  # where a failed round trip means unused
        lossless[:k] = byte_level or [_BYTE_FALLBACK.match(t or "") is not None for t in raw]
        masks["unreachable"] = unreachable & ~undecodable & lossless
    reference = np.logical_or.reduce(list(masks.values()))
    ordinary = ~(reference | special | unreachable | undecodable)
    if tokenizer is None:
        ordinary = ~reference
    reasons = {r: int(m.sum()) for r, m in masks.items() if m.any()}
    return TokenRoles(reference, ordinary, special, unreachable, undecodable, reasons)
