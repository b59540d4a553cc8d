"""The result of a token count (``llmgeom freq``, :func:`llmgeom.count_tokens`):
:class:`FreqResult`, its JSON record (schema ``llmgeom.freq/1``), the counts beside it
(``<tokenizer>.<corpus>.counts.npz``) and the rank-frequency plot.

:func:`~llmgeom.text.freq.count_tokens` returns a :class:`FreqResult`; :meth:`FreqResult.save`
writes the three files; :meth:`FreqResult.load` reads them back into an equal result.

Example:
    >>> r = FreqResult.from_dict({"schema": "llmgeom.freq/1", "tokenizer": {"name": "t"},
    ...     "corpus": {"name": "c"}, "stats": {"tokens_counted": 84, "documents": 4,
    ...     "vocab_size": 49, "distinct_tokens": 34, "fraction_never_seen": 0.3},
    ...     "rank_frequency": {"loglog": {"alpha": 1.05, "se": 0.013},
    ...                        "mle": {"s": 1.2, "se": 0.1, "ci95": [1.0, 1.4]}},
    ...     "files": {"counts": "t.c.counts.npz"}})
    >>> r
    FreqResult(tokenizer='t', corpus='c', tokens_counted=84, distinct_tokens=34, mle_s=1.2)
    >>> r.mle_s_ci95, r.counts is None, FreqResult.from_dict(r.to_dict()) == r
    ((1.0, 1.4), True, True)
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._atomic import atomic_path, read_schema_json, write_json_atomic
from ..errors import ConfigError, FitError
from ..records.base import TypedResult, fmt, frozen_mapping
from ..records.measurement import package_versions
from .zipf import loglog_fit, zipf_mle

SCHEMA = "llmgeom.freq/1"
TOP_TOKENS = 20
VERSIONED = (
    "llmgeom", "numpy", "transformers", "tokenizers", "huggingface_hub", "datasets", "pyarrow",
)  # fmt: skip
DEFINITION = (
    "documents in order, each encoded without special tokens, counted until `tokens` tokens; "
    "the document crossing the budget is cut there"
)


def _number(block: Mapping[str, Any], key: str) -> float | None:
    value = block.get(key)
    return None if value is None else float(value)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


def file_names(tokenizer_name: str, corpus_name: str) -> dict[str, str]:
    """The counts, record and plot file names of one tokenizer on one corpus.

    Example:
        >>> file_names("org/tok", "wiki")["counts"]
        'org_tok.wiki.counts.npz'
    """
    stem = f"{_safe(tokenizer_name)}.{_safe(corpus_name)}"
    return {
        "counts": f"{stem}.counts.npz",
        "record": f"{stem}.freq.json",
        "plot": f"{stem}.freq.png",
    }


@dataclass(frozen=True, eq=False, repr=False)
class FreqResult(TypedResult):
    """Token counts of one tokenizer on one corpus (schema ``llmgeom.freq/1``).

    ``tokenizer_name``, ``corpus_name`` (``tokenizer`` and ``corpus`` are the record's blocks),
    ``tokens_counted``, ``documents``, ``last_document_cut``, ``corpus_exhausted``,
    ``vocab_size``, ``distinct_tokens``, ``fraction_never_seen``; the rank-frequency exponents:
    ``loglog_alpha`` (with ``loglog_alpha_se``; the paper's log-log fit) and ``mle_s`` (with
    ``mle_s_se`` and ``mle_s_ci95``; the discrete power law's maximum likelihood);
    ``top_tokens``; ``counts_file`` (the ``.npz`` beside the record) and ``counts`` (int64, one
    entry per token id; None for a result read from a record alone, :meth:`from_dict`).
    Equality compares the records (:meth:`to_dict`).
    """

    tokenizer_name: str
    corpus_name: str
    tokens_counted: int
    documents: int | None
    last_document_cut: bool | None
    corpus_exhausted: bool | None
    vocab_size: int | None
    distinct_tokens: int | None
    fraction_never_seen: float | None
    loglog_alpha: float | None
    loglog_alpha_se: float | None
    mle_s: float | None
    mle_s_se: float | None
    mle_s_ci95: tuple[float, float] | None
    counts_file: str | None
    tokenizer: Mapping[str, Any] = field(repr=False)
    corpus: Mapping[str, Any] = field(repr=False)
    top_tokens: tuple[Mapping[str, Any], ...] = field(repr=False)
    counts: np.ndarray | None = field(default=None, repr=False)

    SCHEMA: ClassVar[str] = SCHEMA

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        stats, fits = d["stats"], d.get("rank_frequency") or {}
        loglog, mle = fits.get("loglog") or {}, fits.get("mle") or {}
        ci = mle.get("ci95")
        return {
            "tokenizer_name": str(d["tokenizer"].get("name")),
            "corpus_name": str(d["corpus"].get("name")),
            "tokens_counted": int(stats["tokens_counted"]),
            "documents": stats.get("documents"),
            "last_document_cut": stats.get("last_document_cut"),
            "corpus_exhausted": stats.get("corpus_exhausted"),
            "vocab_size": stats.get("vocab_size"),
            "distinct_tokens": stats.get("distinct_tokens"),
            "fraction_never_seen": stats.get("fraction_never_seen"),
            "loglog_alpha": _number(loglog, "alpha"),
            "loglog_alpha_se": _number(loglog, "se"),
            "mle_s": _number(mle, "s"),
            "mle_s_se": _number(mle, "se"),
            "mle_s_ci95": None if ci is None else (float(ci[0]), float(ci[1])),
            "counts_file": (d.get("files") or {}).get("counts"),
            "tokenizer": frozen_mapping(d["tokenizer"]),
            "corpus": frozen_mapping(d["corpus"]),
            "top_tokens": tuple(frozen_mapping(t) for t in d.get("top_tokens", ())),
        }

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        return load_freq_record(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FreqResult:
        """Read a ``.freq.json`` record and, where it lies beside it, its ``.counts.npz``."""
        result = super().load(path)
        if result.counts_file is None:
            return result
        counts_path = Path(path).parent / result.counts_file
        if not counts_path.is_file():
            return result
        try:
            with np.load(counts_path) as data:
                counts = np.asarray(data["counts"], dtype=np.int64)
        except (OSError, ValueError, KeyError) as err:
            raise ConfigError(f"{counts_path}: not a token-count file ({err})") from None
        return dataclasses.replace(result, counts=counts)

    @property
    def stem(self) -> str:
        """``<tokenizer>.<corpus>``: the common part of the file names."""
        return f"{_safe(self.tokenizer_name)}.{_safe(self.corpus_name)}"

    def columns(self) -> dict[str, Any]:
        """The headline values as one table row (:func:`llmgeom.records.to_pandas`)."""
        out = super().columns()
        return {
            "tokenizer": out.pop("tokenizer_name"),
            "corpus": out.pop("corpus_name"),
            **out,
        }

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("tokenizer", repr(self.tokenizer_name)),
            ("corpus", repr(self.corpus_name)),
            ("tokens_counted", str(self.tokens_counted)),
            ("distinct_tokens", str(self.distinct_tokens)),
            ("mle_s", fmt(self.mle_s)),
        ]

    def figure(self, ax: Any = None) -> Any:
        """The rank-frequency plot with both fitted lines (needs :attr:`counts`)."""
        from .freq_plot import plot_rank_frequency

        if self.counts is None:
            raise ConfigError(
                f"{self.stem}: the plot needs the counts (FreqResult.load reads them)"
            )
        return plot_rank_frequency(self.counts, self._payload, ax)

    def save(self, out_dir: str | os.PathLike[str], *, plot: bool = True) -> list[Path]:
        """Write the counts (npz), the plot (PNG, with ``plot``) and the record (JSON) into
        ``out_dir``, each atomically; the paths written, in that order but the JSON second."""
        from ..plotting import save_png
        from .freq_plot import PNG_DPI

        if self.counts is None:
            raise ConfigError(f"{self.stem}: a result read without its counts cannot be saved")
        out = Path(out_dir)
        names = self.to_dict()["files"]
        paths = [out / names["counts"], out / names["record"]]
        with atomic_path(paths[0]) as tmp, tmp.open("wb") as fh:
            np.savez_compressed(fh, counts=self.counts.astype(np.int64))
        if plot:
            paths.append(save_png(self.figure(), out / names["plot"], dpi=PNG_DPI))
        write_json_atomic(paths[1], self.to_dict())
        return paths

    def summary(self) -> str:
        """A few lines describing the result for the terminal."""
        lines = [
            f"{self.tokenizer_name} on {self.corpus_name}: {self.tokens_counted:,} tokens "
            f"from {self.documents or 0:,} documents"
            + (" (corpus exhausted before the budget)" if self.corpus_exhausted else ""),
            f"  distinct_tokens {self.distinct_tokens or 0:,} of {self.vocab_size or 0:,} "
            f"({100 * (self.fraction_never_seen or 0.0):.1f} % never seen)",
        ]
        fits = self.to_dict()["rank_frequency"]
        if self.loglog_alpha is not None:
            lines.append(
                f"  loglog_alpha {self.loglog_alpha:.3f} (rank-frequency exponent, the paper's "
                f"log-log fit; R² {fits['loglog']['r2']:.3f})"
            )
        else:
            lines.append(f"  log-log fit: {fits['loglog']['error']}")
        if self.mle_s is not None and self.mle_s_ci95 is not None:
            lo, hi = self.mle_s_ci95
            lines.append(
                f"  mle_s {self.mle_s:.4f} (rank-frequency exponent, power-law MLE; "
                f"95 % CI {lo:.4f} to {hi:.4f})"
            )
        else:
            lines.append(f"  power-law MLE: {fits['mle']['error']}")
        top = ", ".join(f"{row['text']!r} {row['count']:,}" for row in self.top_tokens[:5])
        lines.append(f"  most frequent: {top}")
        return "\n".join(lines)


def top_tokens(counts: np.ndarray, tokenizer: Any, n: int = TOP_TOKENS) -> list[dict[str, Any]]:
    """The ``n`` most frequent tokens of ``counts`` (ties by id): rank, id, token, decoded
    text, count and frequency; ``tokenizer`` is a ``transformers`` tokenizer.

    Example:
        >>> class Letters:  # a stand-in tokenizer: id i is the i-th letter
        ...     def convert_ids_to_tokens(self, i): return "abcd"[i]
        ...     def decode(self, ids): return "abcd"[ids[0]]
        >>> [(r["token"], r["count"]) for r in top_tokens(np.array([1, 5, 0, 5]), Letters())]
        [('b', 5), ('d', 5), ('a', 1)]
    """
    order = np.lexsort((np.arange(counts.size), -counts))[:n]
    order = order[counts[order] > 0]
    total = max(int(counts.sum()), 1)
    return [
        {
            "rank": rank,
            "id": token_id,
            "token": tokenizer.convert_ids_to_tokens(token_id),
            "text": tokenizer.decode([token_id]),
            "count": int(counts[token_id]),
            "frequency": int(counts[token_id]) / total,
        }
        for rank, token_id in enumerate(order.tolist(), start=1)
    ]


def rank_frequency_fits(counts: np.ndarray) -> dict[str, Any]:
    """Both rank-frequency fits of :mod:`llmgeom.text.zipf`, or the reason each cannot be made.

    Example:
        >>> sorted(rank_frequency_fits(np.array([3]))["mle"])  # too few tokens to fit
        ['error']
    """
    out: dict[str, Any] = {}
    for key, fit in (("loglog", loglog_fit), ("mle", zipf_mle)):
        try:
            out[key] = fit(counts)
        except FitError as err:
            out[key] = {"error": str(err)}
    return out


def build_freq_record(
    *,
    tokenizer: Mapping[str, Any],
    corpus: Mapping[str, Any],
    options: Mapping[str, Any],
    counts: np.ndarray,
    documents: int,
    last_document_cut: bool,
    budget: int | None,
    top: list[dict[str, Any]],
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The JSON-ready record (schema :data:`SCHEMA`) of ``counts``: statistics, the ``top``
    tokens, both rank-frequency fits, the file names, this run's time and package versions.

    Example:
        >>> r = build_freq_record(tokenizer={"name": "t"}, corpus={"name": "c"}, options={},
        ...     counts=np.array([2, 0, 1]), documents=1, last_document_cut=False, budget=None,
        ...     top=[], timings={})
        >>> r["stats"]["distinct_tokens"], r["stats"]["fraction_never_seen"], r["files"]["plot"]
        (2, 0.3333333333333333, 't.c.freq.png')
    """
    vocab = int(counts.size)
    distinct = int(np.count_nonzero(counts))
    counted = int(counts.sum())
    record = {
        "schema": SCHEMA,
        "tokenizer": dict(tokenizer),
        "corpus": dict(corpus),
        "options": {**options, "add_special_tokens": False, "definition": DEFINITION},
        "stats": {
            "tokens_counted": counted,
            "documents": documents,
            "last_document_cut": last_document_cut,
            "corpus_exhausted": budget is not None and counted < budget,
            "vocab_size": vocab,
            "distinct_tokens": distinct,
            "fraction_never_seen": (vocab - distinct) / vocab if vocab else 0.0,
        },
        "top_tokens": top,
        "rank_frequency": rank_frequency_fits(counts),
        "files": file_names(str(tokenizer.get("name")), str(corpus.get("name"))),
        "timings": dict(timings),
        "environment": {"versions": package_versions(VERSIONED)},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return json.loads(json.dumps(record))  # as the file holds it (tuples become lists)


def load_freq_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``<name>.<corpus>.freq.json`` record (schema :data:`SCHEMA`) and check the blocks
    readers use (``tokenizer``, ``corpus``, ``stats`` with ``tokens_counted``, ``rank_frequency``,
    ``files``: its JSON Schema, ``llmgeom/records/schemas/freq-1.json``); one-line
    :class:`ConfigError` naming the file otherwise. :meth:`FreqResult.load` also reads the
    counts beside it.

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
