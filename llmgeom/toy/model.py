"""The toy model ``y = ReLU(W Wᵀ x + b)`` with a hand-written, batched, sparse-aware gradient.

``K`` configurations that share a width are stacked: ``W`` is ``[K, n, m]``, ``b`` is ``[K, n]``,
and one sparse batch is shared by all of them. Work per step and configuration:

* ``h = Wᵀ x`` gathers the few active rows of ``W`` (an ``index_add``, O(nnz·m), no dense matmul);
* all-zero samples (about e^-E of a batch) are factored out: they only see ``ReLU(b)``;
* ``z = W h + b`` and its two gradient products are the only dense matmuls (``bmm``);
* samples with one active feature ``j`` (most of a batch with E ≈ 1) have ``z = v W W_jᵀ + b``:
  the dense products run once per *distinct* such feature, and their gradients are summed per
  feature before the products (with p ∝ i^-α a batch of 2048 holds ~750 such samples but only
  ~280 distinct features at α = 1, ~30 at α = 2);
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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Parts:
    """A sparse batch split by the number of active features per sample.

    Multi-feature samples keep their coordinates (``rows`` renumbered 0..n_multi-1). A sample
    with one active feature ``j`` of value ``v`` has ``h = v W_j`` and ``z = v (W W_j) + b``: only
    the ``d`` distinct such features need a dense product ``W W_jᵀ`` (``uniq``; ``inv`` maps each
    single sample to its feature among them), so the dense work of those samples scales with
    ``d``, not with their number (with p ∝ i^-α most of them repeat the frequent features).
    """

    rows: torch.Tensor
    cols: torch.Tensor
    vals: torch.Tensor
    n_multi: int
    uniq: torch.Tensor
    inv: torch.Tensor
    single_vals: torch.Tensor


def _split(x: SparseBatch) -> _Parts:
    counts = torch.bincount(x.rows, minlength=x.n_rows)
    single = counts[x.rows] == 1
    multi_row = counts > 1
    renumber = torch.cumsum(multi_row, 0) - 1
    multi = ~single
    uniq, inv = torch.unique(x.cols[single], return_inverse=True)
    return _Parts(
        renumber[x.rows[multi]],
        x.cols[multi],
        x.vals[multi],
        int(multi_row.sum()),
        uniq,
        inv,
        x.vals[single],
    )


def _preacts(
    W: torch.Tensor, b: torch.Tensor, parts: _Parts
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(H, Z_multi, G, Z_single)``: hidden states and pre-activations of the multi-feature
    samples, the rows ``G = W[uniq]`` and the pre-activations of the single-feature samples."""
    K, _, m = W.shape
    H = torch.zeros(K, parts.n_multi, m, dtype=W.dtype, device=W.device)
    H.index_add_(1, parts.rows, W[:, parts.cols] * parts.vals[None, :, None])
    Z_multi = torch.baddbmm(b[:, None, :], H, W.transpose(1, 2))
    G = W[:, parts.uniq]
    U = torch.bmm(G, W.transpose(1, 2))  # [K, d, n]: W W_jᵀ per distinct single feature
    Z_single = torch.addcmul(b[:, None, :], U[:, parts.inv], parts.single_vals[None, :, None])
    return H, Z_multi, G, Z_single


def _residual_(
    Z: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, need_loss: bool
) -> torch.Tensor | None:
    """Turn pre-activations ``Z`` in place into ``(y - x) 1[z > 0]`` (half of dL/dz); return the
    summed ``(y - x)²`` per configuration (float64) when ``need_loss``."""
    Z.relu_()  # ReLU(z) = y; off the active set it is also the residual y - x
    act = Z[:, rows, cols]  # y at active positions
    loss = None
    if need_loss:
        loss = torch.linalg.vector_norm(Z, dim=(1, 2)).double() ** 2
        loss += ((act - vals).square() - act.square()).sum(1).double()
    Z[:, rows, cols] = act - vals * (act > 0)  # dL/dz = 2 (y - x) 1[z > 0]
    return loss


def _single_rows(parts: _Parts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    idx = torch.arange(parts.inv.numel(), device=parts.inv.device)
    return idx, parts.uniq[parts.inv], parts.single_vals


def _loss_and_grads(
    W: torch.Tensor,
    b: torch.Tensor,
    x: SparseBatch,
    parts: _Parts,
    need_loss: bool,
    loss_scale: float,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    H, Z_multi, G, Z_single = _preacts(W, b, parts)
    loss_multi = _residual_(Z_multi, parts.rows, parts.cols, parts.vals, need_loss)
    loss_single = _residual_(Z_single, *_single_rows(parts), need_loss)
    relu_b = torch.relu(b)
    loss = None
    if loss_multi is not None and loss_single is not None:
        loss = loss_multi + loss_single + x.n_empty * relu_b.square().sum(1).double()
    gb = Z_multi.sum(1) + Z_single.sum(1) + x.n_empty * relu_b
    # multi-feature samples: dW = Rᵀ H + scatter of (R W) into the active rows
    gH = torch.bmm(Z_multi, W)
    gW = torch.bmm(Z_multi.transpose(1, 2), H)
    gW.index_add_(1, parts.cols, gH[:, parts.rows] * parts.vals[None, :, None])
    # single-feature samples, summed per feature first: A_j = Σ_{s: j} v_s R_s
    A = torch.zeros(W.shape[0], parts.uniq.numel(), W.shape[1], dtype=W.dtype, device=W.device)
    A.index_add_(1, parts.inv, Z_single * parts.single_vals[None, :, None])
    gW.baddbmm_(A.transpose(1, 2), G)
    gW.index_add_(1, parts.uniq, torch.bmm(A, W))
    scale = 2.0 * loss_scale / (x.batch * x.n_features)
    return loss, gW.mul_(scale), gb.mul_(scale)


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
    exactly as the authors train; the returned loss is never scaled. The stack is processed
    :func:`chunk_size` configurations at a time.

    Example:
        >>> import torch
        >>> from llmgeom.toy.data import SparseBatch
        >>> x = SparseBatch(2, 3, torch.tensor([0]), torch.tensor([0]), torch.tensor([1.0]), 1)
        >>> loss, gW, gb = loss_and_grads(torch.zeros(1, 3, 2), torch.ones(1, 3), x)
        >>> round(float(loss), 5)  # sample 1: (1-1)² + 1 + 1, sample 2 (empty): 1 + 1 + 1
        5.0
    """
    parts = _split(x)
    chunk = chunk_size(W.shape[0], x)
    if chunk >= W.shape[0]:
        return _loss_and_grads(W, b, x, parts, need_loss, loss_scale)
    pieces = [
        _loss_and_grads(W[k : k + chunk], b[k : k + chunk], x, parts, need_loss, loss_scale)
        for k in range(0, W.shape[0], chunk)
    ]
    losses = [piece[0] for piece in pieces if piece[0] is not None]
    loss = torch.cat(losses) if need_loss else None
    return loss, torch.cat([p[1] for p in pieces]), torch.cat([p[2] for p in pieces])


CHUNK_ELEMENTS: int = 1 << 20
"""Most elements of one ``[configurations, samples, n]`` intermediate (4 MiB in float32)."""


def chunk_size(configurations: int, x: SparseBatch) -> int:
    """How many stacked configurations one pass of the step takes: as many as keep the
    ``[chunk, non-empty samples, n]`` intermediates within :data:`CHUNK_ELEMENTS` (at least one).

    The step's elementwise work on those intermediates is memory-bound: measured on the 2-core
    machine (one thread, n = 1000, batch 2048, m = 10), a stack of 10 took 2.7x as long per
    configuration as one at a time, its 50 MB intermediates having left the cache. Results do
    not depend on the chunking (each configuration's arithmetic is the same).

    Example:
        >>> import torch
        >>> from llmgeom.toy.data import SparseBatch
        >>> x = SparseBatch(4096, 1000, torch.zeros(2000, dtype=torch.long),
        ...                 torch.zeros(2000, dtype=torch.long), torch.ones(2000), 512)
        >>> chunk_size(10, x), chunk_size(1, x)
        (2, 1)
    """
    per_config = max(1, x.n_rows * x.n_features)
    return max(1, min(configurations, CHUNK_ELEMENTS // per_config))


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
    parts = _split(x)
    chunk = chunk_size(W.shape[0], x)
    return torch.cat(
        [_batch_loss(W[k : k + chunk], b[k : k + chunk], x, parts) for k in range(0, len(W), chunk)]
    )


def _batch_loss(W: torch.Tensor, b: torch.Tensor, x: SparseBatch, parts: _Parts) -> torch.Tensor:
    _, Z_multi, _, Z_single = _preacts(W, b, parts)
    loss = _residual_(Z_multi, parts.rows, parts.cols, parts.vals, True)
    loss_single = _residual_(Z_single, *_single_rows(parts), True)
    assert loss is not None and loss_single is not None  # need_loss=True
    return loss + loss_single + x.n_empty * torch.relu(b).square().sum(1).double()
