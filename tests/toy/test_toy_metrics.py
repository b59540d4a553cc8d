"""Geometry metrics and the loss predictions, against direct computations and the paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmgeom.toy.data import frequencies
from llmgeom.toy.metrics import (
    frame_bound,
    ideal_weak_loss,
    mean_cos2,
    row_geometry,
    unlearned_loss,
)


def test_mean_cos2_equals_the_pairwise_mean() -> None:
    W = torch.randn(50, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Wh = W / W.norm(dim=1, keepdim=True)
    c = (Wh @ Wh.T) ** 2
    direct = float((c.sum() - c.diagonal().sum()) / (50 * 49))
    assert mean_cos2(W) == pytest.approx(direct, rel=1e-7)
    assert mean_cos2(W[:1]) is None


def test_random_unit_vectors_average_one_over_m() -> None:
    W = torch.randn(4000, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert mean_cos2(W) == pytest.approx(1 / 20, rel=0.03)


def test_frame_bound_is_reached_by_a_tight_frame() -> None:
    # three unit vectors at 120 degrees in R^2 form a tight frame: cos² = 1/4 = (3-2)/(2·2)
    angles = torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64) * torch.pi / 3
    W = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    assert mean_cos2(W) == pytest.approx(frame_bound(3, 2)) and frame_bound(3, 2) == 0.25
    assert frame_bound(2, 5) == 0.0


def test_row_geometry_by_hand() -> None:
    W = torch.tensor([[3.0, 4.0], [0.0, 0.8], [0.4, 0.0], [0.0, 0.0], [1.0, 1.0]])
    g = row_geometry(W)
    assert g["phi"] == pytest.approx(3 / 5)
    assert g["n_represented"] == 3
    assert g["strong_fraction"] == pytest.approx(2 / 5)
    assert g["represented_mask"].tolist() == [True, True, False, False, True]
    # represented directions (0.6, 0.8), (0, 1), (0.71, 0.71): cos² .64, .98, .5 → mean .7067
    expected = (0.64 + (0.6 + 0.8) ** 2 / 2 + 0.5) / 3
    assert g["mean_cos2_norm_gt_half"] == pytest.approx(expected, rel=1e-6)
    # strongly represented (norm > 1): (3, 4) and (1, 1) only: cos² = (0.6 + 0.8)² / 2 = 0.98
    assert g["n_strong"] == 2
    assert g["mean_cos2_strong"] == pytest.approx(0.98, rel=1e-6)
    assert g["frame_bound_strong"] == 0.0 and g["frame_bound_norm_gt_half"] == 0.25
    assert g["inverse_m"] == 0.5
    assert sum(g["norm_hist_counts"]) + g["norm_hist_above"] == 5
    assert g["norm_hist_above"] == 1  # the norm-5 row


def test_unlearned_loss_sums_the_floor_of_dropped_features() -> None:
    p = frequencies(10, "linear")
    represented = torch.tensor([True] * 3 + [False] * 7)
    expected = float(sum(4 / 3 * q - q**2 for q in p[3:].tolist()))
    assert unlearned_loss(p, represented) == pytest.approx(expected)
    assert unlearned_loss(p, torch.ones(10, dtype=torch.bool)) == 0.0


def test_ideal_weak_loss_reproduces_the_paper_table() -> None:
    # paper §5 [calc]: n = 10240, p ∝ i^-1.2, m = 8 ... 1024
    p = frequencies(10240, "power", 1.2)
    got = [round(ideal_weak_loss(p, 2**k), 3) for k in range(3, 11)]
    assert got == [0.684, 0.573, 0.473, 0.384, 0.307, 0.239, 0.180, 0.128]


def _pairwise_cos2_loop(W: np.ndarray, threshold: float) -> float | None:
    """Direct O(n²) reference: mean of cos² over ordered pairs of distinct rows above threshold."""
    rows = [w for w in W if np.sqrt(sum(float(v) ** 2 for v in w)) > threshold]
    total, pairs = 0.0, 0
    for i, a in enumerate(rows):
        for j, c in enumerate(rows):
            if i != j:
                dot = sum(float(u) * float(v) for u, v in zip(a, c, strict=True))
                total += dot**2 / (sum(float(u) ** 2 for u in a) * sum(float(v) ** 2 for v in c))
                pairs += 1
    return total / pairs if pairs else None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlaps_equal_a_direct_pairwise_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 40, 5
    W = rng.normal(size=(n, m))
    W *= (rng.uniform(0.2, 1.8, size=n) / np.linalg.norm(W, axis=1))[:, None]  # norms 0.2..1.8
    g = row_geometry(torch.from_numpy(W))
    norms = np.linalg.norm(W, axis=1)
    assert g["n_strong"] == int((norms > 1).sum())
    assert g["n_represented"] == int((norms > 0.5).sum())
    assert 2 <= g["n_strong"] < g["n_represented"] < n
    # (mean_cos2 normalises rows with a 1e-9 guard, so agreement is to ~1e-8, not to rounding)
    assert g["mean_cos2_strong"] == pytest.approx(_pairwise_cos2_loop(W, 1.0), rel=1e-7)
    assert g["mean_cos2_norm_gt_half"] == pytest.approx(_pairwise_cos2_loop(W, 0.5), rel=1e-7)


def test_overlap_of_orthonormal_rows_is_zero_and_of_duplicated_rows_one() -> None:
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))
    ortho = row_geometry(torch.from_numpy(1.5 * Q))  # 8 orthogonal rows of norm 1.5 in R^8
    assert ortho["n_strong"] == 8 and ortho["mean_cos2_strong"] == pytest.approx(0.0, abs=1e-12)
    assert ortho["frame_bound_strong"] == 0.0
    direction = np.array([0.6, 0.0, -0.8])
    dup = np.outer(np.array([1.2, 1.7, 3.0, -2.0]), direction)  # one direction, both signs
    assert row_geometry(torch.from_numpy(dup))["mean_cos2_strong"] == pytest.approx(1.0, rel=1e-7)
    # strong rows orthogonal, weak rows (norm in (1/2, 1]) all along one more direction: the
    # ‖W‖ > 1 overlap stays 0 while the ‖W‖ > 1/2 one is pulled up, as in strong superposition
    mixed = np.vstack([1.5 * np.eye(3), 0.7 * np.tile(np.ones(3) / np.sqrt(3), (6, 1))])
    g = row_geometry(torch.from_numpy(mixed))
    assert g["mean_cos2_strong"] == pytest.approx(0.0, abs=1e-12)
    assert g["mean_cos2_norm_gt_half"] == pytest.approx(_pairwise_cos2_loop(mixed, 0.5), rel=1e-7)
    assert g["mean_cos2_norm_gt_half"] > 0.5


def test_mean_cos2_leaves_zero_rows_out_and_agrees_with_measure() -> None:
    import llmgeom
    from llmgeom.geometry.baselines import frame_bound as baselines_frame_bound

    W = torch.randn(40, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with_zeros = torch.cat([W[:20], torch.zeros(3, 6, dtype=torch.float64), W[20:]])
    Wh = W / W.norm(dim=1, keepdim=True)
    c = (Wh @ Wh.T) ** 2  # the direct mean over the 40 non-zero rows only
    direct = float((c.sum() - c.diagonal().sum()) / (40 * 39))
    assert mean_cos2(with_zeros) == pytest.approx(direct, rel=1e-12)
    measured = llmgeom.measure(with_zeros.float(), pairs="gram").mean_cos2
    assert mean_cos2(with_zeros) == pytest.approx(measured, rel=1e-6)  # the same definition
    assert mean_cos2(torch.cat([W[:1], torch.zeros(4, 6)])) is None  # one direction: no pair
    assert frame_bound is baselines_frame_bound  # one frame bound for the toy and measure
