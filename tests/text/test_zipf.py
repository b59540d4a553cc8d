"""Rank-frequency exponent fits against analytic truths, synthetic Zipf samples, brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmgeom.errors import FitError
from llmgeom.text.zipf import loglog_fit, rank_counts, zipf_mle


def zipf_probabilities(n_ranks: int, s: float) -> np.ndarray:
    p = np.arange(1, n_ranks + 1, dtype=np.float64) ** -s
    return p / p.sum()


@pytest.mark.parametrize("s", [0.8, 1.0, 1.37])
def test_exact_power_laws_are_recovered_exactly(s):
    expected = 1e6 * zipf_probabilities(3000, s)  # expected counts: the MLE's fixed point is s
    shuffled = np.random.default_rng(0).permutation(expected)  # any token order
    assert zipf_mle(shuffled)["s"] == pytest.approx(s, abs=1e-9)
    assert loglog_fit(shuffled)["alpha"] == pytest.approx(s, abs=1e-9)
    assert loglog_fit(shuffled)["r2"] == pytest.approx(1.0, abs=1e-12)


def test_mle_matches_a_brute_force_maximum_and_its_interval():
    counts = np.array([500, 260, 170, 120, 96, 83, 60, 55, 41, 40, 33, 30], dtype=np.int64)
    fit = zipf_mle(counts)
    ranks = range(1, counts.size + 1)

    def loglik(s):  # plain-Python log-likelihood, independent of the module's vectorised one
        log_z = math.log(sum(r**-s for r in ranks))
        return sum(int(c) * (-s * math.log(r) - log_z) for r, c in zip(ranks, counts, strict=True))

    grid = np.linspace(0.5, 1.5, 100_001)
    values = np.array([loglik(s) for s in grid[::100]])  # coarse, then fine around the top
    top = grid[::100][values.argmax()]
    fine = np.linspace(top - 0.002, top + 0.002, 4001)
    best = fine[np.argmax([loglik(s) for s in fine])]
    assert fit["s"] == pytest.approx(best, abs=2e-6)
    assert fit["log_likelihood"] == pytest.approx(loglik(fit["s"]), rel=1e-12)
    low, high = fit["ci95"]
    for edge in (low, high):  # the interval's ends sit 3.84 / 2 below the maximum
        assert loglik(fit["s"]) - loglik(edge) == pytest.approx(3.841458820694124 / 2, abs=1e-6)
    # the observed-information SE agrees with the profile interval's half-width
    assert (high - low) / 2 == pytest.approx(1.96 * fit["se"], rel=0.05)


def test_synthetic_zipf_samples_fall_in_the_interval():
    s, n_ranks, tokens = 1.1, 1000, 100_000
    p = zipf_probabilities(n_ranks, s)
    covered = 0
    for seed in range(40):
        counts = np.random.default_rng(seed).multinomial(tokens, p)
        fit = zipf_mle(counts)
        covered += fit["ci95"][0] < s < fit["ci95"][1]
        assert loglog_fit(counts)["alpha"] == pytest.approx(s, abs=0.03)
    # a 95 % interval; ranks estimated from the counts cost a little coverage (measured: 90 %)
    assert covered >= 32


def test_vocabulary_ranks_and_bad_inputs():
    counts = np.array([0, 40, 0, 20, 10, 5, 0])
    assert rank_counts(counts).tolist() == [40.0, 20.0, 10.0, 5.0]
    seen = zipf_mle(counts)
    with_unseen = zipf_mle(counts, n_ranks=counts.size)  # three ranks observed zero times
    assert seen["n_ranks"] == 4 and with_unseen["n_ranks"] == 7
    assert with_unseen["s"] > seen["s"]  # unseen ranks push the tail down: a steeper law
    with pytest.raises(FitError):
        zipf_mle(np.array([5, 0, 0]))
    with pytest.raises(FitError):
        zipf_mle(counts, n_ranks=3)
    with pytest.raises(FitError):
        loglog_fit(np.array([3, 2]))
    with pytest.raises(FitError):
        rank_counts(np.array([1, -1, 3]))
