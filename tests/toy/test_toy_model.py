"""The hand-written sparse/batched gradient against autograd, and the analytic W = 0 loss."""

from __future__ import annotations

import pytest
import torch

from llmgeom.toy.data import FeatureSampler, frequencies
from llmgeom.toy.metrics import feature_loss_floor
from llmgeom.toy.model import batch_loss, forward_dense, loss_and_grads


@pytest.mark.parametrize("density", [1.0, 4.0])
def test_loss_and_grads_equal_autograd(density: float) -> None:
    n, m, K, batch = 120, 6, 3, 96
    p = frequencies(n, "power", 1.0, density)
    gen = torch.Generator().manual_seed(0)
    x = FeatureSampler(p, batch, gen, dtype=torch.float64).sample()
    W = torch.randn(K, n, m, generator=gen, dtype=torch.float64)
    b = torch.randn(K, n, generator=gen, dtype=torch.float64)
    loss, gW, gb = loss_and_grads(W.clone(), b.clone(), x)
    xd = x.to_dense()
    for k in range(K):
        Wk, bk = W[k].clone().requires_grad_(), b[k].clone().requires_grad_()
        residual = forward_dense(Wk, bk, xd) - xd
        torch.nn.functional.mse_loss(forward_dense(Wk, bk, xd), xd).backward()
        assert float(loss[k]) == pytest.approx(float((residual.detach() ** 2).sum()), rel=1e-12)
        assert torch.allclose(gW[k], Wk.grad, rtol=1e-10, atol=1e-14)
        assert torch.allclose(gb[k], bk.grad, rtol=1e-10, atol=1e-14)
    assert torch.allclose(batch_loss(W, b, x), loss, rtol=1e-12)


def test_zero_weights_with_optimal_bias_give_the_analytic_loss() -> None:
    # W = 0: y = ReLU(b), and the best constant output for x_i >= 0 is b_i = E[x_i] = p_i <v> = p_i,
    # so the expected per-sample loss is Σ_i E[(x_i - p_i)²] = Σ_i (<v²> p_i - p_i²).
    n, batch, draws = 500, 4096, 30
    p = frequencies(n, "power", 1.0)
    analytic = float(feature_loss_floor(p).sum())
    assert analytic == pytest.approx(float((4 / 3 * p - p**2).sum()))
    W, b = torch.zeros(1, n, 3), p.float()[None]
    sampler = FeatureSampler(p, batch, torch.Generator().manual_seed(11))
    per_batch = torch.stack([batch_loss(W, b, sampler.sample())[0] / batch for _ in range(draws)])
    se = float(per_batch.std() / draws**0.5)
    assert float(per_batch.mean()) == pytest.approx(analytic, abs=4 * se)
    assert se < 0.01 * analytic
    # and that bias is optimal: any shift raises the expected loss by n·shift² (here 500·0.01²)
    shifted = torch.stack(
        [batch_loss(W, b + 0.01, sampler.sample())[0] / batch for _ in range(draws)]
    )
    assert float(shifted.mean() - per_batch.mean()) == pytest.approx(n * 0.01**2, abs=4 * se)


def test_empty_samples_only_see_the_bias() -> None:
    from llmgeom.toy.data import SparseBatch

    x = SparseBatch(
        5, 3, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0), 0
    )
    b = torch.tensor([[1.0, -2.0, 0.5]])
    loss, gW, gb = loss_and_grads(torch.ones(1, 3, 2), b, x)
    assert loss.tolist() == [5 * (1.0 + 0.25)]
    assert torch.equal(gW, torch.zeros(1, 3, 2))
    assert torch.allclose(gb, 2 * 5 * torch.relu(b) / 15)


@pytest.mark.parametrize("alpha", [0.0, 2.5])
def test_chunked_and_single_feature_paths_equal_autograd(monkeypatch, alpha: float) -> None:
    """A stack stepped one configuration at a time (chunk size 1), on batches dominated by
    repeated single-feature samples (α = 2.5: few distinct features) or by distinct ones
    (α = 0), against autograd on the dense batch, configuration by configuration."""
    import llmgeom.toy.model as model

    monkeypatch.setattr(model, "CHUNK_ELEMENTS", 1)
    n, m, K, batch = 80, 5, 3, 200
    gen = torch.Generator().manual_seed(3)
    x = FeatureSampler(frequencies(n, "power", alpha), batch, gen, dtype=torch.float64).sample()
    counts = torch.bincount(x.rows, minlength=x.n_rows)
    assert int((counts == 1).sum()) > 40 and int((counts > 1).sum()) > 5  # both paths used
    assert model.chunk_size(K, x) == 1
    W = torch.randn(K, n, m, generator=gen, dtype=torch.float64)
    b = torch.randn(K, n, generator=gen, dtype=torch.float64)
    loss, gW, gb = loss_and_grads(W.clone(), b.clone(), x, loss_scale=3.0)
    xd = x.to_dense()
    for k in range(K):
        Wk, bk = W[k].clone().requires_grad_(), b[k].clone().requires_grad_()
        (3.0 * torch.nn.functional.mse_loss(forward_dense(Wk, bk, xd), xd)).backward()
        dense_loss = float(((forward_dense(W[k], b[k], xd) - xd) ** 2).sum())
        assert float(loss[k]) == pytest.approx(dense_loss, rel=1e-12)
        assert torch.allclose(gW[k], Wk.grad, rtol=1e-10, atol=1e-14)
        assert torch.allclose(gb[k], bk.grad, rtol=1e-10, atol=1e-14)
    assert torch.allclose(batch_loss(W, b, x), loss, rtol=1e-12)
