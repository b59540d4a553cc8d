"""Structure-aware mutations of TOML and JSON files for the config and record fuzz targets
(issue 19).

A document is parsed (:mod:`tomllib`, :func:`json.loads`), edited by a list of *structural
operations* (plain data: ``["set", path, kind]``, ``["drop", path]``, ``["rename", path, key]``,
``["dup", path]``, ``["wrap", path, k]``, ``["deep", path, depth]``, ``["copy", path, other]``)
and written back (:func:`dump_toml`: every table inline, so any value, however nested, has one
line; :func:`dump_json`). A mutated seed is named ``<seed>~<operations as JSON>``
(:func:`variant_name`), so a failing input the campaign keeps replays from its name alone
(:func:`build_seed`); the seed's suffix (``.toml``, ``.json``) says its format.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import random
import tomllib
from collections.abc import Callable
from typing import Any

Path_ = list[Any]  # keys and indices from the document's root
StructOp = list[Any]

#: what a value may be replaced by: other types, extreme numbers, odd strings, deep nesting
REPLACEMENTS: dict[str, Callable[[], Any]] = {
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "-inf": lambda: -math.inf,
    "zero": lambda: 0,
    "neg": lambda: -1,
    "half": lambda: 0.5,
    "neg-zero": lambda: -0.0,
    "tiny": lambda: 5e-324,
    "2^31": lambda: 2**31,
    "2^53+1": lambda: 2**53 + 1,
    "2^63": lambda: 2**63 - 1,
    "huge": lambda: 10**40,
    "-huge": lambda: -(10**40),
    "huge-400": lambda: 10**400,  # beyond a float
    "-huge-400": lambda: -(10**400),
    "float-huge": lambda: 1.7e308,
    "true": lambda: True,
    "false": lambda: False,
    "empty": lambda: "",
    "space": lambda: "   ",
    "long": lambda: "x" * 100_000,
    "long-path": lambda: "./" + "a" * 5000,
    "nul": lambda: "a\x00b",
    "newline": lambda: "a\nb",
    "unicode": lambda: "é\u2028\U0001f600",
    "numeric-str": lambda: "12",
    "float-str": lambda: "nan",
    "dotdot": lambda: "../../..",
    "slash": lambda: "/",
    "hf": lambda: "hf:",
    "at": lambda: "gpt2@",
    "date": lambda: dt.date(1979, 5, 27),
    "datetime": lambda: dt.datetime(1979, 5, 27, 7, 32, tzinfo=dt.UTC),
    "local-datetime": lambda: dt.datetime(1979, 5, 27, 7, 32, 0, 999999),
    "time": lambda: dt.time(7, 32),
    "empty-list": lambda: [],
    "int-list": lambda: [1, 2, 3],
    "str-list": lambda: ["a", "b"],
    "mixed-list": lambda: [1, "a", 2.5, True],
    "nested-list": lambda: [[1, 2], [3]],
    "empty-table": lambda: {},
    "table": lambda: {"a": 1},
    "table-list": lambda: [{"a": 1}, {}],
    "long-list": lambda: list(range(20_000)),
}


class Raw:
    """A JSON token written as it is (a number no float holds, one with 5000 digits)."""

    def __init__(self, text: str) -> None:
        self.text = text


#: what a value of a JSON record may be replaced by (no dates: JSON has none)
JSON_REPLACEMENTS: dict[str, Callable[[], Any]] = {
    **{k: v for k, v in REPLACEMENTS.items() if "date" not in k and k != "time"},
    "null": lambda: None,
    "1e309": lambda: Raw("1e309"),
    "-1e309": lambda: Raw("-1e309"),
    "5000-digits": lambda: Raw("9" * 5000),
    "neg-exp": lambda: Raw("1e-400"),
    "schema-measure-2": lambda: "llmgeom.measurement/2",
    "schema-measure-1": lambda: "llmgeom.measurement/1",
    "schema-loss": lambda: "llmgeom.loss/1",
    "schema-freq": lambda: "llmgeom.freq/1",
    "schema-fit": lambda: "llmgeom.fit.overlap/2",
    "schema-fit-1": lambda: "llmgeom.fit.width_loss/1",
    "schema-toy": lambda: "llmgeom.toy.result/2",
    "schema-tokens": lambda: "llmgeom.tokens/1",
    "schema-unknown": lambda: "llmgeom.measurement/99",
}
#: keys a renamed key becomes (known keys of other tables, typos, odd names)
KEY_NAMES = (
    "models", "measure", "loss", "freq", "toy", "out", "runs", "gamma", "alpha", "m", "n",
    "seeds", "source", "name", "revision", "family", "corpora", "tokenizers", "pairs",
    "weights", "samples", "executor", "jobs", "address", "progress", "extra", "schema", "",
    "stats", "variant", "created", "mean_cos2", "head_width", "points", "loss", "files",
    " ", "modles", "é", "a.b", "__class__", "x" * 300,
)  # fmt: skip


def dump_toml(data: dict[str, Any]) -> str:
    """``data`` as TOML text, every table inline (``tomllib.loads`` gives ``data`` back).

    Example:
        >>> text = dump_toml({"a": [1, {"b": float("nan")}], "c d": "é\\x7f"})
        >>> text
        'a = [1, {b = nan}]\\n"c d" = "é\\\\u007f"\\n'
        >>> tomllib.loads(text)["c d"] == "é\\x7f"
        True
    """
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in data.items())


def _string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)  # escapes " \\ and control characters
    return out.replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _string(key)


class Deep:
    """``value`` inside ``depth`` arrays (odd) or tables (even): written without recursion, so
    that a nesting deeper than Python's recursion limit can be written."""

    def __init__(self, value: Any, depth: int) -> None:
        self.value, self.depth = value, depth

    def text(self) -> str:
        inner = _value(self.value)
        if self.depth % 2:
            return "[" * self.depth + inner + "]" * self.depth
        return "{a = " * self.depth + inner + "}" * self.depth


def dump_json(data: Any) -> str:
    """``data`` as JSON text (NaN and infinities as Python writes them; :class:`Deep` and
    :class:`Raw` values as they say).

    Example:
        >>> dump_json({"a": [1.5, Deep(0, 3)], "b": Raw("1e309")})
        '{"a": [1.5, [[[0]]]], "b": 1e309}'
    """
    if isinstance(data, Raw):
        return data.text
    if isinstance(data, Deep):
        inner = dump_json(data.value)
        if data.depth % 2:
            return "[" * data.depth + inner + "]" * data.depth
        return '{"a": ' * data.depth + inner + "}" * data.depth
    if isinstance(data, list):
        return "[" + ", ".join(dump_json(v) for v in data) + "]"
    if isinstance(data, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump_json(v)}" for k, v in data.items()) + "}"
    return json.dumps(data, allow_nan=True)


def _value(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        return value.text()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # 'inf', '-inf', '1e+300', '0.5'
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a TOML value: {value!r}")


def paths_of(data: Any, prefix: Path_ | None = None) -> list[Path_]:
    """Every path to a value inside ``data`` (tables' keys, arrays' indices), root excluded."""
    prefix = prefix or []
    out: list[Path_] = []
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        out.append([*prefix, key])
        out.extend(paths_of(value, [*prefix, key]))
    return out


def _parent(data: Any, path: Path_) -> tuple[Any, Any] | None:
    node = data
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict) and path[-1] in node:
        return node, path[-1]
    if isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        return node, path[-1]
    return None


def apply_struct(
    data: dict[str, Any], ops: list[StructOp], json_doc: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """``data`` edited by ``ops`` and the extra TOML lines of ``dup`` (a key written twice; in
    JSON, where the last of two equal keys wins, ``dup`` puts the value before the key)."""
    replacements = JSON_REPLACEMENTS if json_doc else REPLACEMENTS
    extra: list[str] = []
    for op in ops:
        name, path = op[0], op[1]
        if not path:
            continue
        found = _parent(data, path)
        if found is None:
            continue
        node, key = found
        if name == "set":
            node[key] = replacements[op[2]]()
        elif name == "drop":
            del node[key]
        elif name == "rename" and isinstance(node, dict):
            value = node.pop(key)
            node[op[2]] = value
        elif name == "dup" and json_doc and isinstance(node, dict):  # the key moved last
            node[key] = node.pop(key)
        elif name == "dup":  # the same key again, as a dotted key: TOML forbids it
            if all(isinstance(k, str) for k in path):
                dotted = ".".join(_key(k) for k in path)
                extra.append(f"{dotted} = {_value(node[key])}")
        elif name == "wrap":
            node[key] = [node[key]] if op[2] % 2 else {"value": node[key]}
        elif name == "deep":
            node[key] = Deep(node[key], op[2])
        elif name == "copy":  # another key's value here (a value of the wrong field)
            other = _parent(data, op[2])
            if other is not None:
                node[key] = copy.deepcopy(other[0][other[1]])
    return data, extra


def mutate_text(text: str, ops: list[StructOp], json_doc: bool = False) -> str:
    """The TOML (or JSON) ``text`` parsed, edited by ``ops`` and written back (``text`` itself
    when it does not parse)."""
    try:
        data = json.loads(text) if json_doc else tomllib.loads(text)
    except (RecursionError, ValueError):
        return text
    if json_doc:
        wrapper, _ = apply_struct({"": data}, [[o[0], ["", *o[1]], *o[2:]] for o in ops], True)
        return dump_json(wrapper[""])
    data, extra = apply_struct(data, ops)
    return dump_toml(data) + "".join(line + "\n" for line in extra)


def random_struct_ops(
    rng: random.Random, data: Any, max_ops: int = 3, json_doc: bool = False
) -> list[StructOp]:
    """1..``max_ops`` structural operations on paths that exist in ``data``."""
    replacements = JSON_REPLACEMENTS if json_doc else REPLACEMENTS
    paths = paths_of(data) or [["x"]]
    ops: list[StructOp] = []
    for _ in range(rng.randint(1, max_ops)):
        path = rng.choice(paths)
        kind = rng.choices(
            ["set", "drop", "rename", "dup", "wrap", "deep", "copy"], [8, 2, 2, 1, 1, 1, 1]
        )[0]
        if kind == "set":
            ops.append(["set", path, rng.choice(sorted(replacements))])
        elif kind == "rename":
            ops.append(["rename", path, rng.choice(KEY_NAMES)])
        elif kind == "deep":
            ops.append(["deep", path, rng.choice([2, 3, 40, 41, 400, 401, 3000, 3001])])
        elif kind == "wrap":
            ops.append(["wrap", path, rng.randrange(2)])
        elif kind == "copy":
            ops.append(["copy", path, rng.choice(paths)])
        else:
            ops.append([kind, path])
    return ops


SEPARATOR = "~"


def variant_name(seed: str, ops: list[StructOp]) -> str:
    """The name of ``seed`` mutated by ``ops`` (replayable: :func:`build_seed`)."""
    return f"{seed}{SEPARATOR}{json.dumps(ops, separators=(',', ':'))}"


def build_seed(name: str, bases: dict[str, bytes]) -> bytes:
    """The bytes of the seed named ``name``: a base seed, or a base seed's variant."""
    seed, _, ops = name.partition(SEPARATOR)
    data = bases[seed]
    if not ops:
        return data
    text = mutate_text(data.decode("utf-8"), json.loads(ops), seed.endswith(".json"))
    return text.encode("utf-8")


def with_variants(bases: dict[str, bytes], per_base: int, seed: int = 0) -> dict[str, bytes]:
    """``bases`` and ``per_base`` structurally mutated variants of each (drawn from ``seed``)."""
    out = dict(bases)
    for name, data in sorted(bases.items()):
        rng = random.Random(f"{seed}-{name}")
        json_doc = name.endswith(".json")
        text = data.decode("utf-8")
        parsed = json.loads(text) if json_doc else tomllib.loads(text)
        for _ in range(per_base):
            vname = variant_name(name, random_struct_ops(rng, parsed, json_doc=json_doc))
            out[vname] = build_seed(vname, bases)
    return out
