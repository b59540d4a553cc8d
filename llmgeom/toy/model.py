"""The toy model ``y = ReLU(W Wᵀ x + b)`` with a hand-written, batched, sparse-aware gradient.

``K`` configurations that share a width are stacked: ``W`` is ``[K, n, m]``, ``b`` is ``[K, n]``,
and one sparse batch is shared by all of them. Work per step and configuration:

* ``h = Wᵀ x`` gathers the few active rows of ``W`` (an ``index_add``, O(nnz·m), no dense matmul);
* all-zero samples (about e^-E of a batch) are factored out: they only see ``ReLU(b)``;
* ``z = W h + b`` and its two gradient products are the only dense matmuls (``bmm``);
* ``y - x`` is non-zero off the active set only where ``ReLU(z) > 0``, so the residual and the
  gradient are ``ReLU(z)`` corrected at the ``nnz`` active positions.

The objective is the authors' ``MSELoss`` (mean over samples *and* features); reported losses are
summed over features (per sample), as in the paper.

Example:
    >>> import torch
    >>> from llmgeom.toy.data import FeatureSampler, frequencies
    >>> x = FeatureSampler(frequencies(50), 32, torch.Generator().manual_seed(0)).sample()
    >>> W, b = torch.zeros(1, 50, 5), torch.zeros(1, 50)
    >>> loss, gW, gb = loss_and_grads(W, b, x)
    >>> bool(torch.allclose(loss, (x.to_dense() ** 2).sum().double()))
    True
"""

from __future__ import annotations

import torch

from .data import SparseBatch


def forward_dense(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reference forward pass on a dense batch: ``ReLU(x W Wᵀ + b)`` (``W`` is ``[n, m]``).

    Example:
        >>> import torch
        >>> forward_dense(torch.eye(2), torch.zeros(2), torch.tensor([[1.0, 0.0]])).tolist()
        [[1.0, 0.0]]
    """
    return torch.relu(x @ W @ W.T + b)


def _hidden_and_preact(W: torch.Tensor, b: torch.Tensor, x: SparseBatch):
    K, _, m = W.shape
    H = torch.zeros(K, x.n_rows, m, dtype=W.dtype, device=W.device)
    H.index_add_(1, x.rows, W[:, x.cols] * x.vals[None, :, None])
    Z = torch.baddbmm(b[:, None, :], H, W.transpose(1, 2))
    return H, Z


def loss_and_grads(
    W: torch.Tensor,
    b: torch.Tensor,
    x: SparseBatch,
    need_loss: bool = True,
    loss_scale: float = 1.0,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Summed loss ``Σ_samples Σ_i (y_i - x_i)²`` per configuration and the gradients of the mean.

    Returns ``(loss_sum [K] float64 or None, dW [K, n, m], db [K, n])`` where the gradients are
    those of ``loss_scale · loss_sum / (batch · n)`` (PyTorch's ``MSELoss`` times ``loss_scale``),
    exactly as the authors train; the returned loss is never scaled.

    Example:
        >>> import torch
        >>> from llmgeom.toy.data import SparseBatch
        >>> x = SparseBatch(2, 3, torch.tensor([0]), torch.tensor([0]), torch.tensor([1.0]), 1)
        >>> loss, gW, gb = loss_and_grads(torch.zeros(1, 3, 2), torch.ones(1, 3), x)
        >>> round(float(loss), 5)  # sample 1: (1-1)² + 1 + 1, sample 2 (empty): 1 + 1 + 1
        5.0
    """
    H, Z = _hidden_and_preact(W, b, x)
    Z.relu_()  # ReLU(z) = y; off the active set it is also the residual y - x
    act = Z[:, x.rows, x.cols]  # y at active positions
    relu_b = torch.relu(b)
    loss = None
    if need_loss:
        loss = torch.linalg.vector_norm(Z, dim=(1, 2)).double() ** 2
        loss += ((act - x.vals).square() - act.square()).sum(1).double()
        loss += x.n_empty * relu_b.square().sum(1).double()
    # dL/dz = 2 (y - x) 1[z > 0]: only the active positions differ from ReLU(z)
    Z[:, x.rows, x.cols] = act - x.vals * (act > 0)
    gb = Z.sum(1) + x.n_empty * relu_b
    gH = torch.bmm(Z, W)
    gW = torch.bmm(Z.transpose(1, 2), H)
    gW.index_add_(1, x.cols, gH[:, x.rows] * x.vals[None, :, None])
    scale = 2.0 * loss_scale / (x.batch * x.n_features)
    return loss, gW.mul_(scale), gb.mul_(scale)


@torch.no_grad()
def batch_loss(W: torch.Tensor, b: torch.Tensor, x: SparseBatch) -> torch.Tensor:
    """Summed loss over the batch per configuration (float64 ``[K]``), no gradients.

    Example:
        >>> import torch
        >>> from llmgeom.toy.data import SparseBatch
        >>> x = SparseBatch(1, 2, torch.tensor([0]), torch.tensor([1]), torch.tensor([1.5]), 1)
        >>> batch_loss(torch.zeros(1, 2, 1), torch.zeros(1, 2), x).tolist()
        [2.25]
    """
    _, Z = _hidden_and_preact(W, b, x)
    Z.relu_()
    act = Z[:, x.rows, x.cols]
    loss = torch.linalg.vector_norm(Z, dim=(1, 2)).double() ** 2
    loss += ((act - x.vals).square() - act.square()).sum(1).double()
    loss += x.n_empty * torch.relu(b).square().sum(1).double()
    return loss
