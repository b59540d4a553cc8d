"""Token tables for the token page's tests: a real ``llmgeom.token_table`` of a random head with
counts (so every computed column, the spectrum and the figures are there), then the columns and
blocks that the under-trained indicator and the frequency direction add (issue 18 §4-5), set
here by hand, and strings chosen to break a page that does not escape them."""

from __future__ import annotations

import numpy as np
import torch

import llmgeom
from llmgeom.records.token_table import TokenTable

#: Strings that break a page that pastes them as HTML or as script text.
HOSTILE = (
    '</script><img src=x onerror="window.__pwned=1">',
    "<!--",
    "a & b &amp; c",
    "\"double\" and 'single'",
    "\x00\x01\n\t\x7f",
    "\ud800 lone surrogate",
    "\u2028 line separator",
    "<b>bold</b>",
    "",
)
WORDS = ("the", "cab", "abc", "fable", "zebra", "Abba", "tab", "xyz", "q", "é")


def strings_for(n: int) -> list[str | None]:
    """``n`` token strings: the hostile ones first, then words with their index, one None."""
    out: list[str | None] = list(HOSTILE)
    out += [f"{WORDS[i % len(WORDS)]}{i}" if i % 3 else f" {WORDS[i % len(WORDS)]}" for i in
            range(len(out), n)]  # fmt: skip
    out[-1] = None  # a row beyond the tokenizer
    return out[:n]


def synthetic_table(n: int = 1234, m: int = 24, seed: int = 0, name: str = "toy") -> TokenTable:
    """A token table with every column the page may meet (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n, m, generator=g) + 0.2
    rng = np.random.default_rng(seed)
    counts = np.floor(rng.pareto(1.2, n) * 5).astype(np.int64)
    counts[rng.random(n) < 0.2] = 0
    table = llmgeom.token_table(W, counts=counts, name=name, progress=False)
    indicator = rng.random(n)
    candidate = indicator < np.quantile(indicator, 0.02)
    reference = np.zeros(n, dtype=bool)
    reference[-5:] = True
    extra = {
        "string": strings_for(n),
        "undertrained_indicator": indicator,
        "undertrained_reference": reference,
        "undertrained_candidate": candidate,
        "input_norm": rng.random(n) * 3,
        "undertrained_verify_max_prob": np.where(candidate, rng.random(n) * 0.02, np.nan),
        "frequency_projection": rng.normal(size=n),
        "logit_offset": rng.normal(size=n),
    }
    table = table.with_columns(**extra)
    record = table.to_dict()
    ids = np.flatnonzero(candidate)
    record["undertrained"] = {
        "method": "Land & Bartolo (2024)",
        "percentile": 2.0,
        "n_reference": int(reference.sum()),
        "candidates": [
            {"id": int(i), "string": extra["string"][i], "indicator": float(indicator[i])}
            for i in ids
        ],
    }
    record["frequency_direction"] = {  # the layout of llmgeom.geometry.frequency_direction
        "computed": True,
        "alpha": 0.25,
        "r2_cv": {
            "folds": [0.4, 0.42, 0.44, 0.43, 0.45],
            "mean": 0.428,
            "std": 0.017,
            "n_folds": 5,
        },
        "direction": [1.0] + [0.0] * (int(record.get("m") or 1) - 1),
        "mean_cos2": 0.0456,
        "mean_cos2_without_direction": 0.0345,
        "fraction_explained": 1 - 0.0345 / 0.0456,
    }
    return TokenTable._build(record, table=table.table)
