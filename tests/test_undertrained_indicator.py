"""The under-trained indicators (llmgeom.geometry.undertrained) against direct float64 numpy
computations: the first principal component from numpy's SVD of the centered rows, the cosine
distances by a plain loop, the input norms by numpy, the candidates by numpy's percentile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmgeom.errors import ConfigError
from llmgeom.geometry.undertrained import (
    first_principal_component,
    input_norms,
    low_tail,
    reference_cosine_distance,
)


def oracle(W: np.ndarray, reference: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """1 - cos(w_i - (w_i.v)v, mean over the reference of the same), v from numpy's SVD."""
    rows = W[usable].astype(np.float64)
    _, _, vt = np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
    v = vt[0]
    without = W.astype(np.float64) - np.outer(W.astype(np.float64) @ v, v)
    r = without[usable & reference].mean(axis=0)
    out = np.full(W.shape[0], np.nan)
    for i in range(W.shape[0]):
        if not usable[i]:
            continue
        w = without[i]
        norm = np.sqrt(sum(x * x for x in w))
        if norm == 0:
            continue
        out[i] = 1.0 - sum(a * b for a, b in zip(w, r, strict=True)) / (
            norm * np.sqrt(sum(x * x for x in r))
        )
    return out


def structured(n: int = 300, m: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a strong shared direction and offset (as trained heads), a cluster of
    "unused" rows near one direction, and the reference mask of part of that cluster."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=m)
    W = rng.normal(size=(n, m)) + 3.0 * rng.normal(size=(n, 1)) * shared + 0.5
    unused = rng.normal(size=m)
    W[-40:] = unused + 0.05 * rng.normal(size=(40, m))
    reference = np.zeros(n, dtype=bool)
    reference[-20:] = True
    return W, reference


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("block_rows", [7, 8192])
def test_indicator_equals_the_svd_and_loop_oracle(dtype, block_rows):
    W, reference = structured()
    weight = torch.from_numpy(W).to(dtype)
    stored = weight.double().numpy()  # the oracle sees the rows as stored
    got = reference_cosine_distance(weight, reference, block_rows=block_rows)
    want = oracle(stored, reference, np.ones(len(W), dtype=bool))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # the unused cluster's other half is near the reference, ordinary rows far from it
    assert got[-40:-20].max() < 0.05 < np.median(got[:-40])


def test_random_rows_and_a_zero_row_and_unusable_rows():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(80, 6))
    W[3] = 0.0
    W[5, 2] = np.nan
    reference = np.zeros(80, dtype=bool)
    reference[[10, 11, 12, 5]] = True
    usable = np.isfinite(W).all(axis=1)
    got = reference_cosine_distance(torch.from_numpy(W), reference)
    want = oracle(np.nan_to_num(W), reference, usable)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert np.isnan(got[3]) and np.isnan(got[5]) and np.isfinite(np.delete(got, [3, 5])).all()


def test_first_component_is_the_top_right_singular_vector():
    W, _ = structured(seed=2)
    v = first_principal_component(torch.from_numpy(W), block_rows=13).numpy()
    vt = np.linalg.svd(W - W.mean(axis=0), full_matrices=False)[2]
    assert abs(abs(v @ vt[0]) - 1.0) < 1e-12


def test_no_usable_reference_or_a_zero_mean_is_a_config_error():
    W = torch.randn(20, 4, dtype=torch.float64)
    with pytest.raises(ConfigError, match="no usable row"):
        reference_cosine_distance(W, np.zeros(20, dtype=bool))
    W[:2] = 0.0  # the only reference rows have no direction
    reference = np.zeros(20, dtype=bool)
    reference[:2] = True
    with pytest.raises(ConfigError, match="mean is zero"):
        reference_cosine_distance(W, reference)


def test_input_norms_and_the_low_tail_are_numpys():
    E = np.random.default_rng(3).normal(size=(50, 7)).astype(np.float32)
    np.testing.assert_allclose(
        input_norms(torch.from_numpy(E), block_rows=9),
        np.linalg.norm(E.astype(np.float64), axis=1),
        rtol=1e-12,
    )
    values = np.random.default_rng(4).normal(size=200)
    values[7] = np.nan
    eligible = np.arange(200) % 3 != 0
    mask, threshold = low_tail(values, eligible, 2.0)
    pool = values[eligible & np.isfinite(values)]
    assert threshold == np.percentile(pool, 2.0)
    want = [i for i in range(200) if eligible[i] and values[i] <= threshold]
    assert np.flatnonzero(mask).tolist() == want
    assert low_tail(values, np.zeros(200, dtype=bool), 2.0)[1] is None
