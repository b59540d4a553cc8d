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

from ..progress import progress_bar

PIECE_BYTES = 64 * 2**20  # hashed piece by piece: a progress bar for multi-GB heads


def tensor_sha256(tensor: torch.Tensor | np.ndarray) -> str:
    """SHA-256 of the tensor's raw bytes (C order, stored dtype)."""
    if isinstance(tensor, torch.Tensor):  # as bytes first: numpy has no bfloat16
        tensor = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()
    view = np.ascontiguousarray(tensor).reshape(-1).view(np.uint8).data  # a memoryview
    digest = hashlib.sha256()
    with progress_bar(len(view), "checksum", unit="B") as bar:
        for start in range(0, len(view), PIECE_BYTES):
            piece = view[start : start + PIECE_BYTES]
            digest.update(piece)
            bar.update(len(piece))
    return digest.hexdigest()
