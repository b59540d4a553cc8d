"""The record of a loss: :class:`LossResult` (one model on one corpus), its JSON file
(schema ``llmgeom.loss/1``) and its row of the shared ``losses.csv`` that ``llmgeom fit loss``
reads.

Example:
    >>> LOSSES_CSV, CSV_COLUMNS
    ('losses.csv', ('model', 'family', 'corpus', 'm', 'loss', 'head_width'))
"""

from __future__ import annotations

import copy
import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, ensure_writable_dir, read_schema_json, write_json_atomic
from ..errors import ConfigError
from ..records.measurement import package_versions

_POOL_BATCHES = 32  # documents are sorted by length within pools of this many token budgets
_POOL_CAP = 1 << 22  # ...but at most this many tokens in memory at once
_TOKENIZE_CHUNK = 64  # documents per tokenizer call (fast tokenizers encode a list in parallel)
_MAX_EXP = 700.0  # exp() beyond this overflows a float: perplexity is then None
_ROWS_PER_CHUNK = 4096  # target positions per float32 log-softmax chunk (bounds the extra memory)


SCHEMA = "llmgeom.loss/1"
LOSSES_CSV = "losses.csv"
CSV_COLUMNS = ("model", "family", "corpus", "m", "loss", "head_width")
_VERSIONED = (
    "llmgeom", "torch", "numpy", "transformers", "tokenizers", "accelerate", "bitsandbytes",
    "gguf", "huggingface_hub", "safetensors",
)  # fmt: skip


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


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------ documents


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
