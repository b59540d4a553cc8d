"""The superposition dial, the Adam step and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch

from llmgeom.toy.optim import DIAL_EPS, Adam, apply_dial, dial_factor, lr_factor

W_HAND = torch.tensor(
    [
        [[3.0, 4.0, 0.0], [0.0, 0.3, 0.4], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        [[1.0, 2.0, 2.0], [0.6, 0.0, 0.8], [0.0, -0.2, 0.0], [2.0, 0.0, 0.0]],
    ],
    dtype=torch.float64,
)  # row norms: [5, 0.5, 1, 0] and [3, 1, 0.2, 2]


def test_dial_weight_decay_for_nonnegative_gamma() -> None:
    lr, gamma = 0.01, torch.tensor([0.55, 0.0], dtype=torch.float64)
    W = apply_dial(W_HAND.clone(), gamma, lr)
    assert torch.allclose(W[0], W_HAND[0] * (1 - lr * 0.55), rtol=0, atol=1e-15)
    assert torch.equal(W[1], W_HAND[1])  # γ = 0: untouched


def test_dial_row_norm_growth_for_negative_gamma() -> None:
    lr, gamma = 0.1, torch.tensor([-1.0, -0.5], dtype=torch.float64)
    W = apply_dial(W_HAND.clone(), gamma, lr)
    for k, g in enumerate(gamma.tolist()):
        for i in range(W_HAND.shape[1]):
            row = W_HAND[k, i]
            norm = float(row.norm())
            expected = row - lr * g * row * (1.0 / (norm + DIAL_EPS) - 1.0)
            assert torch.allclose(W[k, i], expected, rtol=0, atol=1e-15)
    # by hand: the norm-5 row shrinks to 5 - 0.1·(5 - 1) = 4.6, the norm-0.5 row grows to 0.55
    assert float(W[0, 0].norm()) == pytest.approx(4.6)
    assert float(W[0, 1].norm()) == pytest.approx(0.55)
    assert float(W[0, 2].norm()) == pytest.approx(1.0)  # unit rows are a fixed point
    assert torch.equal(W[0, 3], W_HAND[0, 3])  # a zero row stays zero


def test_dial_factor_mixed_signs_in_one_stack() -> None:
    c = dial_factor(W_HAND, torch.tensor([0.3, -1.0], dtype=torch.float64))
    assert c.shape == (2, 4, 1)
    assert torch.all(c[0] == 0.3)
    norms = W_HAND[1].norm(dim=1)
    assert torch.allclose(c[1, :, 0], -(1 / (norms + DIAL_EPS) - 1))


def test_schedule_matches_the_authors() -> None:
    steps, warmup = 20000, 2000
    assert lr_factor(0, steps, warmup) == pytest.approx(1 / 2000)
    assert lr_factor(1998, steps, warmup) == pytest.approx(1999 / 2000)
    assert lr_factor(1999, steps, warmup) == pytest.approx(1.0)
    mid = warmup + (steps - warmup) // 2 - 1  # s = step + 1 halfway through the cosine
    assert lr_factor(mid, steps, warmup) == pytest.approx(0.05 + 0.95 * 0.5)
    assert lr_factor(steps - 1, steps, warmup) == pytest.approx(0.05)
    # no warm-up phase when warmup >= steps: a plain cosine
    assert lr_factor(4, 10, 10) == pytest.approx(0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_adam_matches_torch_adam() -> None:
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(5, 4, generator=g, dtype=torch.float64)
    ref = p0.clone().requires_grad_()
    opt = torch.optim.Adam([ref], lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    mine, state = p0.clone(), Adam()
    for step in range(20):
        grad = torch.randn(5, 4, generator=g, dtype=torch.float64)
        lr = 1e-2 * (1 + step) / 20
        for group in opt.param_groups:
            group["lr"] = lr
        ref.grad = grad.clone()
        opt.step()
        state.step(mine, grad, lr)
    assert torch.allclose(mine, ref.detach(), rtol=0, atol=1e-12)
