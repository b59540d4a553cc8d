"""Geometry metrics and the loss predictions, against direct computations and the paper."""

from __future__ import annotations

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
    assert g["mean_cos2_represented"] == pytest.approx(expected, rel=1e-6)
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
