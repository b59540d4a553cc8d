"""The typed record of a token count (``llmgeom freq``): :class:`FreqRecord`, read back from
the ``<tokenizer>.<corpus>.freq.json`` that :func:`llmgeom.text.freq.save_freq` writes (the
live :class:`~llmgeom.text.freq.FreqResult` holds the tokenizer and the counts themselves).

Example:
    >>> r = FreqRecord.from_dict({"schema": "llmgeom.freq/1", "tokenizer": {"name": "t"},
    ...     "corpus": {"name": "c"}, "stats": {"tokens_counted": 84, "documents": 4,
    ...     "vocab_size": 49, "distinct_tokens": 34, "fraction_never_seen": 0.3},
    ...     "rank_frequency": {"loglog": {"alpha": 1.05, "se": 0.013},
    ...                        "mle": {"s": 1.2, "se": 0.1, "ci95": [1.0, 1.4]}},
    ...     "files": {"counts": "t.c.counts.npz"}})
    >>> r
    FreqRecord(tokenizer='t', corpus='c', tokens_counted=84, distinct_tokens=34, mle_s=1.2)
    >>> r.mle_s_ci95, FreqRecord.from_dict(r.to_dict()) == r
    ((1.0, 1.4), True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..records.base import TypedResult, fmt, frozen_mapping


def _number(block: Mapping[str, Any], key: str) -> float | None:
    value = block.get(key)
    return None if value is None else float(value)


@dataclass(frozen=True, eq=False, repr=False)
class FreqRecord(TypedResult):
    """Token counts of one tokenizer on one corpus (schema ``llmgeom.freq/1``).

    ``tokenizer``, ``corpus`` (names), ``tokens_counted``, ``documents``, ``vocab_size``,
    ``distinct_tokens``, ``fraction_never_seen``, ``corpus_exhausted``; the rank-frequency
    exponents: ``loglog_alpha`` (with ``loglog_alpha_se``; the paper's log-log fit) and
    ``mle_s`` (with ``mle_s_se`` and ``mle_s_ci95``; the discrete power law's maximum
    likelihood); ``counts_file`` (the ``.npz`` beside the record); ``top_tokens``.
    """

    tokenizer: str
    corpus: str
    tokens_counted: int
    documents: int | None
    vocab_size: int | None
    distinct_tokens: int | None
    fraction_never_seen: float | None
    corpus_exhausted: bool | None
    loglog_alpha: float | None
    loglog_alpha_se: float | None
    mle_s: float | None
    mle_s_se: float | None
    mle_s_ci95: tuple[float, float] | None
    counts_file: str | None
    top_tokens: tuple[Mapping[str, Any], ...]

    SCHEMA: ClassVar[str] = "llmgeom.freq/1"

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        stats, fits = d["stats"], d.get("rank_frequency") or {}
        loglog, mle = fits.get("loglog") or {}, fits.get("mle") or {}
        ci = mle.get("ci95")
        return {
            "tokenizer": str(d["tokenizer"].get("name")),
            "corpus": str(d["corpus"].get("name")),
            "tokens_counted": int(stats["tokens_counted"]),
            "documents": stats.get("documents"),
            "vocab_size": stats.get("vocab_size"),
            "distinct_tokens": stats.get("distinct_tokens"),
            "fraction_never_seen": stats.get("fraction_never_seen"),
            "corpus_exhausted": stats.get("corpus_exhausted"),
            "loglog_alpha": _number(loglog, "alpha"),
            "loglog_alpha_se": _number(loglog, "se"),
            "mle_s": _number(mle, "s"),
            "mle_s_se": _number(mle, "se"),
            "mle_s_ci95": None if ci is None else (float(ci[0]), float(ci[1])),
            "counts_file": (d.get("files") or {}).get("counts"),
            "top_tokens": tuple(frozen_mapping(t) for t in d.get("top_tokens", ())),
        }

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        from .freq import load_freq_record

        return load_freq_record(path)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("tokenizer", repr(self.tokenizer)),
            ("corpus", repr(self.corpus)),
            ("tokens_counted", str(self.tokens_counted)),
            ("distinct_tokens", str(self.distinct_tokens)),
            ("mle_s", fmt(self.mle_s)),
        ]
