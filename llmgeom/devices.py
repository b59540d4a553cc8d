"""The one place that turns a ``--device`` value into a :class:`torch.device`.

Accepted everywhere (measure, toy, loss): ``auto`` (CUDA when available, else CPU), ``cpu``,
``cuda`` and ``cuda:N``. A device that is not there is a :class:`~llmgeom.errors.ConfigError`
with one line saying what is available.

Example:
    >>> resolve_device("cpu").type
    'cpu'
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (default: CUDA when available, else CPU), cpu, cuda or cuda:N"


def check_device_name(device: str | torch.device) -> str:
    """``device`` if it is a name llmgeom accepts, without asking whether it exists here.

    For configuration files that may be written on one machine and run on another.

    Example:
        >>> check_device_name("cuda:1")
        'cuda:1'
        >>> check_device_name("cuda:x")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: unknown device 'cuda:x' (use auto, cpu, cuda or cuda:N)
    """
    if str(device) != "auto":
        _parse(device)
    return str(device)


def _parse(device: str | torch.device) -> torch.device:
    import torch  # here, not at import: the CLI builds its help (DEVICE_HELP) without torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):  # ValueError: an index beyond int64
        raise ConfigError(
            f"unknown device {str(device)!r} (use auto, cpu, cuda or cuda:N)"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {str(device)!r} (use auto, cpu, cuda or cuda:N)")
    return dev


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device`, checked to exist on this machine.

    Example:
        >>> import torch
        >>> resolve_device(torch.device("cpu"))
        device(type='cpu')
        >>> resolve_device("tpu")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: unknown device 'tpu' (use auto, cpu, cuda or cuda:N)
    """
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = _parse(device)
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {str(device)!r} requested but no CUDA GPU is available")
        if dev.index is not None and dev.index >= count:
            raise ConfigError(
                f"device {str(device)!r} requested but only {count} CUDA device(s) exist"
            )
    return dev
