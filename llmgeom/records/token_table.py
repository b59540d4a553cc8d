"""The record of ``llmgeom tokens``: :class:`TokenTable`, one row per token of a head, and its
JSON summary (schema ``llmgeom.tokens/1``).

The table is columns of equal length (numpy arrays, one entry per row of the head, in id order);
a missing value is NaN in a float column, -1 in an integer column and None in ``string``, and a
null in the Parquet or CSV file. Columns (:data:`COLUMNS`; those of a part not computed are
absent or all null, the summary says which):

* ``id``, ``string`` (the tokenizer's ``decode([id])``; null without a tokenizer or beyond it),
  ``row_norm`` (``‖w_i‖``);
* ``interference``: mean cos² with every other token; ``weighted_interference``: the same
  weighted by the other tokens' frequencies (with counts);
* ``nearest_id``, ``nearest_abs_cos``: the token of largest |cos| and that |cos| (exact pass);
* ``count``, ``frequency_rank`` (1: the most frequent; ties by id; null for a count of 0).
* ``frequency_projection``: ``u_i·d``, the unit row along the frequency direction ``d`` (with
  counts; :mod:`llmgeom.geometry.frequency_direction`, ``d`` itself is
  :attr:`TokenTable.frequency_direction`);
* ``logit_offset``: ``b · w_j``, the fixed logit offset of a final LayerNorm's bias (with
  ``fold_norm``, where the norm has a bias; the summary's ``final_norm`` names it).

Further per-token columns (the under-trained indicator, the frequency direction's prediction)
join by name: :meth:`TokenTable.with_columns` keeps any extra column, after these, in every file.
The under-trained part (:mod:`llmgeom.text.undertrained_tokens`) adds ``undertrained_indicator``
(float, NaN where not computed), ``undertrained_reference`` and ``undertrained_candidate``
(booleans), ``input_norm`` (untied models) and ``undertrained_verify_max_prob`` (with verify).

Example:
    >>> import numpy as np
    >>> t = TokenTable._build({"schema": SCHEMA, "model": {"name": "toy"}, "n_rows": 2},
    ...     table={"id": np.arange(2), "string": ["a", None], "row_norm": np.ones(2)})
    >>> t.n_rows, t.string_of(0), t.to_arrow().column("string").to_pylist()
    (2, 'a', ['a', None])
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import ConfigError, one_line
from .base import TypedResult, fmt

SCHEMA = "llmgeom.tokens/1"
COLUMNS = (
    "id",
    "string",
    "row_norm",
    "interference",
    "weighted_interference",
    "nearest_id",
    "nearest_abs_cos",
    "count",
    "frequency_rank",
)
INTEGER_COLUMNS = frozenset({"id", "nearest_id", "count", "frequency_rank"})
TableFormat = Literal["parquet", "csv"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("parquet", "csv")
INSTALL_HINT = "pip install 'llmgeom[tokens]'"


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ConfigError(
            f"the token table's Parquet and CSV files need pyarrow, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None
    return pyarrow


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name) or "model"


@dataclass(frozen=True, eq=False, repr=False)
class TokenTable(TypedResult):
    """Every token of a head with its place in the geometry (:func:`llmgeom.token_table`).

    ``table`` maps column names to arrays (see the module docstring); the JSON summary (counts,
    most crowded tokens, correlations with frequency, provenance) is :meth:`to_dict`.
    """

    name: str
    n_rows: int
    m: int | None
    mean_interference: float | None
    table: Mapping[str, Any] = field(default_factory=dict, repr=False)

    SCHEMA: ClassVar[str] = SCHEMA

    @classmethod
    def _headline(cls, d: dict[str, Any]) -> dict[str, Any]:
        interference = d.get("interference") or {}
        mean = interference.get("mean")
        return {
            "name": str((d.get("model") or {}).get("name") or "model"),
            "n_rows": int(d.get("n_rows", 0)),
            "m": d.get("m"),
            "mean_interference": None if mean is None else float(mean),
        }

    @classmethod
    def _build(  # type: ignore[override]
        cls, payload: Mapping[str, Any], table: Mapping[str, Any] | None = None
    ) -> TokenTable:
        frozen = MappingProxyType(dict(table or {}))
        return super()._build(payload, table=frozen)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("name", repr(self.name)),
            ("n_rows", str(self.n_rows)),
            ("m", str(self.m)),
            ("mean_interference", fmt(self.mean_interference)),
            ("columns", str(len(self.table))),
        ]

    def summary(self, shown: int = 5) -> str:
        """A few lines for the terminal: shape, mean interference, the most crowded tokens,
        whether the neighbours were computed, the correlations with frequency."""
        d = self.to_dict()
        lines = [
            f"{self.name}: {self.n_rows:,} tokens x {self.m}, {d.get('n_rows_used', 0):,} used"
            f" (zero or dropped rows excluded: {d.get('n_rows_excluded', 0):,})",
            f"  interference (mean cos^2 with the others): mean {fmt(self.mean_interference)},"
            f" median {fmt((d.get('interference') or {}).get('median'))},"
            f" max {fmt((d.get('interference') or {}).get('max'))}",
        ]
        crowded = d.get("most_crowded") or []
        if crowded:
            parts = []
            for row in crowded[:shown]:
                label = repr(row["string"]) if row.get("string") is not None else f"#{row['id']}"
                parts.append(f"{label} {row['interference']:.4g}")
            lines.append(f"  most crowded: {', '.join(parts)}")
        nearest = d.get("nearest_neighbour") or {}
        if nearest.get("computed") is False:
            lines.append(
                f"  nearest neighbours not computed: the exact pass counts "
                f"{nearest.get('flops', 0):.3g} FLOPs, over exact_max_flops "
                f"{nearest.get('exact_max_flops', 0):.3g}"
            )
        tokenizer = d.get("tokenizer") or {}
        if not tokenizer.get("loaded"):
            lines.append(f"  no strings: {tokenizer.get('reason', 'no tokenizer')}")
        lines.extend(_undertrained_lines(d.get("undertrained"), shown))
        direction = d.get("frequency_direction") or {}
        if direction.get("computed"):
            r2 = direction["r2_cv"]
            explained = direction.get("fraction_explained")
            share = "-" if explained is None else f"{100 * explained:.1f}%"
            lines.append(
                f"  frequency direction: R^2 {fmt(r2['mean'], 3)} +- {fmt(r2['std'], 2)} "
                f"({r2['n_folds']}-fold CV, alpha {fmt(direction['alpha'], 3)})"
            )
            lines.append(
                f"    mean cos^2 {fmt(direction['mean_cos2'])} -> "
                f"{fmt(direction['mean_cos2_without_direction'])} with it projected out of "
                f"every row ({share} explained)"
            )
        elif direction:
            lines.append(f"  frequency direction not computed: {direction.get('reason')}")
        correlation = d.get("frequency_correlation")
        if correlation:
            for key in ("interference", "row_norm"):
                c = correlation[key]
                lines.append(
                    f"  Spearman of {key} with log frequency: {fmt(c['spearman'], 3)} "
                    f"({c['n_tokens']:,} tokens with a count)"
                )
        return "\n".join(lines)

    @property
    def frequency_direction(self) -> np.ndarray | None:
        """The unit frequency direction ``d`` (float64, ``m``; with counts, None otherwise).

        Example:
            >>> t = TokenTable._build({"schema": SCHEMA, "n_rows": 0,
            ...     "frequency_direction": {"computed": True, "direction": [0.6, 0.8]}})
            >>> t.frequency_direction.tolist()
            [0.6, 0.8]
        """
        block = self.to_dict().get("frequency_direction") or {}
        values = block.get("direction")
        return None if values is None else np.asarray(values, dtype=np.float64)

    def column_names(self) -> list[str]:
        """The columns in file order: :data:`COLUMNS` present, then any others."""
        known = [c for c in COLUMNS if c in self.table]
        return known + [c for c in self.table if c not in COLUMNS]

    def with_columns(self, **columns: Any) -> TokenTable:
        """A copy with more per-token columns (each one entry per row), kept in every file.

        Example:
            >>> t = TokenTable._build({"schema": SCHEMA, "n_rows": 2}, table={"id": [0, 1]})
            >>> t.with_columns(extra=np.array([0.5, 1.5])).column_names()
            ['id', 'extra']
        """
        for key, values in columns.items():
            if len(values) != self.n_rows:
                message = f"column {key!r} has {len(values)} entries for {self.n_rows} rows"
                raise ConfigError(message)
        return type(self)._build(self.to_dict(), table={**self.table, **columns})

    def string_of(self, token_id: int) -> str | None:
        """The decoded string of ``token_id`` (None without a tokenizer)."""
        strings = self.table.get("string")
        return None if strings is None else strings[token_id]

    def to_arrow(self) -> Any:
        """The table as a ``pyarrow.Table``, missing values as nulls (needs pyarrow)."""
        pa = _pyarrow()
        arrays = {}
        for name in self.column_names():
            values = self.table[name]
            if name == "string" or (len(values) and isinstance(values[0], str)):
                arrays[name] = pa.array(list(values), type=pa.string())
                continue
            data = np.asarray(values)
            if data.dtype.kind == "f":
                arrays[name] = pa.array(data, mask=np.isnan(data))
            elif name in INTEGER_COLUMNS:
                arrays[name] = pa.array(data.astype(np.int64), mask=data < 0)
            else:
                arrays[name] = pa.array(data)
        return pa.table(arrays)

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame (needs pandas and pyarrow); the integer columns are
        pandas' nullable ``Int64``, so a missing rank stays missing, not a float NaN."""
        import pandas as pd

        pa = _pyarrow()
        return self.to_arrow().to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    def file_names(self, table_format: TableFormat = "parquet") -> dict[str, str]:
        """``{"table": NAME.tokens.parquet, "summary": NAME.tokens.json, "figure": ...png,
        "page": NAME.tokens.html, ...}`` (``NAME.folded.tokens.*`` for a folded head,
        ``fold_norm``)."""
        folded = ".folded" if self.to_dict().get("fold_norm") else ""  # never the unfolded files
        stem = f"{_safe(self.name)}{folded}.tokens"
        return {
            "table": f"{stem}.{table_format}",
            "summary": f"{stem}.json",
            "figure": f"{stem}.png",
            "page": f"{stem}.html",
            "undertrained_figure": f"{_safe(self.name)}{folded}.undertrained.png",
        }

    def save(
        self, out_dir: str | os.PathLike[str], *, table_format: TableFormat = "parquet"
    ) -> list[Path]:
        """Write the table (Parquet, or CSV) and the JSON summary into ``out_dir``, each
        atomically; returns their paths. The summary names the table file it goes with."""
        from .._atomic import atomic_path, write_json_atomic

        if table_format not in TABLE_FORMATS:
            raise ConfigError(
                f"table_format must be one of {', '.join(TABLE_FORMATS)}, got {table_format!r}",
                parameter="table_format",
            )
        arrow = self.to_arrow()
        names = self.file_names(table_format)
        folder = Path(out_dir)
        table_path = folder / names["table"]
        with atomic_path(table_path) as tmp:
            if table_format == "parquet":
                import pyarrow.parquet as pq

                pq.write_table(arrow, tmp)
            else:
                import pyarrow.csv as pcsv

                pcsv.write_csv(arrow, tmp)
        record = self.to_dict()
        record["files"] = {"table": names["table"], "format": table_format}
        summary_path = write_json_atomic(folder / names["summary"], record)
        return [table_path, summary_path]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TokenTable:
        """The summary ``NAME.tokens.json`` and the table file it names, read back."""
        from .schema import check_schema

        record = cls._read(path)
        if record.get("schema") != SCHEMA:
            raise ConfigError(f"{path}: a {record.get('schema')} result, not {SCHEMA}")
        check_schema(record, SCHEMA, str(path), "token table summary")
        files = record.get("files") or {}
        table: dict[str, Any] = {}
        if files.get("table"):
            name = files["table"]
            if Path(name).name != name or name in (".", ".."):  # written beside the summary
                raise ConfigError(f"{path}: files.table = {name!r:.80} is not a file name")
            table = read_table(Path(path).parent / name)
        return cls._build(record, table=table)


def _undertrained_lines(block: Mapping[str, Any] | None, shown: int) -> list[str]:
    """The summary's lines about the under-trained tokens (none for an older record)."""
    if not block:
        return []
    reasons = ", ".join(
        f"{k} {v:,}" for k, v in (block.get("reference") or {}).get("reasons", {}).items()
    )
    reference = f"reference rows {block['reference']['n_rows']:,}" + (
        f" ({reasons})" if reasons else ""
    )
    if block.get("ranked_by") is None:
        why = block.get("indicator_reason") or "no indicator"
        return [f"  under-trained tokens not computed: {why}; {reference}"]
    parts = []
    for row in block.get("candidates", [])[:shown]:
        label = repr(row["string"]) if row.get("string") is not None else f"#{row['id']}"
        parts.append(f"{label} {fmt(row.get(block['ranked_by']), 3)}")
    line = (
        f"  under-trained candidates ({block['ranked_by']} <= {fmt(block.get('threshold'), 3)}, "
        f"percentile {fmt(block.get('percentile'))}): {block.get('n_candidates', 0):,}"
    )
    lines = [line + (f": {', '.join(parts)}" if parts else ""), f"    {reference}"]
    verification = block.get("verification")
    if verification:
        lines.append(
            f"    verified (repetition max prob < {verification['verified_below']}): "
            f"{verification['n_verified']:,} of {verification['n_checked']:,} checked"
        )
    return lines


def read_table(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The columns of a token table file (Parquet or CSV) as :class:`TokenTable` holds them."""
    pa = _pyarrow()
    path = Path(path)
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name no file can have: too long, a NUL byte
        found = False
    if not found:
        raise ConfigError(f"token table: no such file: {str(path)[:200]}")
    try:
        return _read_arrow(path)
    except (pa.ArrowException, OSError, ValueError) as err:  # not the format its name says
        raise ConfigError(
            f"token table {path}: not readable ({one_line(str(err))[:200]})"
        ) from None


def _read_arrow(path: Path) -> dict[str, Any]:
    if path.suffix == ".csv":
        import pyarrow.csv as pcsv

        arrow = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                strings_can_be_null=True,  # a null string is written unquoted, "" quoted
                quoted_strings_can_be_null=False,
                column_types={"string": _pyarrow().string()},
            ),
        )
    else:
        import pyarrow.parquet as pq

        arrow = pq.read_table(path)
    return {name: _column(name, arrow.column(name).to_pylist()) for name in arrow.column_names}


def _column(name: str, values: Sequence[Any]) -> Any:
    if name == "string" or any(isinstance(v, str) for v in values):
        return [None if v is None else str(v) for v in values]
    if values and all(isinstance(v, bool) for v in values):  # a mask, e.g. the candidates
        return np.array(values, dtype=bool)
    if name in INTEGER_COLUMNS:
        return np.array([-1 if v is None else v for v in values], dtype=np.int64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
