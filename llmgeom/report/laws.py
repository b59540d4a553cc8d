"""The points of the width figures and the laws drawn through them (read from ``llmgeom fit``
results when present, else fitted here with :mod:`llmgeom.fits`).

* Overlap vs width: one measurement per model, all under one analysis setting (the paper's:
  every row, no centring, no weights, when present; else the most common setting), training
  checkpoints (``stepN`` revisions) left out. The law ``ln mean cos² = a_family − s ln m`` is
  read from an overlap fit result (the one on head widths with the most points), or fitted here
  (:class:`llmgeom.fits.OverlapLaw`, 1000 bootstrap replicates, seed 0).
* Loss vs width: one loss per (model, corpus) from the loss records, plus rows of ``losses.csv``
  tables that no record covers; ``m`` = d_model as in ``losses.csv`` (OPT-350m: 1024). The law
  ``L = C/m^α + L0(family, corpus)`` is read from a width-loss fit result (least squares first,
  then the most points), or fitted here (:class:`llmgeom.fits.WidthLossLaw`, least squares,
  200 bootstrap replicates, seed 0).

Example:
    >>> law = Law(None, "", "too few points")
    >>> law.ok, law.note
    (False, 'too few points')
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import FitError
from ..fits.migration import OVERLAP, WIDTH_LOSS
from ..records.measurement import ANALYSIS_SETTINGS
from .gather import Gathered, Item, loss_model, measure_model, settings_key, step_of

PAPER_SETTING = tuple(ANALYSIS_SETTINGS.values())  # every row, no centring, no weights
OVERLAP_BOOTSTRAP = 1000
LOSS_BOOTSTRAP = 200


@dataclass
class Law:
    """A fitted law as its JSON dictionary (``data``), where it came from (``origin``: a file
    relative to the results folder, or how it was fitted here) and, without a fit, why."""

    data: dict[str, Any] | None
    origin: str
    note: str = ""

    @property
    def ok(self) -> bool:
        """Whether there is a fit to draw."""
        return self.data is not None

    @cached_property
    def fitted(self) -> Any:
        """The law object (:class:`~llmgeom.fits.OverlapLaw` or
        :class:`~llmgeom.fits.WidthLossLaw`) rebuilt from ``data`` by its ``from_dict``, whose
        ``predict`` draws the lines; None without a fit or where ``data`` cannot be read back.

        Example:
            >>> from llmgeom.fits import ChinchillaCheck, WidthLossLaw
            >>> from llmgeom.paper.published import paper_implied_losses
            >>> t = paper_implied_losses()
            >>> fit = WidthLossLaw().fit(t.m, t.loss, family=t.family, corpus=t.corpus)
            >>> law = Law(fit.to_dict(), "test").fitted
            >>> bool(law.predict(1024.0, "gpt2", "c4") == fit.predict(1024.0, "gpt2", "c4"))
            True
            >>> Law(ChinchillaCheck().fit().to_dict(), "test").fitted is None  # not drawn here
            True
        """
        from ..fits import OverlapLaw, WidthLossLaw

        kinds: dict[str, Any] = {OVERLAP: OverlapLaw, WIDTH_LOSS: WidthLossLaw}
        kind = kinds.get(str((self.data or {}).get("schema")))
        if kind is None or self.data is None:
            return None
        try:
            return kind.from_dict(self.data)
        except FitError:
            return None


def describe_setting(key: tuple) -> str:
    """Words for a settings key of :func:`llmgeom.report.gather.settings_key`.

    Example:
        >>> describe_setting(("all", False, None, True))
        'rows=all, center=False, unweighted, folded norm'
    """
    rows, center, weights, *folded = key
    text = f"rows={rows}, center={center}, " + ("unweighted" if weights is None else weights)
    return text + (", folded norm" if any(folded) else "")


def width_measurements(found: Gathered) -> tuple[list[Item], tuple | None]:
    """The measurements for the width figures and their common setting (None if none)."""
    usable = [i for i in found.measurements if step_of(i.data) is None]
    if not usable:
        return [], None
    groups = Counter(settings_key(i.data) for i in usable)
    key = PAPER_SETTING if PAPER_SETTING in groups else groups.most_common(1)[0][0]
    return [i for i in usable if settings_key(i.data) == key], key


def _pick(fits: list[Item], schema: str, prefer: Any) -> Item | None:
    candidates = [i for i in fits if i.data.get("schema") == schema]
    if not candidates:
        return None
    return max(candidates, key=lambda i: (prefer(i.data), len(i.data.get("points") or []), i.rel))


def overlap_law(found: Gathered, items: list[Item]) -> Law:
    """The overlap law to draw: read from a fit result, else fitted to ``items``."""
    picked = _pick(found.fits, OVERLAP, lambda d: d.get("width", "head") == "head")
    if picked is not None:
        return Law(picked.data, picked.rel)
    if not items:
        return Law(None, "", "no measurements")
    from ..fits import OverlapLaw
    from ..fits.io import family_group

    records = [i.data for i in items]
    try:
        law = OverlapLaw(n_bootstrap=OVERLAP_BOOTSTRAP, random_state=0).fit(
            [r["model"]["head_width"] for r in records],
            [r["stats"]["mean_cos2"] for r in records],
            family=[family_group(r["model"].get("family"), measure_model(r)) for r in records],
            models=[measure_model(r) for r in records],
        )
    except FitError as err:
        return Law(None, "", f"not fitted: {err}")
    origin = f"fitted by llmgeom report (head widths, {OVERLAP_BOOTSTRAP} bootstrap replicates)"
    return Law(law.to_dict() | {"width": "head"}, origin)


def loss_family(record: dict[str, Any]) -> str:
    """The family of a loss record as ``losses.csv`` writes it.

    Example:
        >>> loss_family({"model": {"model_type": "gpt_neox"}})
        'gpt_neox'
    """
    model = record["model"]
    return str(model.get("family") or model.get("model_type") or "other")


def loss_points(found: Gathered) -> list[dict[str, Any]]:
    """One point per (model, corpus): ``model, family, corpus, m, loss, origin`` (records first,
    then table rows no record covers); training checkpoints left out."""
    points: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for item in found.losses:
        record = item.data
        name, corpus = loss_model(record), str(record["corpus"].get("name"))
        m = record["model"].get("d_model")
        if "@step" in name or not isinstance(m, int | float):
            continue
        seen.add((name, corpus))
        points.append(
            {
                "model": name,
                "family": loss_family(record),
                "corpus": corpus,
                "m": float(m),
                "loss": record["loss"]["loss"],
                "origin": item.rel,
            }
        )
    for item in found.loss_tables:
        for k, row in enumerate(item.data.to_rows(), start=1):
            if (row["model"], row["corpus"]) in seen or "@step" in row["model"]:
                continue
            seen.add((row["model"], row["corpus"]))
            points.append({**row, "origin": f"{item.rel}:{k}"})
    return points


def width_loss_law(found: Gathered, points: list[dict[str, Any]]) -> Law:
    """The width-loss law to draw: read from a fit result, else fitted to ``points``."""
    picked = _pick(found.fits, WIDTH_LOSS, lambda d: d.get("loss") == "ls")
    if picked is not None:
        return Law(picked.data, picked.rel)
    if not points:
        return Law(None, "", "no losses")
    from ..fits import WidthLossLaw

    try:
        law = WidthLossLaw(n_bootstrap=LOSS_BOOTSTRAP, random_state=0).fit(
            [p["m"] for p in points],
            [p["loss"] for p in points],
            family=[p["family"] for p in points],
            corpus=[p["corpus"] for p in points],
            models=[p["model"] for p in points],
        )
    except FitError as err:
        return Law(None, "", f"not fitted: {err}")
    origin = f"fitted by llmgeom report (least squares, {LOSS_BOOTSTRAP} bootstrap replicates)"
    return Law(law.to_dict(), origin)
