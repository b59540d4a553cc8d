"""The superposition dial, an AdamW-style update and the warm-up + cosine schedule (paper §5).

The dial acts on ``W`` only, before the Adam step, with the scheduled learning rate ``η``:

* ``γ ≥ 0``: ``W ← W − ηγW`` (decoupled weight decay → weak superposition);
* ``γ < 0``: ``W_i ← W_i − ηγ W_i (1/‖W_i‖ − 1)`` row by row (rows pulled to unit norm →
  strong superposition).

Everything is batched over a leading configuration axis ``K`` (one γ per configuration).

Example:
    >>> import torch
    >>> W = torch.tensor([[[3.0, 4.0]]])  # one configuration, one row of norm 5
    >>> round(float(apply_dial(W, torch.tensor([-1.0]), lr=0.1).norm()), 5)  # 5 + 0.1·(1 - 5)
    4.6
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

DIAL_EPS: float = 1e-8  # added to row norms, as in the authors' optimizer


def lr_factor(step: int, steps: int, warmup: int, final_fraction: float = 0.05) -> float:
    """Multiplier of the peak learning rate at 0-based ``step``: linear warm-up, cosine decay.

    Matches the authors' ``get_lr``: the factor reaches ``final_fraction`` at the last step; with
    ``warmup >= steps`` the whole run is a cosine decay.

    Example:
        >>> [round(lr_factor(s, 10, 2), 4) for s in (0, 1, 9)]
        [0.5, 1.0, 0.05]
    """
    s = step + 1
    lo = final_fraction
    if warmup < steps:
        if s < warmup:
            return s / warmup
        return (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * (s - warmup) / (steps - warmup))) + lo
    return (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * s / steps)) + lo


def dial_factor(W: torch.Tensor, gamma: torch.Tensor, eps: float = DIAL_EPS) -> torch.Tensor:
    """Per-row multiplier ``c`` such that the dial is ``W ← W − η c W``; shape ``[K, n, 1]``.

    ``c = γ`` for ``γ ≥ 0`` and ``c = γ (1/(‖W_i‖ + eps) − 1)`` for ``γ < 0``.

    Example:
        >>> import torch
        >>> dial_factor(torch.ones(2, 1, 4), torch.tensor([0.5, -1.0])).flatten().tolist()
        [0.5, 0.5]
    """
    g = gamma.to(W.dtype).reshape(-1, 1, 1)
    norms = torch.linalg.vector_norm(W, dim=2, keepdim=True)
    return torch.where(g >= 0, g, g * (1.0 / (norms + eps) - 1.0))


def apply_dial(W: torch.Tensor, gamma: torch.Tensor, lr: float | torch.Tensor) -> torch.Tensor:
    """Apply the superposition dial in place to ``W`` (``[K, n, m]``) and return it.

    ``lr`` is the scheduled learning rate of ``W`` (a float or a ``[K]`` tensor).

    Example:
        >>> import torch
        >>> apply_dial(torch.full((1, 1, 2), 2.0), torch.tensor([0.5]), lr=0.1).tolist()
        [[[1.899999976158142, 1.899999976158142]]]
    """
    lr_t = torch.as_tensor(lr, dtype=W.dtype, device=W.device).reshape(-1, 1, 1)
    return W.sub_(lr_t * dial_factor(W, gamma) * W)


@dataclass
class Adam:
    """Adam moments for one parameter tensor (``betas=(0.9, 0.999)``, ``eps=1e-8``).

    Example:
        >>> import torch
        >>> p, opt = torch.zeros(3), Adam()
        >>> _ = opt.step(p, torch.ones(3), lr=0.1)
        >>> [round(v, 6) for v in p.tolist()]  # the first Adam step moves by lr·sign(grad)
        [-0.1, -0.1, -0.1]
    """

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    exp_avg: torch.Tensor | None = field(default=None, repr=False)
    exp_avg_sq: torch.Tensor | None = field(default=None, repr=False)

    def step(
        self, param: torch.Tensor, grad: torch.Tensor, lr: float | torch.Tensor
    ) -> torch.Tensor:
        """One in-place update of ``param``; ``lr`` may be a float or broadcastable tensor."""
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(param)
            self.exp_avg_sq = torch.zeros_like(param)
        assert self.exp_avg_sq is not None  # the moments are created together
        self.t += 1
        bc1 = 1.0 - self.beta1**self.t
        bc2 = 1.0 - self.beta2**self.t
        self.exp_avg.mul_(self.beta1).add_(grad, alpha=1.0 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1.0 - self.beta2)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(self.eps)
        step = self.exp_avg / denom
        return param.sub_(
            step.mul_(torch.as_tensor(lr, dtype=param.dtype, device=param.device) / bc1)
        )
