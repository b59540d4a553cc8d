"""The overlap engine against direct O(n²) computations and analytic truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llmgeom.geometry import overlap, pass_cost
from llmgeom.geometry.baselines import frame_bound, random_mean_abs_cos, reference_values


def direct_cosines(W: np.ndarray, center: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """All pairwise cosines i<j in float64 (the definition, O(n²)) and the full matrix."""
    X = np.asarray(W, dtype=np.float64)
    if center:
        X = X - X.mean(axis=0)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)  # the authors: no epsilon
    C = U @ U.T
    return C[np.triu_indices(len(U), 1)], C


def engine(W: torch.Tensor, budget: int | None = None, bins: int = 200):
    U, _ = overlap.normalize_rows(W)
    return (
        U,
        overlap.gram_statistics(U),
        overlap.pairwise_statistics(U, budget_bytes=budget, bins=bins, progress=False),
    )


CASES = [  # (n, m, budget in bytes: forces single block, several blocks, tiny blocks)
    (257, 40, 10**9),
    (300, 16, 300 * 4 * 37),
    (123, 64, 123 * 4 * 7),
    (64, 96, 10**9),  # n < m
]


@pytest.mark.parametrize(("n", "m", "budget"), CASES)
def test_every_statistic_matches_direct_computation(n, m, budget):
    gen = torch.Generator().manual_seed(n + m)
    W = torch.randn(n, m, generator=gen) + 0.3 * torch.randn(m, generator=gen)  # shared direction
    U, gram, exact = engine(W, budget)
    c, C = direct_cosines(W.numpy())
    rel = dict(rel=1e-6)
    assert gram["mean_cos2"] == pytest.approx(np.mean(c**2), **rel)
    assert gram["mean_cos"] == pytest.approx(np.mean(c), **rel)
    assert exact["mean_cos2_blocked"] == pytest.approx(np.mean(c**2), **rel)
    assert exact["mean_abs_cos"] == pytest.approx(np.mean(np.abs(c)), **rel)
    assert exact["std_abs_cos"] == pytest.approx(np.std(np.abs(c)), **rel)
    assert exact["pairs"] == n * (n - 1) // 2
    Ud = U.double().numpy()
    G = Ud.T @ Ud
    eig = np.linalg.eigvalsh(G)
    assert gram["participation_ratio"] == pytest.approx(np.trace(G) ** 2 / np.sum(G * G), **rel)
    assert gram["top_eigen_fraction"] == pytest.approx(eig[-1] / np.trace(G), **rel)
    A = np.abs(C)
    np.fill_diagonal(A, -1)
    np.testing.assert_allclose(exact["max_abs_cos_per_row"], A.max(axis=1), rtol=0, atol=1e-6)
    partner = exact["partner_per_row"]
    assert np.all(partner != np.arange(n))
    np.testing.assert_allclose(A[np.arange(n), partner], A.max(axis=1), atol=1e-6)
    assert exact["max_abs_cos"] == pytest.approx(A.max(), abs=1e-6)
    counts = np.array(exact["histogram"]["counts"])
    expected, _ = np.histogram(c, bins=200, range=overlap.HIST_RANGE)
    assert counts.sum() == n * (n - 1) // 2
    assert np.abs(counts - expected).sum() <= 2  # float32 products vs float64 at bin edges


def test_gram_mean_cos2_alone_matches_gram_statistics():
    W = torch.randn(500, 24, generator=torch.Generator().manual_seed(1))
    U, _ = overlap.normalize_rows(W)
    assert overlap.gram_mean_cos2(U) == pytest.approx(
        overlap.gram_statistics(U)["mean_cos2"], rel=1e-12
    )


def test_random_unit_vectors_give_one_over_m_within_three_standard_errors():
    n, m = 3000, 32
    W = torch.randn(n, m, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    _, gram, exact = engine(W.float())
    # cos² over distinct pairs are pairwise uncorrelated for isotropic vectors, so the mean
    # over the n(n-1)/2 pairs has variance Var[cos²] / (n(n-1)/2).
    ref = reference_values(n, m)
    pairs = n * (n - 1) / 2
    se_cos2 = ref["random_std_cos2"] / math.sqrt(pairs)
    assert abs(gram["mean_cos2"] - 1 / m) < 3 * se_cos2
    var_abs = 1 / m - random_mean_abs_cos(m) ** 2
    assert abs(exact["mean_abs_cos"] - random_mean_abs_cos(m)) < 3 * math.sqrt(var_abs / pairs)
    assert gram["participation_ratio"] == pytest.approx(m, rel=0.05)


def test_orthonormal_rows_have_zero_overlap():
    Q, _ = torch.linalg.qr(torch.randn(64, 64, generator=torch.Generator().manual_seed(3)))
    _, gram, exact = engine(Q[:40] * 5.0)  # 40 orthogonal rows of norm 5
    assert gram["mean_cos2"] == pytest.approx(0.0, abs=1e-8)  # float32 products: ~1e-10 floor
    assert exact["mean_abs_cos"] == pytest.approx(0.0, abs=1e-6)
    assert exact["max_abs_cos"] < 1e-6
    assert gram["participation_ratio"] == pytest.approx(40, rel=1e-5)


def test_duplicated_rows_have_overlap_one():
    row = torch.randn(1, 12, generator=torch.Generator().manual_seed(4))
    W = torch.cat([row * s for s in (1.0, 2.0, -3.0, 0.5, -1.0)])  # same line, both signs
    _, gram, exact = engine(W)
    assert gram["mean_cos2"] == pytest.approx(1.0, rel=1e-6)
    assert exact["mean_abs_cos"] == pytest.approx(1.0, rel=1e-6)
    assert exact["std_abs_cos"] == pytest.approx(0.0, abs=1e-3)
    assert gram["participation_ratio"] == pytest.approx(1.0, rel=1e-6)


def test_equal_norm_tight_frame_reaches_the_frame_bound():
    m = 10
    gen = torch.Generator().manual_seed(5)
    Q1, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    Q2, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    W = torch.cat([Q1, Q2])  # two orthonormal bases: UᵀU = 2I
    _, gram, _ = engine(W.float())
    assert gram["mean_cos2"] == pytest.approx(frame_bound(2 * m, m), rel=1e-6)
    assert frame_bound(2 * m, m) == pytest.approx(1 / (2 * m - 1))


def test_zero_row_normalises_to_zero_and_others_exactly_like_the_authors():
    W = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    U, norms = overlap.normalize_rows(W)
    assert norms.tolist() == [5.0, 0.0]
    assert U[0].tolist() == [np.float32(0.6), np.float32(0.8)]  # w / ‖w‖, no epsilon
    assert U[1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("scale", [1e-30, 1e-40, 1e30])  # 1e-40: float32 subnormal rows
def test_tiny_and_huge_rows_normalise_to_unit_length(scale):
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(300, 12, generator=gen)
    W[:5] *= scale
    U, _ = overlap.normalize_rows(W)
    lengths = torch.linalg.vector_norm(U.double(), dim=1)
    assert torch.allclose(lengths, torch.ones(300, dtype=torch.float64), atol=1e-6)
    c, _ = direct_cosines(W.numpy())  # numpy normalises the float64 copy: scale-free
    assert overlap.gram_statistics(U)["mean_cos2"] == pytest.approx(np.mean(c**2), rel=1e-5)


def test_top_eigenvalue_lanczos_matches_a_full_decomposition():
    gen = torch.Generator().manual_seed(4)
    X = torch.randn(3000, overlap.EIGSH_MIN_WIDTH + 200, generator=gen, dtype=torch.float64)
    X += 0.2 * torch.randn(overlap.EIGSH_MIN_WIDTH + 200, generator=gen, dtype=torch.float64)
    G = X.T @ X
    expected = float(np.linalg.eigvalsh(G.numpy())[-1])
    assert overlap.top_eigenvalue(G) == pytest.approx(expected, rel=1e-10)


def test_exact_pass_estimate_counts_the_flops_of_the_pass():
    U, _ = overlap.normalize_rows(torch.randn(1000, 32, generator=torch.Generator().manual_seed(5)))
    rows = overlap.block_rows_for(1000, 400 * 1000 * 4)  # 400-row blocks: 400, 400, 200
    # blocks cover the upper triangle with their diagonal blocks: Σ rows_b × (n − start_b)
    expected = 2 * 32 * (400 * 1000 + 400 * 600 + 200 * 200)
    exact = overlap.pairwise_statistics(U, budget_bytes=400 * 1000 * 4, progress=False)
    assert exact["matmul_flops"] == expected
    assert pass_cost.exact_pass_flops(1000, 32, rows) == expected
    est = pass_cost.estimate_exact_pass(U, 400 * 1000 * 4)
    assert est["flops"] == expected and est["matmul_flops_per_s"] > 1e6
    assert est["seconds"] == pytest.approx(expected / (est["matmul_flops_per_s"] * 0.75))
