"""The documents of one corpus file, exactly as :mod:`llmgeom.text.corpus` defines them:
``.txt`` lines and blank-line-separated documents, ``.jsonl`` and ``.parquet`` records (one
field of each), every byte checked to be UTF-8 (a one-line error naming the file and offset).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> txt = folder / "a.txt"
    >>> _ = txt.write_text("One line.\\nTwo lines.\\n\\nA second document.\\n")
    >>> list(txt_documents(txt))
    ['One line.\\nTwo lines.', 'A second document.']
    >>> jsonl = folder / "b.jsonl"
    >>> _ = jsonl.write_text('{"text": "first"}\\n\\n{"text": "second", "id": 2}\\n')
    >>> list(jsonl_records(jsonl, "text"))
    ['first', 'second']
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CorpusError, SourceNotFoundError

INSTALL_HINT = "pip install 'llmgeom[corpora]'"


def decode_utf8(raw: bytes, file: Path, offset: int) -> str:
    """``raw`` (read from ``file`` at byte ``offset``) as UTF-8 text, or a one-line
    :class:`~llmgeom.errors.CorpusError` naming the file and the offset of the bad byte.

    Example:
        >>> decode_utf8(b"ok\\xff", Path("x.txt"), 10)
        Traceback (most recent call last):
        ...
        llmgeom.errors.CorpusError: x.txt: not UTF-8 text: undecodable byte 0xff at byte offset 12
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{file}: not UTF-8 text: undecodable byte 0x{raw[err.start]:02x} at byte offset "
            f"{offset + err.start}"
        ) from None


def txt_lines(file: Path) -> Iterator[str]:
    """Each line of a UTF-8 text file, without its ending (and without a leading byte-order
    mark).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = p.write_bytes(b"\\xef\\xbb\\xbfone\\r\\ntwo")
        >>> list(txt_lines(p))
        ['one', 'two']
    """
    offset = 0
    with _open_binary(file) as fh:
        for raw in fh:
            line = decode_utf8(raw, file, offset)
            if offset == 0 and line.startswith("\ufeff"):  # a byte-order mark is no text
                line = line[1:]
            offset += len(raw)
            yield line.removesuffix("\n").removesuffix("\r")


def txt_documents(file: Path) -> Iterator[str]:
    """The maximal runs of non-blank lines of ``file``, each joined with ``"\\n"`` (see the
    module example)."""
    block: list[str] = []
    for line in txt_lines(file):
        if line.strip():
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)


def _open_binary(file: Path) -> Any:
    try:
        return file.open("rb")
    except FileNotFoundError:
        raise SourceNotFoundError(f"corpus file disappeared: {file}") from None
    except PermissionError:
        raise CorpusError(f"{file}: not readable (permission denied)") from None


def field_value(record: Any, field: str, where: str) -> str:
    """The text of ``record[field]`` (``""`` for a null), or a one-line error naming ``where``.

    Example:
        >>> field_value({"text": None}, "text", "f.jsonl: record 1")
        ''
        >>> field_value({"body": "x"}, "text", "f.jsonl: record 1")
        Traceback (most recent call last):
        ...
        llmgeom.errors.CorpusError: f.jsonl: record 1: no field 'text' (fields: body); \
choose one with text_field=NAME
    """
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: not a JSON object")
    if field not in record:
        fields = ", ".join(sorted(map(str, record))) or "none"
        raise CorpusError(
            f"{where}: no field {field!r} (fields: {fields}); choose one with text_field=NAME",
            parameter="text_field",
        )
    value = record[field]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CorpusError(f"{where}: field {field!r} is {type(value).__name__}, not text")
    return value


def jsonl_records(file: Path, field: str) -> Iterator[str]:
    """The ``field`` of each JSON object of ``file``, one per non-blank line (see the module
    example)."""
    offset = 0
    with _open_binary(file) as fh:
        for number, raw in enumerate(fh, start=1):
            line = decode_utf8(raw, file, offset)
            offset += len(raw)
            if not line.strip():
                continue
            where = f"{file}: record {number} (line {number})"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(f"{where}: not valid JSON ({err.msg})") from None
            yield field_value(record, field, where)


def parquet_records(file: Path, field: str) -> Iterator[str]:
    """The text column ``field`` of a parquet file, row by row (a null: ``""``); needs pyarrow.

    Example:
        >>> import tempfile, pathlib
        >>> import pyarrow as pa, pyarrow.parquet as pq
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.parquet"
        >>> pq.write_table(pa.table({"text": ["one", None, "two"]}), p)
        >>> list(parquet_records(p, "text"))
        ['one', '', 'two']
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CorpusError(f"{file}: reading .parquet needs pyarrow: {INSTALL_HINT}") from None
    try:
        reader = pq.ParquetFile(file)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError... for a bad file
        raise CorpusError(f"{file}: not a readable parquet file ({err})") from None
    names = reader.schema_arrow.names
    if field not in names:
        raise CorpusError(
            f"{file}: record 1: no field {field!r} (columns: {', '.join(names) or 'none'}); "
            "choose one with text_field=NAME",
            parameter="text_field",
        )
    kind = str(reader.schema_arrow.field(field).type)
    if kind not in ("string", "large_string", "string_view"):
        raise CorpusError(f"{file}: column {field!r} is {kind}, not text")
    for batch in reader.iter_batches(columns=[field], batch_size=4096):
        for value in batch.column(0).to_pylist():
            yield value or ""  # a null is an empty document
