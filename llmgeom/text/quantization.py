"""Loading a causal LM in 8 or 4 bits (``quantization="8bit"`` / ``"4bit"``): transformers'
``BitsAndBytesConfig``, which needs the ``bitsandbytes`` package (the ``quant`` extra) and a
CUDA GPU. Where either is missing, :func:`bitsandbytes_config` raises a one-line
:class:`~llmgeom.errors.ConfigError` naming ``quantization`` before anything is loaded.

The authors' script (``cali-1.py``) loaded every model in 8 bits by default; llmgeom loads them
as they are (``"none"``) unless asked.

Example:
    >>> import torch
    >>> bitsandbytes_config("none", torch.float32) is None
    True
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from ..errors import ConfigError
from ..options import check_choice
from .options import QUANTIZATIONS


def bitsandbytes_installed() -> bool:
    """Whether the ``bitsandbytes`` package can be imported (without importing it).

    Example:
        >>> isinstance(bitsandbytes_installed(), bool)
        True
    """
    return importlib.util.find_spec("bitsandbytes") is not None


def cuda_present() -> bool:
    """Whether torch sees a CUDA GPU (bitsandbytes' 8- and 4-bit kernels run only there).

    Example:
        >>> isinstance(cuda_present(), bool)
        True
    """
    return torch.cuda.is_available()


def bitsandbytes_config(
    quantization: str | None, dtype: torch.dtype, device: torch.device | None = None
) -> Any:
    """transformers' ``BitsAndBytesConfig`` for ``quantization`` (``"8bit"``, ``"4bit"``; 4-bit
    computes in ``dtype``), None for ``"none"``. ``device``: the device asked for (None: let
    accelerate place the model). A one-line :class:`ConfigError` naming ``quantization`` where
    bitsandbytes or a CUDA GPU is missing, or the device asked for is not a GPU.

    Example:
        >>> bitsandbytes_config("2bit", torch.float32)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: quantization must be one of '8bit', '4bit', 'none', got '2bit'
    """
    if quantization is None or quantization == "none":
        return None
    check_choice("quantization", quantization, QUANTIZATIONS)
    if not bitsandbytes_installed():
        raise ConfigError(
            f"quantization={quantization!r} needs bitsandbytes, which is not installed "
            "(pip install 'llmgeom[quant]')",
            parameter="quantization",
        )
    if not cuda_present():
        raise ConfigError(
            f"quantization={quantization!r} needs a CUDA GPU (bitsandbytes), and torch sees none",
            parameter="quantization",
        )
    if device is not None and device.type != "cuda":
        raise ConfigError(
            f"quantization={quantization!r} needs a CUDA GPU, not device={str(device)!r}",
            parameter=("quantization", "device"),
        )
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype)
