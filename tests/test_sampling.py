"""Sampled |cos| statistics (random pairs, random whole rows) against the exact pass."""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from llmgeom.geometry import fixed_point, overlap, pass_cost, sampling
from llmgeom.geometry.measurement import measure

SEEDS = 200


def uneven_rows(n: int, m: int, seed: int) -> torch.Tensor:
    """Rows that share one direction to different degrees: per-row means really differ."""
    gen = torch.Generator().manual_seed(seed)
    shared = torch.rand(n, 1, generator=gen) * 2.0 * torch.randn(m, generator=gen)
    return torch.randn(n, m, generator=gen) + shared


def direct_abs_cos(W: torch.Tensor) -> np.ndarray:
    """|cos| of every pair i<j, the float64 definition."""
    X = W.double().numpy()
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return np.abs((U @ U.T)[np.triu_indices(len(U), 1)])


@contextmanager
def threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def case():
    W = uneven_rows(300, 16, seed=11)
    U, _ = overlap.normalize_rows(W)
    c = direct_abs_cos(W)
    exact = overlap.pairwise_statistics(U, progress=False)
    return U, c, exact


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 4096 pairs, one thread (tiny products: threads only wait on each other)."""
    monkeypatch.setattr(sampling, "PAIR_BATCH", 4096)
    with threads(1):
        yield


def test_fixed_point_dots_match_float64_dots_within_the_stated_bound():
    gen = torch.Generator().manual_seed(1)
    U, _ = overlap.normalize_rows(torch.randn(500, 300, generator=gen))
    i, j = torch.randint(0, 500, (2, 4000), generator=gen)
    got = fixed_point.fixed_point_dots(U, i, j) / 2.0**23
    want = (U[i].double() * U[j].double()).sum(dim=1).numpy()
    assert np.abs(got - want).max() <= 300 * 2.0**-24 + 300 * 2.0**-24  # grid + float32 products
    assert np.abs(got - want).mean() < 2e-6


def test_intervals_cover_the_exact_values_at_the_nominal_rate(case, small_batches):
    U, c, exact = case
    truth = {"mean_abs_cos": c.mean(), "std_abs_cos": c.std(), "mean_cos2": (c * c).mean()}
    truth["mean_max_abs_cos"] = exact["mean_max_abs_cos"]
    gram = overlap.gram_statistics(U)["mean_cos2"]
    covered = dict.fromkeys(truth, 0)
    estimates = []
    for seed in range(SEEDS):  # precision 0.5: every run stops after the minimum 2 batches
        s = sampling.sampled_statistics(
            U, 20, seed=seed, precision=0.5, mean_cos2=gram, progress=False
        )
        assert s["pairs_sampled"] == 2 * 4096 and s["stopped_by"] == "precision"
        estimates.append(s["mean_abs_cos"])
        for key, value in truth.items():
            low, high = s["interval"][key]
            covered[key] += low <= value <= high
    # nominal 95 % of 200 = 190, binomial sd 3.1: 180..198 is ±3 sd (the per-token maximum,
    # from 20 rows of a skewed distribution, is allowed to run a little under)
    for key in ("mean_abs_cos", "std_abs_cos", "mean_cos2"):
        assert 180 <= covered[key] <= 198, (key, covered[key])
    assert 175 <= covered["mean_max_abs_cos"] <= 199
    # unbiased: the mean of 200 estimates is within 4 of its standard errors of the truth
    spread = np.std(estimates, ddof=1) / math.sqrt(SEEDS)
    assert abs(np.mean(estimates) - truth["mean_abs_cos"]) < 4 * spread


def test_default_precision_stops_within_its_stated_precision():
    W = uneven_rows(2000, 24, seed=5)
    U, _ = overlap.normalize_rows(W)
    truth = direct_abs_cos(W).mean()
    s = sampling.sampled_statistics(U, 50, seed=3, progress=False)
    assert s["stopped_by"] == "precision" and s["relative_half_width"] <= 1e-3
    low, high = s["interval"]["mean_abs_cos"]
    assert high - low <= 2e-3 * s["mean_abs_cos"]
    assert abs(s["mean_abs_cos"] - truth) <= 3e-3 * truth  # 3 × the stated precision


def test_same_seed_gives_identical_floats_whatever_the_threads_or_chunks(monkeypatch):
    U, _ = overlap.normalize_rows(uneven_rows(1000, 40, seed=8))
    with threads(1):
        one = sampling.sampled_statistics(U, 30, seed=4, precision=0.01, bins=20, progress=False)
    with threads(2):
        two = sampling.sampled_statistics(U, 30, seed=4, precision=0.01, bins=20, progress=False)
    monkeypatch.setattr(sampling, "PAIR_CHUNK_ELEMENTS", 1000)  # other chunks, same integers
    chunked = sampling.sampled_statistics(U, 30, seed=4, precision=0.01, bins=20, progress=False)
    assert one == two == chunked
    other = sampling.sampled_statistics(U, 30, seed=5, precision=0.01, progress=False)
    assert other["mean_abs_cos"] != one["mean_abs_cos"]


def test_the_time_budget_stops_sampling_and_says_so():
    U, _ = overlap.normalize_rows(uneven_rows(500, 8, seed=2))
    s = sampling.sampled_statistics(U, 10, precision=1e-9, time_budget=1e-9, progress=False)
    assert s["stopped_by"] == "time_budget"
    assert s["pairs_sampled"] == sampling.MIN_PAIR_BATCHES * sampling.PAIR_BATCH
    assert s["relative_half_width"] > 1e-9


def test_every_row_drawn_gives_the_exact_per_token_maxima(case):
    U, c, exact = case
    s = sampling.sampled_statistics(U, 300, precision=0.05, progress=False)
    assert s["rows_sampled"] == 300 and s["standard_error"]["mean_max_abs_cos"] == 0.0
    assert s["mean_max_abs_cos"] == pytest.approx(exact["mean_max_abs_cos"], abs=1e-6)
    assert s["max_abs_cos_lower_bound"]["abs_cos"] == pytest.approx(c.max(), abs=1e-6)


def test_histogram_of_the_sampled_pairs_follows_the_exact_one(case):
    U, _, _ = case
    s = sampling.sampled_statistics(U, 10, precision=0.01, bins=20, progress=False)
    exact = overlap.pairwise_statistics(U, bins=20, progress=False)["histogram"]["counts"]
    got = np.array(s["histogram"]["counts"])
    assert got.sum() == s["pairs_sampled"]
    share, want = got / got.sum(), np.array(exact) / sum(exact)
    assert 0.5 * np.abs(share - want).sum() < 0.01  # total variation distance


def test_weighted_pairs_are_unbiased_with_honest_intervals(small_batches):
    gen = torch.Generator().manual_seed(9)
    W = uneven_rows(150, 12, seed=9)
    p = torch.rand(150, generator=gen) ** 4  # uneven weights
    p[:30] = 0.0  # rows that never occur are never drawn
    X = W.double().numpy()
    U64 = X / np.linalg.norm(X, axis=1, keepdims=True)
    A = np.abs(U64 @ U64.T)
    q = p.double().numpy()
    pair = np.outer(q, q)
    np.fill_diagonal(pair, 0.0)
    truth = float((pair * A).sum() / pair.sum())  # the double loop over i≠j
    U, _ = overlap.normalize_rows(W)
    estimates, hits = [], 0
    for seed in range(SEEDS):
        s = sampling.weighted_sampled_abs(U, p, seed=seed, precision=0.5, progress=False)
        estimates.append(s["weighted_mean_abs_cos"])
        low, high = s["weighted_mean_abs_cos_interval"]
        hits += low <= truth <= high
    spread = np.std(estimates, ddof=1) / math.sqrt(SEEDS)
    assert abs(np.mean(estimates) - truth) < 4 * spread
    assert 180 <= hits <= 198
    exact = overlap.pairwise_statistics(U, weights=p, progress=False)["weighted_abs_sum"]
    assert 2 * exact / pair.sum() == pytest.approx(truth, rel=1e-5)  # the exact pass agrees


def test_auto_decides_by_flops_whatever_the_measured_speed(monkeypatch):
    W = uneven_rows(400, 8, seed=1)
    flops = pass_cost.pair_pass_flops(400, 8)
    assert flops == 400 * 399 * 8
    for rate in (1e-3, 1e30):  # an absurdly slow and an absurdly fast machine
        monkeypatch.setattr(pass_cost, "matmul_rate", lambda U, rows, r=rate: r)
        at = measure(W, exact_max_flops=flops, progress=False, precision=0.1)
        below = measure(W, exact_max_flops=flops - 1, progress=False, precision=0.1)
        assert (at.pairs, below.pairs) == ("exact", "sample")
        assert below.diagnostics["variant"]["exact_pass_flops"] == flops
        assert below.diagnostics["variant"]["exact_max_flops"] == flops - 1


def test_the_gram_statistics_are_logged_before_the_pass(caplog):
    W = uneven_rows(200, 8, seed=3)
    with caplog.at_level("INFO", logger="llmgeom.progress"):
        report = measure(W, pairs="sample", precision=0.1, progress=False)
    messages = [r.getMessage() for r in caplog.records if r.name == "llmgeom.progress"]
    first = next(i for i, text in enumerate(messages) if text.startswith("Gram statistics"))
    assert f"{report.mean_cos2:.6g}" in messages[first]
    assert first < next(i for i, text in enumerate(messages) if "random pairs" in text)


def test_records_of_the_former_row_design_still_summarise():
    from llmgeom.records.summary import _pairs_line, _sampled_line, weighted_lines

    old_sample = {"rows_sampled": 1781, "pairs_covered": 89505936, "mean_max_abs_cos": 0.1574}
    assert "1,781 rows x all rows = 89,505,936 ordered pairs" in _sampled_line(old_sample)
    old_variant = {"pairs_requested": "auto", "pairs": "sample", "exact_pass_estimate_s": 71.0,
                   "time_budget_s": 5.0}  # fmt: skip
    assert "budget 5.0 s" in _pairs_line(old_variant)
    block = {"counts_total": 10.0, "rows_with_count": 2, "rows_used": 3, "rows_without_count": 1,
             "weighted_mean_cos2": 0.1, "m_times_weighted_mean_cos2": 1.0,
             "weighted_mean_cos": 0.0, "effective_tokens": 2.0, "weighted_mean_abs_cos": 0.2,
             "abs_cos_method": "sample", "weighted_mean_abs_cos_interval": [0.19, 0.21],
             "rows_drawn_by_weight": 1250}  # fmt: skip
    assert "1,250 rows drawn by weight x all rows" in weighted_lines(block)[-1]
