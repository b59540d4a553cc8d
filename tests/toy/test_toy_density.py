"""The committed ``toy-density`` results (``results/toy/toy-density.json``, ``llmgeom toy sweep
density``): the activation density E changes the loss prefactor, not the exponent α_m (paper §5,
Fig 7). Strong superposition (γ = −1, α = 1), E ∈ {0.5, 1, 2, 4}, 3 seeds each.

Tolerances: the seed-mean α_m of every E lies within 0.1 of that at E = 1 (about three times the
spread over seeds, 0.03); the loss per unit density, loss/E (seed means, every width), lies within
15 % of its E = 1 value (measured 0.99–1.10; the loss is proportional to E).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from llmgeom.toy import ToyResult
from llmgeom.toy.config import load_config

RESULT = Path(__file__).resolve().parents[2] / "results" / "toy" / "toy-density.json"


@pytest.fixture(scope="module")
def result() -> ToyResult:
    return ToyResult.load(RESULT)


def test_the_committed_results_are_the_preset(result):
    assert result.config == load_config("density")
    assert sorted(g.density for g in result.seed_groups) == [0.5, 1.0, 2.0, 4.0]
    assert all(len(g.seeds) == 3 for g in result.seed_groups)


def test_density_leaves_alpha_m_unchanged(result):
    by_density = {g.density: g for g in result.seed_groups}
    reference = by_density[1.0].alpha_m_mean
    for group in result.seed_groups:
        assert group.alpha_m_spread is not None and group.alpha_m_spread < 0.1
        assert group.alpha_m_mean == pytest.approx(reference, abs=0.1), group.density


def test_density_scales_the_loss(result):
    doc = result.to_dict()
    loss = defaultdict(list)
    for run in doc["runs"]:
        for row in run["per_m"]:
            loss[(run["density"], row["m"])].append(row["loss"])
    for m in result.config.m:
        per_unit = float(np.mean(loss[(1.0, m)]))
        for density in (0.5, 2.0, 4.0):
            ratio = float(np.mean(loss[(density, m)])) / density / per_unit
            assert 0.85 <= ratio <= 1.15, (density, m, ratio)
