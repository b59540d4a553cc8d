"""The spectrum of a measurement (issue 18 §2) against float64 numpy computations (``svd`` and
``eigvalsh`` of the normalised and raw rows, the O(n²) cosine matrix) on small random and
structured matrices, and against the closed forms of random unit rows (Marchenko–Pastur)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

import llmgeom
from llmgeom.errors import ConfigError
from llmgeom.geometry import gram, raw_gram
from llmgeom.geometry.marchenko_pastur import marchenko_pastur_density, marchenko_pastur_edges
from llmgeom.geometry.result import MeasureResult
from llmgeom.geometry.spectrum import interference_fractions
from llmgeom.geometry.spectrum_plot import plot_spectrum
from llmgeom.plotting import new_figure
from llmgeom.records.measurement import SCHEMA, save_record, validate_record


def oracle(W: np.ndarray, center: bool = False) -> dict:
    """Every spectral quantity by its definition, in float64 numpy: ``svd`` of the unit rows and
    of the raw rows (zero rows left out), the O(n²) cosine matrix for mean cos²."""
    X = np.asarray(W, dtype=np.float64)
    if center:
        X = X - X.mean(axis=0)
    X = X[np.linalg.norm(X, axis=1) > 0]
    n, m = X.shape
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    sigma = np.linalg.svd(U, compute_uv=False)  # min(n, m) singular values, largest first
    lam = np.zeros(m)
    lam[: sigma.size] = sigma**2
    C = U @ U.T
    off = C[~np.eye(n, dtype=bool)] ** 2
    mean_cos2 = off.mean()
    p = sigma[sigma > 0] / sigma.sum()
    raw_sigma = np.linalg.svd(X, compute_uv=False)
    edge = (math.sqrt(n) + math.sqrt(m)) ** 2 / m
    interference = lam * (lam - 1)
    bound = (n - m) / (m * (n - 1))
    return {
        "n": n,
        "m": m,
        "eigenvalues": lam,
        "eigvalsh": np.linalg.eigvalsh(U.T @ U)[::-1],
        "participation_ratio": lam.sum() ** 2 / (lam**2).sum(),
        "entropy_effective_rank": math.exp(-np.sum(p * np.log(p))),
        "stable_rank_raw": np.sum(X * X) / raw_sigma[0] ** 2,
        "edge": edge,
        "n_above": int(np.sum(lam > edge)),
        "mean_cos2": mean_cos2,
        "packing_efficiency": bound / mean_cos2 if n > m else None,
        # Σ_{l≤k} λ_l(λ_l − 1) over the pair sum Σ_{i≠j} cos²_ij itself
        "top_k": {
            k: np.sum(interference[:k]) / off.sum() if off.sum() > 1e-6 * np.sum(lam**2) else None
            for k in (1, 2, 5, 10)
            if k <= m
        },
    }


def check_against_oracle(
    W: np.ndarray, center: bool = False, erank_rtol: float = 1e-6, **options
) -> MeasureResult:
    r = llmgeom.measure(torch.from_numpy(W), center=center, progress=False, **options)
    s, o = r.spectrum, oracle(W, center)
    assert s is not None and (s.n_rows, s.m) == (o["n"], o["m"])
    lam = np.asarray(s.eigenvalues)
    top = o["eigenvalues"][0]
    np.testing.assert_allclose(lam, o["eigenvalues"], rtol=0, atol=1e-6 * top)
    np.testing.assert_allclose(lam, np.clip(o["eigvalsh"], 0, None), rtol=0, atol=1e-6 * top)
    assert lam.sum() == pytest.approx(o["n"], rel=1e-6)  # trace of ŴᵀŴ
    assert r.participation_ratio == pytest.approx(o["participation_ratio"], rel=1e-6)
    assert s.entropy_effective_rank == pytest.approx(o["entropy_effective_rank"], rel=erank_rtol)
    assert s.stable_rank_raw == pytest.approx(o["stable_rank_raw"], rel=1e-6)
    assert s.marchenko_pastur_upper_edge == pytest.approx(o["edge"], rel=1e-15)
    assert s.n_above_marchenko_pastur_edge == o["n_above"]
    if o["packing_efficiency"] is None:
        assert s.packing_efficiency is None
    else:
        assert s.packing_efficiency == pytest.approx(o["packing_efficiency"], rel=1e-6)
    assert set(s.interference_top_k) == set(o["top_k"])
    for k, expected in o["top_k"].items():
        if expected is None:
            assert s.interference_top_k[k] is None
        else:
            assert s.interference_top_k[k] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    return r


# ------------------------------------------------------------- against numpy, random matrices


@pytest.mark.parametrize(
    ("n", "m", "seed"),
    [(300, 20, 0), (200, 50, 1), (30, 50, 2), (64, 64, 3)],  # n > m, n ≈ m, n < m, n = m
)
def test_every_quantity_matches_numpy_on_random_rows(n, m, seed):
    rng = np.random.default_rng(seed)
    norms = rng.uniform(0.2, 3.0, size=(n, 1))  # the raw rows' norms differ
    shared = 0.4 * rng.standard_normal(m)  # and they share a direction
    check_against_oracle((rng.standard_normal((n, m)) + shared) * norms)


def test_centred_rows_and_zero_rows_are_measured_as_the_statistics_are():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((150, 12)) + 2.0 * rng.standard_normal(12)
    check_against_oracle(W, center=True)
    W[[3, 70]] = 0.0  # no direction: left out of every statistic, the spectrum included
    r = check_against_oracle(W)
    assert r.spectrum.n_rows == 148


@pytest.mark.parametrize("shared", [0.0, 0.3])  # a flat spectrum (slow Lanczos), a dominant one
def test_the_raw_stable_rank_by_lanczos_above_the_full_decomposition_width(monkeypatch, shared):
    """Wide heads take ‖W‖₂² by Lanczos on the rows (no second m × m product) and G's top
    eigenvalue from the full spectrum: the same numbers."""
    monkeypatch.setattr(gram, "EIGSH_MIN_WIDTH", 8)
    monkeypatch.setattr(raw_gram, "MATVEC_ROWS", 64)  # several row blocks
    calls = []
    monkeypatch.setattr(gram, "scaled_gram_matrices", lambda *a, **k: calls.append(a))
    rng = np.random.default_rng(5)
    W = rng.standard_normal((400, 24)) * rng.uniform(0.5, 2.0, size=(400, 1))
    check_against_oracle(W + shared * rng.standard_normal(24))
    assert calls == []  # the raw Gram matrix was not built


def test_the_raw_gram_matrix_is_built_when_lanczos_does_not_converge(monkeypatch):
    monkeypatch.setattr(gram, "EIGSH_MIN_WIDTH", 8)
    monkeypatch.setattr(raw_gram, "lanczos_raw_spectral_norm", lambda U, norms: None)
    rng = np.random.default_rng(14)
    check_against_oracle(rng.standard_normal((100, 12)) * rng.uniform(0.5, 2.0, size=(100, 1)))


@pytest.mark.parametrize("pairs", ["exact", "sample"])
def test_every_pass_records_the_same_spectrum(pairs):
    """The exact and the sampled passes build the same Gram matrix as ``gram``."""
    W = torch.randn(500, 16, generator=torch.Generator().manual_seed(6)) + 0.2
    gram_only = llmgeom.measure(W, pairs="gram", progress=False).to_dict()["spectrum"]
    r = llmgeom.measure(W, pairs=pairs, sample_rows=20, time_budget=2, progress=False)
    assert r.pairs == pairs and r.to_dict()["spectrum"] == gram_only
    check_against_oracle(W.numpy(), pairs=pairs, sample_rows=20, time_budget=2)


# ---------------------------------------------------------------------- structured matrices


def _orthonormal(n: int, m: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, m)))
    return q[:n]


@pytest.mark.parametrize(("n", "m"), [(16, 16), (10, 16)])
def test_orthonormal_rows(n, m):
    d = np.linspace(0.5, 2.0, n)  # raw norms: stable rank Σd² / max d²
    r = check_against_oracle(_orthonormal(n, m, 7) * d[:, None])
    s = r.spectrum
    np.testing.assert_allclose(s.eigenvalues, [1.0] * n + [0.0] * (m - n), atol=1e-6)
    assert r.participation_ratio == pytest.approx(n, rel=1e-6)
    assert s.entropy_effective_rank == pytest.approx(n, rel=1e-6)
    assert s.stable_rank_raw == pytest.approx(np.sum(d**2) / d.max() ** 2, rel=1e-6)
    assert s.packing_efficiency is None  # n ≤ m: the frame bound is 0, orthogonal rows fit
    assert all(v is None for v in s.interference_top_k.values())  # no interference to share
    assert s.n_above_marchenko_pastur_edge == 0


def test_duplicated_orthonormal_rows_are_a_tight_frame():
    """Each of m orthonormal rows k times: ŴᵀŴ = k·I, mean cos² = the frame bound."""
    k, m = 3, 8
    W = np.tile(_orthonormal(m, m, 8), (k, 1))
    s = check_against_oracle(W).spectrum
    np.testing.assert_allclose(s.eigenvalues, [k] * m, rtol=1e-6)
    assert s.packing_efficiency == pytest.approx(1.0, rel=1e-6)
    assert s.interference_top_k[1] == pytest.approx(1 / m, rel=1e-5)
    assert s.interference_top_k[5] == pytest.approx(5 / m, rel=1e-5)


def test_a_harmonic_frame_packs_perfectly():
    """n equally spaced directions of the half circle: a tight frame of R² (n/2 · I)."""
    n = 7
    angles = np.pi * np.arange(n) / n
    W = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    s = check_against_oracle(W).spectrum
    np.testing.assert_allclose(s.eigenvalues, [n / 2, n / 2], rtol=1e-6)
    assert s.packing_efficiency == pytest.approx(1.0, rel=1e-6)


def test_duplicated_rows_double_the_eigenvalues():
    rng = np.random.default_rng(9)
    W = rng.standard_normal((80, 10))
    once = llmgeom.measure(torch.from_numpy(W), pairs="gram", progress=False).spectrum
    twice = check_against_oracle(np.concatenate([W, W])).spectrum
    np.testing.assert_allclose(twice.eigenvalues, 2 * np.asarray(once.eigenvalues), rtol=1e-6)
    assert twice.entropy_effective_rank == pytest.approx(once.entropy_effective_rank, rel=1e-6)
    assert twice.stable_rank_raw == pytest.approx(once.stable_rank_raw, rel=1e-6)


def test_one_shared_direction_carries_nearly_all_the_interference():
    """Rank one plus noise: every row ≈ the same direction; the top direction is above the
    Marchenko–Pastur edge and carries nearly all of mean cos²."""
    rng = np.random.default_rng(10)
    n, m = 2000, 64
    v = rng.standard_normal(m)
    W = v / np.linalg.norm(v) + 0.05 * rng.standard_normal((n, m)) / math.sqrt(m)
    # the noise's eigenvalues are 4e-5 of the top one: float32 products give them to ~1e-3,
    # the entropy rank (whose singular values they are) to ~1e-5
    r = check_against_oracle(W, erank_rtol=1e-5)
    s = r.spectrum
    assert s.interference_top_k[1] > 0.99
    assert s.n_above_marchenko_pastur_edge == 1
    assert r.participation_ratio == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------- closed forms of random unit rows


def _random_unit_rows(n: int, m: int, seed: int) -> MeasureResult:
    W = torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return llmgeom.measure(W, pairs="gram", progress=False)


def _mean_cos2_sd(n: int, m: int) -> float:
    """Standard deviation of mean cos² over the n(n−1)/2 pairs of random unit rows: the pair
    cos² are pairwise independent (rotation invariance), each of variance
    2(m−1)/(m²(m+2))."""
    return math.sqrt(2 * (m - 1) / (m * m * (m + 2)) / (n * (n - 1) / 2))


@pytest.mark.parametrize(("n", "m"), [(4000, 100), (1000, 250), (300, 200)])
def test_random_rows_follow_the_marchenko_pastur_closed_forms(n, m):
    """Participation ratio n²/E‖ŴᵀŴ‖²_F = n·m/(m + n − 1) (E cos² = 1/m exactly), packing
    efficiency (n − m)/(n − 1), both within 5 standard deviations of mean cos²; no eigenvalue
    above the edge (the edge of the law; Tracy–Widom fluctuations could put one just above it,
    none does for these seeds); every eigenvalue within 10 % of the law's support."""
    r = _random_unit_rows(n, m, seed=n + m)
    s = r.spectrum
    sd = _mean_cos2_sd(n, m)
    assert abs(r.mean_cos2 - 1 / m) < 5 * sd
    expected_pr = n * m / (m + n - 1)
    # PR = n / (1 + (n−1)·mean cos²): its error is (n−1)·δ / (1 + (n−1)/m) relative
    relative = (n - 1) * 5 * sd / (1 + (n - 1) / m)
    assert r.participation_ratio == pytest.approx(expected_pr, rel=relative)
    efficiency = (n - m) / (n - 1)
    assert s.packing_efficiency == pytest.approx(efficiency, rel=5 * sd * m)
    assert s.n_above_marchenko_pastur_edge == 0
    lower, upper = marchenko_pastur_edges(n, m)
    lam = np.asarray(s.eigenvalues)
    assert lam.max() < upper * 1.1 and lam.min() > lower * 0.9
    assert s.interference_top_k[1] < 2 * upper * (upper - 1) / (n * (n - 1) * r.mean_cos2)


def _law_of_s(x: float, gamma: float) -> float:
    """The Marchenko–Pastur density of ratio γ for unit variance, as textbooks write it
    (Bai & Silverstein 2010, eq. 3.1.1): the test's own oracle of the library's scaled law."""
    a, b = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2
    return math.sqrt(max((b - x) * (x - a), 0.0)) / (2 * math.pi * gamma * x) if a < x < b else 0.0


@pytest.mark.parametrize(("n", "m"), [(400, 100), (100, 400), (1000, 1000)])
def test_the_law_has_the_moments_of_random_unit_rows(n, m):
    """Mass min(1, n/m) (the rest an atom at 0), mean n/m over all m eigenvalues (trace n),
    second moment (n/m)²(1 + m/n) = E‖ŴᵀŴ‖²_F / m as n, m grow; equal to the textbook form."""
    lower, upper = marchenko_pastur_edges(n, m)
    assert (lower, upper) == pytest.approx(((n**0.5 - m**0.5) ** 2 / m, (n**0.5 + m**0.5) ** 2 / m))

    def moment(k: int) -> float:
        f = lambda x: x**k * float(marchenko_pastur_density(x, n, m))  # noqa: E731
        return quad(f, lower, upper, limit=400)[0]

    assert moment(0) == pytest.approx(min(1.0, n / m), rel=1e-6)
    assert moment(1) == pytest.approx(n / m, rel=1e-6)
    assert moment(2) == pytest.approx((n / m) ** 2 * (1 + m / n), rel=1e-6)
    scale = n / m
    for x in np.linspace(lower, upper, 7)[1:-1]:
        expected = _law_of_s(x / scale, m / n) / scale
        assert float(marchenko_pastur_density(x, n, m)) == pytest.approx(expected, rel=1e-12)


def test_the_entropy_rank_of_random_rows_is_the_law_s():
    """exp(H) with p = σ/Σσ tends to m·A·exp(−B/A), A = E√λ, B = E[√λ ln √λ] under the law
    (edge effects: relative O(1/m); measured ≤ 6e-4 at these sizes over 5 seeds)."""
    n, m = 2000, 200
    lower, upper = marchenko_pastur_edges(n, m)
    law = lambda x: _law_of_s(x * m / n, m / n) * m / n  # noqa: E731
    A = quad(lambda x: math.sqrt(x) * law(x), lower, upper, limit=400)[0]
    B = quad(lambda x: math.sqrt(x) * 0.5 * math.log(x) * law(x), lower, upper, limit=400)[0]
    expected = m * A * math.exp(-B / A)
    assert _random_unit_rows(n, m, 11).spectrum.entropy_effective_rank == pytest.approx(
        expected, rel=2 / m
    )


def test_planted_directions_are_the_eigenvalues_above_the_edge():
    """k directions shared by every row, strong enough to leave the bulk (BBP threshold
    √(m/n)), give exactly k eigenvalues above the edge."""
    n, m, k = 3000, 60, 3
    g = torch.Generator().manual_seed(12)
    spikes = torch.linalg.qr(torch.randn(m, k, generator=g, dtype=torch.float64))[0].T
    W = torch.randn(n, m, generator=g, dtype=torch.float64) / math.sqrt(m)
    W += torch.randn(n, k, generator=g, dtype=torch.float64) @ spikes  # amplitude ~1 each
    s = llmgeom.measure(W, pairs="gram", progress=False).spectrum
    assert s.n_above_marchenko_pastur_edge == k
    assert interference_fractions(s.eigenvalues, ks=(k,))[str(k)] > 0.9


# ------------------------------------------------------------ record, typed result, figure


def test_the_record_holds_the_spectrum_and_loads_back_exactly(tmp_path):
    r = llmgeom.measure(torch.randn(200, 12), pairs="gram", progress=False)
    record = r.to_dict()
    block = record["spectrum"]
    assert validate_record(record) is record and record["schema"] == SCHEMA
    assert block["eigenvalues"] == list(r.spectrum.eigenvalues) and len(block["eigenvalues"]) == 12
    assert block["eigenvalues"] == sorted(block["eigenvalues"], reverse=True)
    assert {int(k): v for k, v in block["interference_top_k"].items()} == dict(
        r.spectrum.interference_top_k
    )
    saved = save_record(record, tmp_path)
    assert json.loads(saved.path.read_text())["spectrum"] == block
    loaded = MeasureResult.load(saved.path)
    assert loaded.spectrum == r.spectrum and loaded.to_dict()["spectrum"] == block
    assert MeasureResult.from_dict(r.to_dict()).spectrum == r.spectrum
    old = {key: value for key, value in record.items() if key != "spectrum"}
    assert MeasureResult.from_dict(old).spectrum is None  # written before the spectrum
    columns = r.columns()
    assert columns["entropy_effective_rank"] == r.spectrum.entropy_effective_rank
    assert columns["interference_top_1"] == r.spectrum.interference_top_k[1]


@pytest.mark.parametrize(
    ("field", "value"),
    [("eigenvalues", [1.0, -0.5]), ("n_above_marchenko_pastur_edge", 1.5),
     ("interference_top_k", {"top": 0.5}), ("packing_efficiency", "high")],
)  # fmt: skip
def test_the_schema_checks_the_spectrum_block(field, value):
    record = llmgeom.measure(torch.randn(50, 4), pairs="gram", progress=False).to_dict()
    record["spectrum"][field] = value
    with pytest.raises(ConfigError, match=f"spectrum.{field}"):
        validate_record(record)
    del record["spectrum"][field]
    with pytest.raises(ConfigError, match=f"spectrum.{field} is missing"):
        validate_record(record)


def test_the_summary_prints_the_spectrum():
    r = llmgeom.measure(torch.randn(300, 10), pairs="gram", progress=False)
    s = r.spectrum
    text = r.summary()
    assert f"participation ratio {r.participation_ratio:.1f}" in text
    assert f"entropy rank {s.entropy_effective_rank:.1f}" in text
    assert f"stable rank (raw W) {s.stable_rank_raw:.1f}" in text
    assert f"packing efficiency {s.packing_efficiency:.4g}" in text
    above = s.n_above_marchenko_pastur_edge
    assert f"{above} eigenvalue{'' if above == 1 else 's'} above the Marchenko-Pastur edge" in text


def test_the_figure_is_the_density_against_the_law():
    r = _random_unit_rows(2000, 50, 13)
    fig, (ax,) = new_figure()
    assert plot_spectrum(r.spectrum, ax=ax) is fig and r.spectrum.figure() is not fig
    (bars,) = [p for p in ax.patches]
    data = bars.get_data()
    heights, edges = np.nan_to_num(data.values), data.edges
    # per eigenvalue of the m: the bars integrate to 1 (every eigenvalue is positive here)
    assert np.sum(heights * np.diff(edges)) == pytest.approx(1.0, rel=1e-12)
    (law,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    x, y = law.get_data()
    np.testing.assert_allclose(y, marchenko_pastur_density(x, 2000, 50))
    assert ax.get_title().startswith(f"{r.spectrum.n_above_marchenko_pastur_edge} eigenvalue")
