"""The frequency direction (issue 18 §5): the ridge fit against scikit-learn called here and a
numpy solve on the same folds, the choice of alpha against a brute-force leave-one-out, the
projected mean cos² against a float64 loop over pairs and a closed form, and analytic heads
where the truth is known (rows that carry log(1 + count) along d; counts that have nothing to
do with the rows)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold, cross_val_score

import llmgeom
from llmgeom.geometry.frequency_direction import (
    fit_frequency_ridge,
    frequency_direction,
    projected_mean_cos2,
)
from llmgeom.records.token_table import TokenTable


def _grid(X: np.ndarray) -> np.ndarray:
    """The grid as documented: 1e-6 .. 1e3 times ‖X − mean row‖_F² / m, one per decade."""
    centred = X - X.mean(axis=0)
    return np.sum(centred**2) / X.shape[1] * 10.0 ** np.arange(-6, 4)


def _noisy_problem(seed: int = 0, n: int = 120, m: int = 6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)) * rng.uniform(0.5, 2.0, m)
    y = X @ rng.standard_normal(m) * 0.3 + rng.standard_normal(n)
    return X, y


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge with an unpenalised intercept, by the normal equations on centred data."""
    mean, y_mean = X.mean(axis=0), y.mean()
    Xc = X - mean
    coef = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (y - y_mean))
    return coef, y_mean - mean @ coef


def test_r2_and_alpha_are_sklearns_called_directly():
    X, y = _noisy_problem()
    fit = fit_frequency_ridge(X, y)
    alphas = _grid(X)
    np.testing.assert_allclose(fit.alphas, alphas, rtol=1e-12)
    direct = RidgeCV(alphas=alphas).fit(X, y)
    assert fit.alpha == direct.alpha_
    splits = KFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_score(Ridge(alpha=direct.alpha_), X, y, cv=splits, scoring="r2")
    np.testing.assert_allclose(fit.r2_folds, scores, rtol=1e-10)
    np.testing.assert_allclose(fit.direction, direct.coef_ / np.linalg.norm(direct.coef_))


def test_r2_per_fold_equals_a_numpy_solve_on_the_same_folds():
    X, y = _noisy_problem(seed=1)
    fit = fit_frequency_ridge(X, y)
    expected = []
    for train, test in KFold(n_splits=5, shuffle=True, random_state=0).split(X):
        coef, intercept = _ridge(X[train], y[train], fit.alpha)
        residual = y[test] - X[test] @ coef - intercept
        expected.append(1 - residual @ residual / np.sum((y[test] - y[test].mean()) ** 2))
    np.testing.assert_allclose(fit.r2_folds, expected, rtol=1e-9)
    coef, _ = _ridge(X, y, fit.alpha)
    np.testing.assert_allclose(fit.direction, coef / np.linalg.norm(coef), rtol=1e-9)


def test_alpha_minimises_the_brute_force_leave_one_out_error():
    X, y = _noisy_problem(seed=2, n=60, m=8)
    fit = fit_frequency_ridge(X, y)
    errors = []
    for alpha in fit.alphas:
        squared = 0.0
        for i in range(len(y)):
            rest = np.arange(len(y)) != i
            coef, intercept = _ridge(X[rest], y[rest], alpha)
            squared += (y[i] - X[i] @ coef - intercept) ** 2
        errors.append(squared)
    assert fit.alpha == fit.alphas[int(np.argmin(errors))]


def _pair_loop_mean_cos2(U: np.ndarray, d: np.ndarray) -> float:
    """Mean cos² over pairs i<j of the rows with d projected out, a float64 loop."""
    rows = []
    for u in U.astype(np.float64):
        rest = u - (u @ d) * d
        if np.linalg.norm(rest) >= 1e-6:
            rows.append(rest / np.linalg.norm(rest))
    total, pairs = 0.0, 0
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            total += float(rows[i] @ rows[j]) ** 2
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projected_mean_cos2_equals_a_loop_over_pairs(dtype, seed):
    rng = np.random.default_rng(seed)
    n, m = 37, 5
    W = rng.standard_normal((n, m)) + rng.standard_normal(m)  # a shared offset: crowded rows
    d = rng.standard_normal(m)
    d /= np.linalg.norm(d)
    W[[4, 9]] = [2.0 * d, -0.5 * d]  # nothing left after the projection: no part
    U = torch.from_numpy(W / np.linalg.norm(W, axis=1, keepdims=True)).to(dtype)
    projected = projected_mean_cos2(U, d, chunk_rows=8)
    rel = 1e-5 if dtype == torch.float32 else 1e-12
    assert projected.mean_cos2 == pytest.approx(_pair_loop_mean_cos2(U.numpy(), d), rel=rel)
    np.testing.assert_allclose(projected.along, U.double().numpy() @ d, rtol=1e-12, atol=1e-15)
    assert projected.n_along_direction == 2


def test_rows_of_plus_minus_d_and_orthonormal_parts_give_the_closed_form():
    rng = np.random.default_rng(3)
    m, groups = 9, 4
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    d, parts = Q[:, 0], Q[:, 1 : 1 + groups].T
    sizes = [5, 3, 7, 1]  # rows per orthonormal part
    rows = []
    for k, size in enumerate(sizes):
        for _ in range(size):
            sign, a = rng.choice([-1.0, 1.0]), rng.uniform(0.2, 40.0)
            rows.append(sign * a * d + parts[k])
    rows += [3.0 * d, -d]  # exactly ±d: no direction left
    W = np.array(rows)
    U = torch.from_numpy(W / np.linalg.norm(W, axis=1, keepdims=True)).float()
    n = sum(sizes)
    closed = sum(r * (r - 1) for r in sizes) / (n * (n - 1))  # cos² 1 in a part, 0 across
    projected = projected_mean_cos2(U, d)
    assert projected.mean_cos2 == pytest.approx(closed, rel=1e-6)
    assert projected.n_along_direction == 2


def _frequency_head(seed: int, n: int = 800, m: int = 12, a: float = 2.0):
    """Rows a·log(1 + c_i)·d plus noise orthogonal to d, counts Zipf-like with zeros."""
    rng = np.random.default_rng(seed)
    counts = np.floor(1e4 / np.arange(1, n + 1) ** 1.1 * rng.uniform(0.5, 1.5, n))
    counts[rng.choice(n, n // 10, replace=False)] = 0
    d = rng.standard_normal(m)
    d /= np.linalg.norm(d)
    noise = rng.standard_normal((n, m))
    noise -= np.outer(noise @ d, d)
    return a * np.outer(np.log1p(counts), d) + noise, counts, d


def test_rows_that_carry_log_frequency_give_r2_near_one_and_the_direction():
    W, counts, d = _frequency_head(seed=4)
    table = llmgeom.token_table(torch.from_numpy(W).float(), counts=counts, progress=False)
    block = table.to_dict()["frequency_direction"]
    assert block["computed"] is True
    assert block["r2_cv"]["mean"] > 0.999 and min(block["r2_cv"]["folds"]) > 0.999
    assert table.frequency_direction @ d > 0.9999  # +d: towards the frequent tokens
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    np.testing.assert_allclose(
        table.table["frequency_projection"], U @ table.frequency_direction, rtol=1e-5, atol=1e-6
    )
    assert block["fraction_explained"] == pytest.approx(
        1 - block["mean_cos2_without_direction"] / block["mean_cos2"], rel=1e-12
    )


def test_counts_that_have_nothing_to_do_with_the_rows_give_no_r2():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((2000, 16)).astype(np.float32)
    counts = rng.integers(0, 1000, 2000)
    table = llmgeom.token_table(torch.from_numpy(W), counts=counts, progress=False)
    r2 = table.to_dict()["frequency_direction"]["r2_cv"]
    assert r2["mean"] <= 0.01 and max(r2["folds"]) < 0.02


def _mean_cos2(U: np.ndarray) -> float:
    C = U @ U.T
    n = len(U)
    return float((np.sum(C**2) - np.trace(C**2)) / (n * (n - 1)))


def test_the_block_and_column_in_the_table_and_read_back(tmp_path):
    W, counts, _ = _frequency_head(seed=6, n=200, m=8, a=0.3)
    W[[7, 50]] = 0.0  # zero rows: no direction, no projection
    table = llmgeom.token_table(torch.from_numpy(W).float(), counts=counts, progress=False)
    block = table.to_dict()["frequency_direction"]
    kept = np.delete(np.arange(200), [7, 50])
    U = W[kept] / np.linalg.norm(W[kept], axis=1, keepdims=True)
    assert block["mean_cos2"] == pytest.approx(_mean_cos2(U), rel=1e-6)
    assert block["mean_cos2_without_direction"] == pytest.approx(
        _pair_loop_mean_cos2(U, table.frequency_direction), rel=1e-5
    )
    assert block["n_tokens"] == 198 and block["seed"] == 0 and len(block["r2_cv"]["folds"]) == 5
    assert np.isnan(table.table["frequency_projection"][[7, 50]]).all()
    _, summary = table.save(tmp_path)
    loaded = TokenTable.load(summary)
    np.testing.assert_array_equal(loaded.frequency_direction, table.frequency_direction)
    np.testing.assert_array_equal(
        loaded.table["frequency_projection"], table.table["frequency_projection"]
    )
    assert json.loads(summary.read_text())["frequency_direction"]["alpha"] == block["alpha"]
    assert "frequency direction: R^2" in table.summary()


@pytest.mark.parametrize(
    ("rows", "counts", "reason"),
    [(8, np.arange(8), "at least 10"), (30, np.full(30, 4), "the same count")],
)
def test_not_computed_says_why(rows, counts, reason):
    W = torch.randn(rows, 4, generator=torch.Generator().manual_seed(0))
    table = llmgeom.token_table(W, counts=counts, progress=False)
    block = table.to_dict()["frequency_direction"]
    assert block["computed"] is False and reason in block["reason"]
    assert "frequency_projection" not in table.table and table.frequency_direction is None
    assert "frequency direction not computed" in table.summary()


def test_no_counts_no_direction():
    table = llmgeom.token_table(torch.eye(12, 4), progress=False)
    assert "frequency_direction" not in table.to_dict() and table.frequency_direction is None


def test_the_features_are_the_raw_rows_from_unit_rows_and_norms():
    """The helper gets unit rows and their norms; its direction is the ridge of log(1 + count)
    on the raw rows ``norm_i · u_i``, solved here by the normal equations."""
    W, counts, _ = _frequency_head(seed=7, n=120, m=6, a=0.5)
    norms = np.linalg.norm(W, axis=1)
    U = torch.from_numpy(W / norms[:, None])
    _, block = frequency_direction(U, torch.from_numpy(norms), counts, U.T @ U)
    coef, _ = _ridge(W, np.log1p(counts), block["alpha"])
    np.testing.assert_allclose(block["direction"], coef / np.linalg.norm(coef), rtol=1e-8)
