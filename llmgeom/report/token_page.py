"""The page of a token table, ``NAME.tokens.html`` (``llmgeom tokens``, :func:`write_token_page`):
one self-contained HTML file, no network (inline CSS and script, the figures as PNG ``data:``
URIs), readable offline.

* **Tokens**: every token in a table that renders :data:`PAGE_SIZE` rows at a time, searchable
  (a substring of the decoded string, any case, or the whole string; a number finds that id),
  sortable by any column (click its header), with views (:func:`views`): the most crowded, the
  under-trained candidates when the table has them, the most frequent with counts, all tokens by
  id. Every column of the table is shown, whatever its name, so new per-token columns need no
  change here. Numbers are rounded to 6 significant digits (the full values are in the Parquet
  or CSV file).
* **Figures**: with counts, interference and row norm against frequency
  (:func:`llmgeom.geometry.token_plot.plot_token_frequency`); the eigenvalue density against the
  Marchenko–Pastur law (:func:`llmgeom.geometry.spectrum_plot.plot_spectrum`).
* **Summary**: every block of the JSON summary as a small key/value table (lists of records,
  such as the most crowded tokens, as tables), the provenance collapsed.

The table travels as one JSON object of column arrays in a ``<script type="application/json">``
block, escaped so that no token string can end it (:func:`embeddable_json`); the script
(:mod:`llmgeom.report.token_page_script`) puts every value into the page as text.

Example:
    >>> import numpy as np
    >>> from llmgeom.records.token_table import SCHEMA, TokenTable
    >>> t = TokenTable._build({"schema": SCHEMA, "model": {"name": "toy"}, "n_rows": 2, "m": 2},
    ...     table={"id": np.arange(2), "string": ["</script>", None],
    ...            "interference": np.array([0.25, np.nan])})
    >>> page = token_page_html(t, figures=False)
    >>> page.count("</script>"), '"interference":[0.25,null]' in page, "http" in page
    (2, True, False)
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..records.token_table import INTEGER_COLUMNS, TokenTable
from .html import Page, details, esc, figure, render_page, table
from .token_page_script import SCRIPT, STYLE

#: Rows rendered at a time.
PAGE_SIZE = 100
#: Significant digits of the numbers on the page.
DIGITS = 6
#: Blocks of the summary shown collapsed, as provenance.
PROVENANCE_BLOCKS = ("model", "options", "tokenizer", "counts", "files", "timings", "environment")
#: A list of numbers longer than this is summarised (count, largest, smallest), not listed.
LONG_LIST = 12
_UNSAFE_IN_SCRIPT = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def embeddable_json(value: Any) -> str:
    """``value`` as JSON that can sit inside an HTML ``<script>`` element: ``<``, ``>``, ``&``,
    the line and paragraph separators and lone surrogates (text no UTF-8 file can hold) are
    written as ``\\uXXXX`` escapes, which JSON reads back as the same characters.

    Example:
        >>> embeddable_json(["</script>", "a\\ud800"])
        '["\\\\u003c/script\\\\u003e","a\\\\ud800"]'
        >>> json.loads(embeddable_json(["</script>", "a\\ud800"])) == ["</script>", "a\\ud800"]
        True
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _escape_json_text(text)


def _escape_json_text(text: str) -> str:
    """JSON text with the characters :func:`embeddable_json` avoids escaped (they can only be
    inside strings, where an escape means the same)."""
    return _UNSAFE_IN_SCRIPT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def column_json(name: str, values: Any) -> tuple[str, str]:
    """``(kind, JSON array)`` of a column for the page: ``kind`` is ``string``, ``bool``,
    ``int`` or ``float``; a missing value (None, NaN or ±inf, a negative value in an integer
    column of :data:`~llmgeom.records.token_table.INTEGER_COLUMNS`) is ``null``; floats have
    :data:`DIGITS` significant digits.

    Example:
        >>> column_json("count", np.array([3, -1])), column_json("x", np.array([1/3, np.inf]))
        (('int', '[3,null]'), ('float', '[0.333333,null]'))
        >>> column_json("flag", [True, False]), column_json("string", ["a", None])
        (('bool', '[true,false]'), ('string', '["a",null]'))
    """
    if not isinstance(values, np.ndarray) and any(isinstance(v, str) for v in values):
        return "string", embeddable_json([None if v is None else str(v) for v in values])
    data = np.asarray(values)
    if data.dtype.kind == "b":
        return "bool", "[" + ",".join("true" if v else "false" for v in data.tolist()) + "]"
    if data.dtype.kind in "iu":
        skip_negative = name in INTEGER_COLUMNS
        items = ("null" if skip_negative and v < 0 else str(v) for v in data.tolist())
        return "int", "[" + ",".join(items) + "]"
    if data.dtype.kind == "f":
        items = ("null" if not math.isfinite(v) else f"{v:.{DIGITS}g}" for v in data.tolist())
        return "float", "[" + ",".join(items) + "]"
    if data.dtype.kind == "O" and all(v is None for v in data.tolist()):
        return "string", "[" + ",".join("null" for _ in range(data.size)) + "]"
    return "string", embeddable_json([None if v is None else str(v) for v in data.tolist()])


def views(token_table: TokenTable) -> list[dict[str, Any]]:
    """The page's views of the tokens, from the columns (and blocks) the table has: each
    ``{label, sort, desc, filter, ids}`` (``filter``: a column whose true rows are shown; ``ids``:
    the ids shown), the first the page opens with.

    Example:
        >>> t = TokenTable._build({"n_rows": 1}, table={"id": np.arange(1),
        ...     "interference": np.ones(1), "undertrained_candidate": np.array([True])})
        >>> [v["label"] for v in views(t)]
        ['most crowded', 'under-trained candidates', 'all tokens, by id']
    """
    columns = token_table.table
    record = token_table.to_dict()
    out: list[dict[str, Any]] = []

    def add(label: str, sort: str | None, desc: bool = False, **more: Any) -> None:
        out.append({"label": label, "sort": sort, "desc": desc, "filter": None, "ids": None,
                    **more})  # fmt: skip

    if "interference" in columns:
        add("most crowded", "interference", desc=True)
    indicator = "undertrained_indicator" if "undertrained_indicator" in columns else None
    candidates = (record.get("undertrained") or {}).get("candidates")
    if "undertrained_candidate" in columns:
        add("under-trained candidates", indicator, filter="undertrained_candidate")
    elif isinstance(candidates, list):
        ids = [int(c["id"]) for c in candidates if isinstance(c, Mapping) and "id" in c]
        add("under-trained candidates", indicator, ids=ids)
    if "undertrained_reference" in columns:
        add("under-trained reference rows", indicator, filter="undertrained_reference")
    if "frequency_rank" in columns:
        add("most frequent", "frequency_rank")
    if "weighted_interference" in columns:
        add("most crowded, frequency-weighted", "weighted_interference", desc=True)
    add("all tokens, by id", "id" if "id" in columns else None)
    return out


def data_json(token_table: TokenTable, page_size: int = PAGE_SIZE) -> str:
    """The page's data block: ``{"n", "columns", "values", "views", "page_size"}`` as
    embeddable JSON (:func:`embeddable_json`), the columns in file order.

    Example:
        >>> t = TokenTable._build({"n_rows": 2}, table={"id": np.arange(2)})
        >>> json.loads(data_json(t))["values"]
        {'id': [0, 1]}
    """
    names = token_table.column_names()
    encoded = [(name, *column_json(name, token_table.table[name])) for name in names]
    columns = embeddable_json([{"name": name, "kind": kind} for name, kind, _ in encoded])
    values = ",".join(f"{embeddable_json(name)}:{text}" for name, _, text in encoded)
    return (
        f'{{"n":{int(token_table.n_rows)},"columns":{columns},"values":{{{values}}},'
        f'"views":{embeddable_json(views(token_table))},"page_size":{int(page_size)}}}'
    )


# ----------------------------------------------------------------------------- the summary


def _number_list(values: Sequence[Any]) -> str:
    if len(values) <= LONG_LIST:
        return ", ".join(_plain(v) for v in values)
    numbers = [float(v) for v in values if isinstance(v, int | float) and v is not None]
    if len(numbers) == len(values):
        return f"{len(values)} values, largest {max(numbers):.6g}, smallest {min(numbers):.6g}"
    return f"{len(values)} values"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _records_table(rows: list[Mapping[str, Any]], limit: int = 200) -> str:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    body = [[_cell(row.get(k)) for k in keys] for row in rows[:limit]]
    more = f"<p>… and {len(rows) - limit} more.</p>" if len(rows) > limit else ""
    return table(keys, body) + more


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a token's string, its spaces visible
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _flatten(value: Any, prefix: str, rows: list[list[Any]], nested: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), rows, nested)
    elif _is_records(value):
        nested.append((prefix, value))
    elif isinstance(value, list):
        rows.append([prefix, _number_list(value)])
    else:
        rows.append([prefix, value])


def summary_block(name: str, value: Any) -> str:
    """One block of the JSON summary as HTML: a key/value table (nested keys dotted), lists of
    records as tables of their own, long lists of numbers summarised.

    Example:
        >>> summary_block("spectrum", {"eigenvalues": [3.0, 1.0], "rank": 2.5})
        '<h3>spectrum</h3><div class="wrap"><table><tr><th>key</th><th>value</th></tr>...'
    """
    if _is_records(value):
        return f"<h3>{esc(name)}</h3>" + _records_table(value)
    rows: list[list[Any]] = []
    nested: list[tuple[str, Any]] = []
    _flatten(value, "" if isinstance(value, Mapping) else name, rows, nested)
    parts = [f"<h3>{esc(name)}</h3>"]
    if rows:
        parts.append(table(["key", "value"], rows))
    for key, records in nested:
        parts.append(f"<h4>{esc(name)}.{esc(key)}</h4>" + _records_table(records))
    return "".join(parts)


def summary_html(record: Mapping[str, Any]) -> str:
    """Every block of a token summary (:func:`summary_block`): the numbers first (top-level
    scalars in one table), then each block in record order, the provenance blocks
    (:data:`PROVENANCE_BLOCKS`) collapsed at the end."""
    scalars = [[k, v] for k, v in record.items() if not isinstance(v, Mapping | list)]
    scalars = [row for row in scalars if row[0] != "schema" and row[1] is not None]
    parts = [table(["key", "value"], scalars)] if scalars else []
    for key, value in record.items():
        if key not in PROVENANCE_BLOCKS and isinstance(value, Mapping | list) and value:
            parts.append(summary_block(key, value))
    provenance = "".join(
        summary_block(key, record[key]) for key in PROVENANCE_BLOCKS if record.get(key)
    )
    if provenance:
        parts.append(details("provenance: " + ", ".join(PROVENANCE_BLOCKS), provenance))
    return "".join(parts)


# ----------------------------------------------------------------------------- the figures


Drawn = list[tuple[str, bytes, str]]  # (figure id, PNG bytes, caption)


def page_figures(token_table: TokenTable, *, spectrum: bool = True) -> Drawn:
    """``(id, PNG, caption)`` of the page's figures: with counts, interference and row norm
    against frequency; with an under-trained indicator, its histograms with the reference rows
    marked; with a ``spectrum`` block, the eigenvalue density against Marchenko–Pastur.

    Example:
        >>> page_figures(TokenTable._build({"n_rows": 1}, table={"id": np.arange(1)}))
        []
    """
    from ..geometry.plot import PNG_DPI
    from ..plotting import png_bytes

    out = []
    if "count" in token_table.table:
        from ..geometry.token_plot import plot_token_frequency

        fig = plot_token_frequency(token_table)
        caption = "Interference and row norm of every token seen, against its count."
        out.append(("frequency", _png(fig, png_bytes, PNG_DPI), caption))
    record = token_table.to_dict()
    if (record.get("undertrained") or {}).get("ranked_by"):
        from ..geometry.undertrained_plot import plot_undertrained

        caption = (
            "The under-trained indicators (Land & Bartolo 2024): the reference rows marked, the "
            "candidates' threshold drawn; low = under-trained."
        )
        fig = plot_undertrained(token_table)
        out.append(("undertrained", _png(fig, png_bytes, PNG_DPI), caption))
    block, used = record.get("spectrum"), record.get("n_rows_used")
    if spectrum and block and used and record.get("m"):
        from ..geometry.result_parts import Spectrum
        from ..geometry.spectrum_plot import plot_spectrum

        eigen = Spectrum.from_record(block, {"n_rows_used": used, "m": record["m"]})
        caption = (
            "The eigenvalues of ŴᵀŴ (the unit rows' Gram matrix) against the Marchenko–Pastur "
            "law of as many random unit rows."
        )
        out.append(("spectrum", _png(plot_spectrum(eigen), png_bytes, PNG_DPI), caption))
    return out


def _png(fig: Any, png_bytes: Any, dpi: int) -> bytes:
    import matplotlib.pyplot as plt

    try:
        return bytes(png_bytes(fig, dpi))
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- the page

TOKENS_SECTION = """
<div id="token-controls">
<input type="search" id="token-search" placeholder="search: part of a token's string, or an id"
 aria-label="search the tokens">
<label><input type="checkbox" id="token-whole"> whole string</label>
<button type="button" id="token-prev">&larr; previous</button>
<button type="button" id="token-next">next &rarr;</button>
</div>
<div id="token-views"></div>
<p id="token-status"></p>
<div class="wrap"><table id="token-table"><thead><tr></tr></thead><tbody></tbody></table></div>
"""


def token_page_html(
    token_table: TokenTable, *, figures: bool | Drawn = True, table_file: str | None = None
) -> str:
    """The whole page of ``token_table`` (see the module docstring); ``figures=False`` leaves
    the figures out, a list of :func:`page_figures`' drawings is used as drawn; ``table_file``:
    the name of the table's file, for the intro (default: the one the summary names, if any)."""
    record = token_table.to_dict()
    interference = record.get("interference") or {}
    table_file = table_file or (record.get("files") or {}).get("table")
    intro = [
        f"{token_table.n_rows:,} tokens × {token_table.m} of {token_table.name}; mean "
        f"interference (mean cos² with the other tokens) {_plain(interference.get('mean'))}.",
        f"Numbers on this page have {DIGITS} significant digits"
        + (f"; the full table is {table_file}." if table_file else "."),
    ]
    table_html = (
        TOKENS_SECTION
        + f'<script type="application/json" id="token-data">{data_json(token_table)}</script>'
    )
    drawn = page_figures(token_table) if figures is True else list(figures or [])
    figures_html = "".join(figure(fid, png, caption) for fid, png, caption in drawn)
    sections = [
        ("tokens", "Tokens", table_html),
        ("figures", "Figures", figures_html or "<p>No figures (counts give the frequency "
                                                "plots; the spectrum needs its block).</p>"),
        ("summary", "Summary", summary_html(record)),
    ]  # fmt: skip
    page = Page(
        title=f"llmgeom tokens: {token_table.name}",
        intro=intro,
        sections=sections,
        style=STYLE,
        script=SCRIPT,
    )
    return render_page(page)


def write_token_page(
    token_table: TokenTable | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    figures: bool | Drawn = True,
    table_file: str | None = None,
) -> Path:
    """Write ``NAME.tokens.html`` (the name of the table's files: several models share a folder)
    into ``out_dir`` atomically and return its path. ``token_table``: a
    :class:`~llmgeom.records.token_table.TokenTable` or the path of a saved ``NAME.tokens.json``
    (read with :meth:`~llmgeom.records.token_table.TokenTable.load`; ``out_dir`` defaults to its
    folder); ``table_file`` as :func:`token_page_html`.

    Example:
        >>> t = TokenTable._build({"model": {"name": "toy"}, "n_rows": 1},
        ...                       table={"id": np.arange(1)})
        >>> write_token_page(t, "pages", figures=False).as_posix()
        'pages/toy.tokens.html'
    """
    from .._atomic import atomic_path

    if not isinstance(token_table, TokenTable):
        path = Path(token_table)
        token_table = TokenTable.load(path)
        out_dir = path.parent if out_dir is None else out_dir
    if out_dir is None:
        from ..errors import ConfigError

        raise ConfigError("out_dir is needed for a token table in memory", parameter="out_dir")
    target = Path(out_dir) / token_table.file_names()["page"]
    text = token_page_html(token_table, figures=figures, table_file=table_file)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
