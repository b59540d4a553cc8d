"""Per-token interference, weighted interference and nearest neighbours against plain O(n²)
numpy loops over the full float64 cosine matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.geometry.normalize import normalize_rows
from llmgeom.geometry.token_interference import (
    nearest_neighbours,
    token_interference,
    weighted_token_interference,
)


def cosines(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    unit = W / np.linalg.norm(W, axis=1, keepdims=True)
    return unit @ unit.T


def loop_interference(W: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """Σ_{j≠i} p_j cos²_ij / Σ_{j≠i} p_j, one token at a time (p = 1: the plain mean)."""
    C = cosines(W)
    n = C.shape[0]
    p = np.ones(n) if p is None else np.asarray(p, dtype=np.float64)
    out = np.empty(n)
    for i in range(n):
        num = den = 0.0
        for j in range(n):
            if j != i:
                num += p[j] * C[i, j] ** 2
                den += p[j]
        out[i] = num / den
    return out


def unit(W: np.ndarray) -> torch.Tensor:
    U, _ = normalize_rows(torch.from_numpy(np.asarray(W, dtype=np.float32)))
    return U


def random_head(n: int = 300, m: int = 16, shift: float = 0.7, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m)) + shift  # a shared direction: uneven crowding


def duplicated_head() -> np.ndarray:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((40, 8))
    return np.concatenate([base, base[:10] * 3.0, -base[10:15]])  # copies, scaled and flipped


@pytest.mark.parametrize("W", [random_head(), random_head(shift=0.0, seed=2), duplicated_head()])
def test_interference_equals_the_loop(W):
    got = token_interference(unit(W)).numpy()
    np.testing.assert_allclose(got, loop_interference(W), rtol=2e-5, atol=1e-8)


def test_orthonormal_rows_have_no_interference():
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((24, 24)))
    got = token_interference(unit(Q[:15] * np.arange(1, 16)[:, None])).numpy()
    np.testing.assert_allclose(got, 0.0, atol=1e-7)


def test_duplicated_rows_interfere_fully():
    W = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    np.testing.assert_allclose(token_interference(unit(W)).numpy(), [1 / 3, 1 / 3, 0, 0], atol=1e-7)


@pytest.mark.parametrize("W", [random_head(), duplicated_head()])
def test_weighted_interference_equals_the_loop(W):
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 50, W.shape[0]).astype(np.float64) ** 2
    got = weighted_token_interference(unit(W), torch.from_numpy(counts)).numpy()
    np.testing.assert_allclose(got, loop_interference(W, counts), rtol=2e-5, atol=1e-8)


def test_weighted_with_equal_counts_is_the_plain_mean():
    W = random_head(seed=5)
    U = unit(W)
    got = weighted_token_interference(U, torch.ones(W.shape[0])).numpy()
    np.testing.assert_allclose(got, token_interference(U).numpy(), rtol=1e-5)


def test_a_token_carrying_all_the_weight_has_no_weighted_value():
    U = unit(random_head(n=5, m=3))
    got = weighted_token_interference(U, torch.tensor([0.0, 3.0, 0.0, 0.0, 0.0])).numpy()
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()


@pytest.mark.parametrize("W", [random_head(n=257), duplicated_head()])
def test_nearest_neighbour_equals_argmax_of_abs_cos(W):
    C = np.abs(cosines(W))
    np.fill_diagonal(C, -1.0)
    partner, best = nearest_neighbours(unit(W), budget_bytes=40 * W.shape[0] * 4)  # many blocks
    partner, best = partner.numpy(), best.numpy()
    np.testing.assert_allclose(best, C.max(axis=1), atol=1e-6)
    # ties (a row and its copies) may pick any of the equals: the partner's |cos| is the max
    np.testing.assert_allclose(C[np.arange(len(W)), partner], C.max(axis=1), atol=1e-6)
    assert (partner != np.arange(len(W))).all()
    if W.shape[0] == 257:  # no ties: the very argmax
        assert (partner == C.argmax(axis=1)).all()


def test_the_mean_over_tokens_is_the_mean_cos2_of_measure():
    W = torch.from_numpy(random_head(seed=6).astype(np.float32))
    table = llmgeom.token_table(W, progress=False)
    expected = llmgeom.measure(W, pairs="gram", progress=False).mean_cos2
    assert table.mean_interference == pytest.approx(expected, rel=1e-6)


def test_chunks_do_not_change_the_quadratic_forms():
    from llmgeom.geometry.gram import gram_matrix
    from llmgeom.geometry.token_interference import quadratic_forms

    U = unit(random_head(n=100, seed=7))
    G = gram_matrix(U)
    expected = np.einsum("ia,ab,ib->i", U.double().numpy(), G.numpy(), U.double().numpy())
    np.testing.assert_allclose(quadratic_forms(U, G, chunk_rows=7).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(quadratic_forms(U, G).numpy(), expected, rtol=1e-6)
