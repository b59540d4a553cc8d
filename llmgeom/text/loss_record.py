"""The record of a loss: :class:`LossResult` (one model on one corpus), its JSON file
(schema ``llmgeom.loss/1``) and its row of the shared ``losses.csv`` that ``llmgeom fit loss``
reads.

Example:
    >>> LOSSES_CSV, CSV_COLUMNS[:6]
    ('losses.csv', ('model', 'family', 'corpus', 'm', 'loss', 'head_width'))
    >>> CSV_COLUMNS[6]  # `llmgeom fit loss --column authors` fits it
    'loss_authors_weighting'
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from .._atomic import atomic_path, ensure_writable_dir, read_schema_json, write_json_atomic
from ..errors import ConfigError
from ..records.base import TypedResult, frozen_mapping
from ..records.measurement import package_versions

SCHEMA = "llmgeom.loss/1"
LOSSES_CSV = "losses.csv"
CSV_COLUMNS = ("model", "family", "corpus", "m", "loss", "head_width", "loss_authors_weighting")
VERSIONED = (
    "llmgeom", "torch", "numpy", "transformers", "tokenizers", "accelerate", "bitsandbytes",
    "gguf", "huggingface_hub", "safetensors",
)  # fmt: skip
_COUNTS = (
    "nll_sum", "predicted_tokens", "tokens", "bytes", "bytes_exact", "documents",
    "documents_skipped", "documents_truncated",
)  # fmt: skip


@dataclass(frozen=True, eq=False, repr=False)
class LossResult(TypedResult):
    """The loss of one model on one corpus (schema ``llmgeom.loss/1``), with everything needed
    to reproduce it. Frozen; :meth:`to_dict` is the JSON record exactly as :meth:`save` writes
    it, :meth:`from_dict` / :meth:`load` read it back.

    The headline values (``loss``, ``perplexity``, ``bits_per_byte``,
    ``loss_authors_weighting``) and the counts are the keys of the record's ``loss`` block;
    ``model`` and ``corpus`` are the record's identity blocks (``model_name`` and
    ``corpus_name`` name them in file names and tables), ``definition`` its block of the same
    name (how the loss was computed).
    """

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
    dtype: str
    quantization: str | None
    device: str
    created: str
    model: Mapping[str, Any] = field(repr=False)
    corpus: Mapping[str, Any] = field(repr=False)
    definition: Mapping[str, Any] = field(repr=False)
    timings: Mapping[str, float] = field(repr=False)

    SCHEMA: ClassVar[str] = SCHEMA

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        block, model, corpus = d["loss"], d["model"], d["corpus"]
        return {
            "loss": block["loss"],
            "perplexity": block.get("perplexity"),
            "bits_per_byte": block["bits_per_byte"],
            "loss_authors_weighting": block["loss_authors_weighting"],
            **{key: block[key] for key in _COUNTS},
            "model_name": str(model.get("label") or model.get("name") or model.get("source")),
            "corpus_name": str(corpus.get("label") or corpus.get("name")),
            "dtype": d["dtype"],
            "quantization": d.get("quantization"),
            "device": d["device"],
            "created": d["created"],
            "model": frozen_mapping(model),
            "corpus": frozen_mapping(corpus),
            "definition": frozen_mapping(d.get("definition")),
            "timings": frozen_mapping(d.get("timings")),
        }

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        return load_loss_record(path)

    @classmethod
    def from_values(
        cls,
        *,
        model: Mapping[str, Any],
        corpus: Mapping[str, Any],
        definition: Mapping[str, Any],
        values: Mapping[str, Any],
        dtype: str,
        quantization: str | None,
        device: str,
        timings: Mapping[str, float],
    ) -> LossResult:
        """A new result (this run's time and package versions) from its parts: ``values`` are
        the keys of the ``loss`` block (``loss``, ``perplexity``, ``bits_per_byte``,
        ``loss_authors_weighting`` and the counts).

        Example:
            >>> r = LossResult.from_values(model={"name": "m", "d_model": 8}, corpus={"name": "c"},
            ...     definition={"max_length": 64}, dtype="float32", quantization=None,
            ...     device="cpu", timings={}, values=dict(loss=3.5, perplexity=33.1,
            ...     bits_per_byte=1.2, loss_authors_weighting=3.49, nll_sum=35.0,
            ...     predicted_tokens=10, tokens=11, bytes=42, bytes_exact=True, documents=1,
            ...     documents_skipped=0, documents_truncated=0))
            >>> r
            LossResult(model='m', corpus='c', loss=3.5, bits_per_byte=1.2, tokens=11)
            >>> LossResult.from_dict(r.to_dict()) == r, r.to_dict()["loss"]["unit"]
            (True, 'nats/token')
        """
        block = {"loss": values["loss"], "unit": "nats/token"}
        block |= {key: values[key] for key in ("perplexity", "bits_per_byte")}
        block |= {key: values[key] for key in ("loss_authors_weighting", *_COUNTS)}
        record = {
            "schema": SCHEMA,
            "model": dict(model),
            "corpus": dict(corpus),
            "definition": dict(definition),
            "loss": block,
            "dtype": dtype,
            "quantization": quantization,
            "device": device,
            "timings": dict(timings),
            "environment": {"versions": package_versions(VERSIONED)},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return cls.from_dict(json.loads(json.dumps(record)))  # as the file holds it

    def with_labels(self, *, label: str | None = None, family: str | None = None) -> LossResult:
        """A copy labelled as a sweep's ``[[models]]`` entry asks: ``label`` names it (record,
        file, table row; the model block keeps its own ``name``), ``family`` is its
        ``losses.csv`` family (the width-loss fit's offsets). Nothing given: the same result.
        """
        labels = {key: value for key, value in (("label", label), ("family", family)) if value}
        if not labels:
            return self
        record = self.to_dict()
        record["model"] |= labels
        return type(self).from_dict(record)

    def with_definition(self, **entries: Any) -> LossResult:
        """A copy whose ``definition`` block also holds ``entries`` (e.g. a sweep's
        ``max_length_limit``, the bound the ``max_length`` used came from)."""
        record = self.to_dict()
        record["definition"] |= entries
        return type(self).from_dict(record)

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

    @property
    def family(self) -> str:
        """The ``losses.csv`` family (the config's model type outside the paper's four)."""
        return str(self.model.get("family") or self.model.get("model_type") or "other")

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write the JSON record and this result's row of ``out_dir/losses.csv``
        (:func:`save_loss`); the paths written."""
        return save_loss(self, out_dir)

    def csv_row(self) -> dict[str, str]:
        """The ``losses.csv`` row: ``model,family,corpus,m,loss,head_width,
        loss_authors_weighting`` (m = d_model)."""
        return {
            "model": self.model_name,
            "family": self.family,
            "corpus": self.corpus_name,
            "m": _plain(self.model.get("d_model")),
            "loss": repr(self.loss),
            "head_width": _plain(self.model.get("head_width")),
            "loss_authors_weighting": repr(self.loss_authors_weighting),
        }

    def summary(self) -> str:
        """A few human lines."""
        quant = f", {self.quantization}" if self.quantization else ""
        lines = [
            f"{self.model_name} on {self.corpus_name}: loss {self.loss:.4f} nats/token "
            f"(perplexity {self.perplexity or float('inf'):.3f}, "
            f"bits_per_byte {self.bits_per_byte:.4f})",
            f"  loss_authors_weighting {self.loss_authors_weighting:.4f}; "
            f"{self.predicted_tokens:,} predicted tokens in {self.documents:,} documents "
            f"({self.documents_skipped:,} skipped: < 2 tokens; {self.documents_truncated:,} cut "
            f"at {self.definition['max_length']} tokens)",
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
        >>> r = LossResult.from_values(
        ...     model={"name": "org/tiny", "family": "gpt2", "d_model": 64, "head_width": 64},
        ...     corpus={"name": "wiki"}, definition={}, dtype="float32", quantization=None,
        ...     device="cpu", timings={}, values=dict(loss=3.5, perplexity=33.1,
        ...     bits_per_byte=1.2, loss_authors_weighting=3.49, nll_sum=35.0,
        ...     predicted_tokens=10, tokens=11, bytes=42, bytes_exact=True, documents=1,
        ...     documents_skipped=0, documents_truncated=0))
        >>> out = Path(tempfile.mkdtemp())
        >>> [p.name for p in save_loss(r, out)]
        ['org--tiny.wiki.loss.json', 'losses.csv']
        >>> print((out / "losses.csv").read_text().strip())
        model,family,corpus,m,loss,head_width,loss_authors_weighting
        org/tiny,gpt2,wiki,64,3.5,64,3.49
        >>> LossResult.load(out / "org--tiny.wiki.loss.json") == r
        True
    """
    out = ensure_writable_dir(out_dir)
    table = out / LOSSES_CSV
    columns, rows = _read_losses_csv(table)  # refuse a foreign table before writing anything
    row = result.csv_row()
    rows = [r for r in rows if (r.get("model"), r.get("corpus")) != (row["model"], row["corpus"])]
    rows.append(row)
    json_path = write_json_atomic(result_path(result, out), result.to_dict())
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
