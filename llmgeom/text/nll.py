"""The forward pass of :func:`~llmgeom.text.loss.compute_loss`: a batch of token rows padded,
run through the model once, and each row's summed negative log-likelihood Σ −log p(x_t | x_<t)
taken from the logits (log-softmax at each target in float32, summed in float64; padding
masked out, position ids counted over real tokens only).

Example:
    >>> ids, mask = pad_batch([[5, 6, 7], [8, 9]])
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 9, 0]], [[1, 1, 1], [1, 1, 0]])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

_ROWS_PER_CHUNK = 4096  # target positions per float32 log-softmax chunk (bounds the extra memory)


def _accepts_position_ids(model: torch.nn.Module) -> bool:
    try:
        return "position_ids" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return False


def pad_batch(
    rows: Sequence[Sequence[int]], padding_side: str = "right", pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of ``rows`` padded to the longest with ``pad_id``.

    Example:
        >>> ids, mask = pad_batch([[5, 6, 7], [8, 9]], padding_side="left")
        >>> ids.tolist(), mask.tolist()
        ([[5, 6, 7], [0, 8, 9]], [[1, 1, 1], [0, 1, 1]])
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row)
        start = 0 if padding_side == "right" else width - n
        ids[i, start : start + n] = torch.as_tensor(row, dtype=torch.long)
        mask[i, start : start + n] = 1
    return ids, mask


def _target_nll(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row Σ −log p(x_t | x_<t) over real (unpadded) targets, float64, shape (rows,)."""
    valid = (mask[:, 1:] & mask[:, :-1]).bool()
    rows = valid.nonzero()[:, 0]
    pred = logits[:, :-1][valid]  # (targets, vocab): only the positions that count
    targets = ids[:, 1:][valid]
    nll = torch.empty(targets.shape[0], dtype=torch.float64, device=logits.device)
    for start in range(0, targets.shape[0], _ROWS_PER_CHUNK):
        part = pred[start : start + _ROWS_PER_CHUNK].float()
        tgt = targets[start : start + _ROWS_PER_CHUNK, None]
        # −log softmax at the target = logsumexp − logit, in float32, summed in float64
        nll[start : start + _ROWS_PER_CHUNK] = (
            torch.logsumexp(part, dim=-1) - part.gather(1, tgt).squeeze(1)
        ).double()
    out = torch.zeros(ids.shape[0], dtype=torch.float64, device=logits.device)
    return out.index_add_(0, rows, nll)


def forward_nll(
    model: torch.nn.Module,
    rows: Sequence[Sequence[int]],
    *,
    padding_side: str = "right",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Σ −log p(x_t | x_<t) of each row (float64, on the CPU), one padded forward pass.

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> _ = torch.manual_seed(0)
        >>> m = GPT2LMHeadModel(GPT2Config(vocab_size=11, n_embd=8, n_layer=1, n_head=2,
        ...                                n_positions=8, bos_token_id=0, eos_token_id=0)).eval()
        >>> both = forward_nll(m, [[1, 2, 3], [4, 5]])
        >>> alone = forward_nll(m, [[4, 5]])
        >>> bool(torch.allclose(both[1], alone[0]))
        True
    """
    dev = torch.device(device) if device is not None else input_device(model)
    ids, mask = pad_batch(rows, padding_side)
    ids, mask = ids.to(dev), mask.to(dev)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
    if _accepts_position_ids(model):
        # count positions over real tokens so that left padding does not shift them
        kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        logits = model(**kwargs).logits
        return _target_nll(logits, ids, mask).cpu()


def input_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's input embeddings (where its ``input_ids`` go).

    Example:
        >>> input_device(torch.nn.Linear(2, 2))
        device(type='cpu')
    """
    hf_model: Any = model  # the getter is a transformers method, untyped on nn.Module
    try:
        return hf_model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device
