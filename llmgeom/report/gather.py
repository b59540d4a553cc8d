"""Find and read every llmgeom result under a folder, each through the module owning its schema.

Recognised (recursively; the report's own output folder excluded):

* measurement records ``llmgeom.measurement/2`` (and /1, migrated:
  :func:`llmgeom.records.measurement.load_record`);
* loss records ``llmgeom.loss/1`` (:func:`llmgeom.text.loss.load_loss_record`) and loss tables
  ``losses.csv`` (:func:`llmgeom.fits.io.read_loss_table`);
* token-frequency records ``llmgeom.freq/1`` (:func:`llmgeom.text.freq.load_freq_record`) with
  their counts ``.npz`` (:func:`llmgeom.geometry.weights.load_counts`);
* fit results of ``llmgeom fit`` (:func:`llmgeom.fits.io.load_fit`);
* toy-model results (:func:`llmgeom.toy.report.load_result`);
* ``sweep-status.json`` of ``llmgeom sweep``;
* token summaries ``llmgeom.tokens/1`` (``NAME.tokens.json`` of ``llmgeom tokens``) with their
  pages ``NAME.tokens.html`` beside them, which the report links (a page without its summary
  is linked too).

Anything else is *skipped* with the reason (figures, model files, foreign JSON...); a file of
ours that cannot be read is *corrupt* with its one-line error. Neither stops the report. When a
model (or a model on a corpus) was measured twice under the same settings, the newer record is
used and the older one is listed as skipped.

Example:
    >>> import torch
    >>> from llmgeom.geometry.measurement import measure
    >>> from llmgeom.records.measurement import write_record
    >>> _ = write_record(measure(torch.eye(6, 3), pairs="gram").to_dict(), "res")
    >>> _ = open("res/notes.txt", "w").write("hello")
    >>> found = gather("res")
    >>> [item.rel for item in found.measurements], found.skipped
    (['_array_.raw.json'], [('notes.txt', 'not an llmgeom result')])
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import interrupted_write, parse_json
from ..errors import ConfigError, LlmgeomError, SourceNotFoundError, one_line
from ..records.measurement_format import SCHEMA as MEASUREMENT
from ..records.measurement_format import SCHEMA_V1 as MEASUREMENT_V1
from ..records.token_table import SCHEMA as TOKENS
from ..text.freq_record import SCHEMA as FREQ
from ..text.loss_record import SCHEMA as LOSS

STEP_REVISION = re.compile(r"^step(\d+)$")
#: How the reason a temporary file of a write is skipped begins (the CLI shows them).
TEMPORARY = "temporary file of a write"


@dataclass
class Item:
    """One result file: where it is (``path``; ``rel`` to the results folder), what it is
    (``kind``: measure, loss, loss_table, freq, fit, toy, sweep, tokens) and its content
    (``data``). ``extra`` holds what came with it (a freq record's counts, a token summary's
    ``page``)."""

    path: Path
    rel: str
    kind: str
    data: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def created(self) -> str:
        """The record's ``created`` time stamp ('' when it has none)."""
        return str(self.data.get("created") or "") if isinstance(self.data, dict) else ""


@dataclass
class Gathered:
    """Everything found under a results folder, by kind; ``skipped`` and ``corrupt`` are
    ``(relative path, reason)`` pairs."""

    root: Path
    measurements: list[Item] = field(default_factory=list)
    losses: list[Item] = field(default_factory=list)
    loss_tables: list[Item] = field(default_factory=list)
    freqs: list[Item] = field(default_factory=list)
    fits: list[Item] = field(default_factory=list)
    toys: list[Item] = field(default_factory=list)
    sweeps: list[Item] = field(default_factory=list)
    tokens: list[Item] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)

    def items(self) -> list[Item]:
        """Every result used, in a stable order."""
        return [
            *self.measurements,
            *self.losses,
            *self.loss_tables,
            *self.freqs,
            *self.fits,
            *self.toys,
            *self.sweeps,
            *self.tokens,
        ]

    @property
    def empty(self) -> bool:
        """True when no result at all was found."""
        return not self.items()

    def freq_for_counts(self, sha256: str | None) -> Item | None:
        """The freq record whose counts file has this checksum (a weighted measurement's
        ``counts_sha256``), or None."""
        for item in self.freqs:
            counts = item.extra.get("counts")
            if sha256 and counts is not None and counts.sha256 == sha256:
                return item
        return None

    def counts(self) -> dict[str, int]:
        """How many results of each kind (for a one-line summary).

        Example:
            >>> Gathered(Path(".")).counts()["measurements"]
            0
        """
        return {
            "measurements": len(self.measurements),
            "losses": len(self.losses),
            "loss tables": len(self.loss_tables),
            "freq": len(self.freqs),
            "fits": len(self.fits),
            "toy": len(self.toys),
            "sweep status": len(self.sweeps),
            "token tables": len(self.tokens),
            "skipped": len(self.skipped),
            "corrupt": len(self.corrupt),
        }


# ------------------------------------------------------------------------- naming records


def measure_model(record: dict[str, Any]) -> str:
    """The model's name in a measurement record: the name the user gave, else the repo id (or
    the source's last part), with ``@revision`` when one was measured.

    Example:
        >>> measure_model({"model": {"source": "x/models/gpt2-w16", "repo_id": None}})
        'gpt2-w16'
        >>> measure_model({"model": {"source": "p", "repo_id": "org/p", "revision": "step1"}})
        'org/p@step1'
    """
    from ..records.measurement import model_label

    model = record["model"]
    name = model_label(model)
    return f"{name}@{model['revision']}" if model.get("revision") else name


def loss_model(record: dict[str, Any]) -> str:
    """The model's name in a loss record (as ``losses.csv`` names it), with ``@revision``.

    Example:
        >>> loss_model({"model": {"name": "gpt2-w16", "revision": None}})
        'gpt2-w16'
    """
    model = record["model"]
    name = (
        model.get("label")  # a sweep's [[models]] name
        or model.get("repo_id")
        or model.get("name")
        or Path(str(model.get("source"))).name
    )
    return f"{name}@{model['revision']}" if model.get("revision") else str(name)


def step_of(record: dict[str, Any]) -> int | None:
    """The training step of a measurement of a ``stepN`` revision (Pythia's checkpoints).

    Example:
        >>> step_of({"model": {"revision": "step1000"}}), step_of({"model": {"revision": "main"}})
        (1000, None)
    """
    match = STEP_REVISION.match(str(record["model"].get("revision") or ""))
    return int(match.group(1)) if match else None


def settings_key(record: dict[str, Any]) -> tuple:
    """The analysis settings under which measurements compare (rows rule, centring, weights:
    :func:`llmgeom.records.measurement.analysis_settings`), as a tuple. A ``weighted`` block does
    not change them: it is reported beside the plain statistics of the same record.

    Example:
        >>> settings_key({"variant": {"rows": "all", "center": False}})
        ('all', False, None, False)
    """
    from ..records.measurement import analysis_settings

    return tuple(analysis_settings(record).values())


# ------------------------------------------------------------------------------ reading


def _schema_of(path: Path) -> tuple[Any, str | None]:
    """``(parsed JSON, None)`` or ``(None, reason it is unreadable)``."""
    try:
        return parse_json(path.read_text(encoding="utf-8")), None
    except OSError as err:
        return None, f"unreadable ({err.strerror or err})"
    except ValueError as err:  # malformed, not UTF-8, nested too deep, a number too long
        return None, f"not valid JSON ({err})"


def _read_json(found: Gathered, path: Path, rel: str) -> str | None:
    """File the JSON at ``path``; returns a skip reason, or None when it was used (or corrupt)."""
    from ..sweep.engine import STATUS_FILE, STATUS_SCHEMA

    data, problem = _schema_of(path)
    if problem:
        found.corrupt.append((rel, problem))
        return None
    schema = data.get("schema") if isinstance(data, dict) else None
    try:
        if schema in (MEASUREMENT_V1, MEASUREMENT):
            from ..records.measurement import load_record

            found.measurements.append(Item(path, rel, "measure", load_record(path)))
        elif schema == LOSS:
            from ..text.loss import load_loss_record

            found.losses.append(Item(path, rel, "loss", load_loss_record(path)))
        elif schema == FREQ:
            from ..text.freq import load_freq_record

            found.freqs.append(Item(path, rel, "freq", load_freq_record(path)))
        elif isinstance(schema, str) and schema.startswith("llmgeom.fit."):
            from ..fits.io import load_fit

            found.fits.append(Item(path, rel, "fit", load_fit(path)))
        elif isinstance(schema, str) and schema.startswith("llmgeom.toy.result/"):
            from ..toy.report import load_result

            found.toys.append(Item(path, rel, "toy", load_result(path)))
        elif schema == TOKENS:
            from ..records.schema import check_schema

            record = check_schema(data, TOKENS, str(path), "token table summary")
            found.tokens.append(Item(path, rel, "tokens", record))
        elif schema == STATUS_SCHEMA or path.name == STATUS_FILE:
            found.sweeps.append(Item(path, rel, "sweep", _sweep_status(path, data)))
        else:
            return f"JSON of another kind (schema {schema!r})" if schema else "JSON without schema"
    except LlmgeomError as err:
        found.corrupt.append((rel, one_line(str(err))))
    return None


def _sweep_status(path: Path, data: Any) -> dict[str, Any]:
    """A sweep status as :func:`llmgeom.sweep.engine.load_status` accepts it (an object with a
    ``units`` list), each unit an object; else :class:`ConfigError`."""
    units = data.get("units") if isinstance(data, dict) else None
    if not isinstance(units, list) or not all(isinstance(u, dict) for u in units):
        raise ConfigError(f"{path}: not a sweep status (an object with a list of units)")
    return data


def _skip_reason(path: Path) -> str:
    name = path.name
    target = interrupted_write(name)
    if target is not None:
        return f"{TEMPORARY} of {target} (in progress, or cut short: then it may be deleted)"
    if name.startswith("."):
        return "hidden or temporary file"
    suffix = path.suffix.lower()
    if ".tokens." in name and suffix in (".parquet", ".csv", ".png"):
        return "part of a token table (read through its NAME.tokens.json and page)"
    if suffix in (".png", ".svg", ".pdf", ".jpg"):
        return "figure (the report draws its own from the data)"
    if name.endswith(".safetensors"):
        return "model weights (not needed by the report)"
    if suffix == ".csv":
        return "CSV table other than losses.csv"
    return "not an llmgeom result"


def _walk(root: Path, exclude: Iterable[Path]) -> list[Path]:
    excluded = [p.resolve() for p in exclude]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath).resolve()
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in excluded)
        out.extend(Path(dirpath) / f for f in sorted(filenames))
    return out


def _attach_counts(found: Gathered, npz: dict[Path, str]) -> None:
    """Read each freq record's counts file; counts files nobody references are skipped."""
    from ..geometry.weights import load_counts

    used: set[Path] = set()
    for item in found.freqs:
        name = item.data["files"].get("counts")
        if not name:
            item.extra["counts_problem"] = "the record names no counts file"
            continue
        path = (item.path.parent / str(name)).resolve()
        used.add(path)
        try:
            item.extra["counts"] = load_counts(path)
        except LlmgeomError as err:
            item.extra["counts_problem"] = one_line(str(err))
            if path in npz:
                found.corrupt.append((npz[path], one_line(str(err))))
    for path, rel in npz.items():
        if path not in used:
            found.skipped.append((rel, "token counts without their freq record"))


PAGE_SUFFIX = ".tokens.html"


def _attach_pages(found: Gathered, pages: dict[Path, str]) -> None:
    """Each token summary's page (``NAME.tokens.json`` -> ``NAME.tokens.html``) as its
    ``extra["page"]``; a page without a summary becomes a token item of its own (empty data)."""
    for item in found.tokens:
        page = item.path.with_name(item.path.name.removesuffix(".json") + ".html").resolve()
        if page in pages:
            item.extra["page"] = page
            del pages[page]
    for page, rel in sorted(pages.items(), key=lambda kv: kv[1]):
        found.tokens.append(Item(page, rel, "tokens", {}, {"page": page}))


def _newest(found: Gathered, items: list[Item], key: Any) -> list[Item]:
    """One item per ``key(item)``: the newest (``created``, then path); others skipped."""
    best: dict[Any, Item] = {}
    for item in items:
        k = key(item)
        if k not in best or (item.created, item.rel) > (best[k].created, best[k].rel):
            if k in best:
                found.skipped.append((best[k].rel, f"superseded by the newer {item.rel}"))
            best[k] = item
        else:
            found.skipped.append((item.rel, f"superseded by the newer {best[k].rel}"))
    return [item for item in items if best[key(item)] is item]


def gather(
    results_dir: str | os.PathLike[str], exclude: Iterable[str | os.PathLike[str]] = ()
) -> Gathered:
    """Read every result under ``results_dir`` (recursively), leaving out the ``exclude``
    folders; :class:`SourceNotFoundError` if the folder does not exist."""
    root = Path(results_dir)
    if not root.is_dir():
        raise SourceNotFoundError(
            f"no such folder: {root}" if not root.exists() else f"{root} is not a folder"
        )
    found = Gathered(root)
    npz: dict[Path, str] = {}
    pages: dict[Path, str] = {}
    for path in _walk(root, [Path(p) for p in exclude]):
        rel = path.relative_to(root).as_posix()
        if path.name.startswith("."):
            found.skipped.append((rel, _skip_reason(path)))
        elif path.suffix.lower() == ".json":
            reason = _read_json(found, path, rel)
            if reason:
                found.skipped.append((rel, reason))
        elif path.name == "losses.csv":
            from ..fits.io import read_loss_table

            try:
                found.loss_tables.append(Item(path, rel, "loss_table", read_loss_table(path)))
            except LlmgeomError as err:
                found.corrupt.append((rel, one_line(str(err))))
        elif path.name.endswith(".npz"):
            npz[path.resolve()] = rel
        elif path.name.endswith(PAGE_SUFFIX):
            pages[path.resolve()] = rel
        else:
            found.skipped.append((rel, _skip_reason(path)))
    _attach_counts(found, npz)
    _attach_pages(found, pages)
    found.measurements = _newest(
        found, found.measurements, lambda i: (measure_model(i.data), settings_key(i.data))
    )
    found.losses = _newest(
        found, found.losses, lambda i: (loss_model(i.data), str(i.data["corpus"].get("name")))
    )
    found.freqs = _newest(
        found,
        found.freqs,
        lambda i: (str(i.data["tokenizer"].get("name")), str(i.data["corpus"].get("name"))),
    )
    found.skipped.sort()
    found.corrupt.sort()
    return found
