"""The paper's published values (``published.json`` in this package, each with where in the
paper it comes from), the authors' fitted width-loss law and the 108 losses it implies.

The raw losses are not published; the fitted values are. Evaluating the fitted law at the 27
models' widths (the model registry, :mod:`llmgeom.sources.registry`) for the four corpora gives
108 losses that a correct fitter must map back to the same parameters. The loss fit's width is
the model width d_model, as the authors used it: it differs from the head's width only for
OPT-350m (d_model 1024, head 512), and ``published.json`` records the width the authors used
for that model, which :func:`paper_widths` checks against the registry. The report's side-by-side
table (:mod:`llmgeom.report.paper_table`) reads the same file.

Example:
    >>> t = paper_implied_losses()
    >>> len(t), sorted(set(t.corpus))
    (108, ['bookcorpus', 'c4', 'pile', 'wikitext'])
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fits.io import LossTable
from ..sources.registry import registry_models

CORPORA = ("wikitext", "c4", "pile", "bookcorpus")


PUBLISHED_FILE = "published.json"


def published() -> dict[str, Any]:
    """Every published value the toolkit compares with, by topic (``width_loss``,
    ``chinchilla``, ``overlap_law``, ``toy_overlap_strong``, ``toy_alpha_m_strong``,
    ``toy_alpha_m_weak``), each with ``where`` in the paper it comes from and a ``tag``
    (``nb``: the authors' notebook, ``paper``: the text, ``fig``: read off a plot).

    Example:
        >>> p = published()
        >>> p["chinchilla"]["k_params_vs_dmodel"], p["toy_overlap_strong"]["m"][:2]
        (2.52, [10, 15])
    """
    text = resources.files(__package__).joinpath(PUBLISHED_FILE).read_text(encoding="utf-8")
    return dict(json.loads(text))


def paper_fit() -> dict[str, Any]:
    """The authors' fitted values (α, C, SE, the 16 offsets, the Chinchilla numbers).

    Example:
        >>> fit = paper_fit()
        >>> fit["alpha"], fit["chinchilla"]["alpha_m"]
        (0.9098, 0.88)
    """
    values = published()
    return {**values["width_loss"], "chinchilla": values["chinchilla"]}


def paper_widths() -> list[tuple[str, str, int]]:
    """``(hub_id, family, m)`` of the 27 models, m = d_model as in the loss fit.

    Example:
        >>> [(hub, m) for hub, _, m in paper_widths() if hub.startswith("facebook/opt-3")]
        [('facebook/opt-350m', 1024), ('facebook/opt-30b', 7168)]
    """
    models = registry_models()
    narrow = [m for m in models if m.head_cols != m.d_model]  # heads narrower than the model
    used = paper_fit()["m_used_for_opt_350m"]
    if [m.d_model for m in narrow] != [used]:
        raise ConfigError(
            "the published values (llmgeom/paper/published.json) and the model registry "
            "disagree on the width of the one "
            f"model whose head is narrower than d_model: {used} vs "
            f"{[(m.hub_id, m.d_model) for m in narrow]}"
        )
    return [(m.hub_id, m.family, m.d_model) for m in models]


def paper_implied_losses(noise_rms: float = 0.0, seed: int | None = None) -> LossTable:
    """The 108 losses of the authors' fitted law, plus optional Gaussian noise of sd ``noise_rms``.

    Example:
        >>> t = paper_implied_losses()
        >>> round(float(t.loss[0]), 4)  # OPT-125m on wikitext: 476.0763/768^0.9098 + 2.2074
        3.3361
    """
    fit = paper_fit()
    alpha, C, L0 = fit["alpha"], fit["C"], fit["offsets_L0"]
    model, family, corpus, m, loss = [], [], [], [], []
    for hub_id, fam, width in paper_widths():
        for cor in CORPORA:
            model.append(hub_id)
            family.append(fam)
            corpus.append(cor)
            m.append(float(width))
            loss.append(C * width ** (-alpha) + L0[fam][cor])
    values = np.array(loss)
    if noise_rms:
        values = values + np.random.default_rng(seed).normal(0.0, noise_rms, values.size)
    return LossTable(model=model, family=family, corpus=corpus, m=np.array(m), loss=values)
