"""The on-disk formats as JSON Schema files (``llmgeom/records/schemas/*.json``, read with
:mod:`importlib.resources`) and :func:`check_schema`, the one validator of every record.

A problem is one line naming the file, the record's kind and the JSON path of the field:
``r.json: malformed llmgeom measurement: stats.m = True is not an integer``.

Example:
    >>> sorted(SCHEMA_FILES)[:2]
    ['llmgeom.fit.chinchilla/1', 'llmgeom.fit.chinchilla/2']
    >>> schema_document("llmgeom.loss/1")["required"]
    ['schema', 'model', 'corpus', 'loss']
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from ..errors import ConfigError, LlmgeomError

#: Schema name -> its JSON Schema file in ``llmgeom/records/schemas``.
SCHEMA_FILES = {
    "llmgeom.measurement/1": "measurement-1.json",
    "llmgeom.measurement/2": "measurement-2.json",
    "llmgeom.loss/1": "loss-1.json",
    "llmgeom.freq/1": "freq-1.json",
    "llmgeom.tokens/1": "tokens-1.json",
    "llmgeom.toy.result/2": "toy-result-2.json",
    "llmgeom.fit.overlap/1": "fit-overlap-1.json",
    "llmgeom.fit.overlap/2": "fit-overlap-2.json",
    "llmgeom.fit.width_loss/1": "fit-width-loss-1.json",
    "llmgeom.fit.width_loss/2": "fit-width-loss-2.json",
    "llmgeom.fit.chinchilla/1": "fit-chinchilla-1.json",
    "llmgeom.fit.chinchilla/2": "fit-chinchilla-2.json",
}

_KIND_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true/false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def schema_document(schema: str) -> dict[str, Any]:
    """The JSON Schema (a dict) of the records named ``schema``, e.g. ``llmgeom.loss/1``."""
    return json.loads(_schema_text(schema))


@functools.cache
def _schema_text(schema: str) -> str:
    if schema not in SCHEMA_FILES:
        raise ConfigError(f"no JSON Schema for {schema!r}")
    return resources.files(__package__).joinpath("schemas", SCHEMA_FILES[schema]).read_text()


@functools.cache
def _validator(schema: str) -> Any:
    import jsonschema

    document = schema_document(schema)
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)
    return cls(document)


def _dotted(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _describe(error: Any) -> str:
    """One jsonschema error as ``<json path> is missing`` / ``<path> = <value> is not ...``."""
    where = _dotted(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"{_dotted([*error.absolute_path, missing[0]])} is missing"
    if error.validator == "type":
        kinds = (
            error.validator_value
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        wanted = " or ".join(_KIND_NAMES.get(str(k), str(k)) for k in kinds)
        return f"{where or 'the document'} = {error.instance!r:.60} is not {wanted}"
    return f"{where or 'the document'}: {error.message:.120}"


def check_schema(
    record: Any,
    schema: str,
    where: str,
    what: str,
    error: type[LlmgeomError] = ConfigError,
) -> dict[str, Any]:
    """``record`` checked against the JSON Schema of ``schema``; returned unchanged.

    ``where`` names the file and ``what`` the kind of record in the one-line ``error``.

    Example:
        >>> check_schema({"schema": "llmgeom.loss/1", "model": {}, "corpus": {},
        ...               "loss": {"loss": "high"}}, "llmgeom.loss/1", "x.json", "loss")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: x.json: malformed loss: loss.loss = 'high' is not a number
    """
    errors = list(_validator(schema).iter_errors(record))
    if errors:
        order = list(schema_document(schema).get("properties", {}))

        def first(e: Any) -> tuple[int, int]:  # in the schema's order of blocks, shallowest
            top = e.absolute_path[0] if e.absolute_path else None
            return order.index(top) if top in order else -1, len(e.absolute_path)

        raise error(f"{where}: malformed {what}: {_describe(min(errors, key=first))}")
    return record
