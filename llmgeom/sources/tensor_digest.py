"""Checksums of tensors as stored, so a result names exactly the matrix it measured.

Example:
    >>> import torch
    >>> tensor_sha256(torch.zeros(2, 2))[:12]
    '374708fff771'
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def tensor_sha256(tensor: torch.Tensor | np.ndarray) -> str:
    """SHA-256 of the tensor's raw bytes (C order, stored dtype)."""
    if isinstance(tensor, np.ndarray):
        data = np.ascontiguousarray(tensor).view(np.uint8)
    else:
        data = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()
    return hashlib.sha256(memoryview(data.reshape(-1))).hexdigest()
