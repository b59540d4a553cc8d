"""Measurement records for fit tests, written by ``llmgeom.measure`` itself (never by hand).

A random matrix of the wanted head width is measured (Gram statistics only, fast); the model's
identity and mean cos² are then set to what the test needs, so every other field is exactly
what a real result file holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from llmgeom.geometry.measurement import measure


def measured_record(name: str, family: str, head: int, d_model: int, mean_cos2: float,
                    center: bool = False) -> dict:  # fmt: skip
    """A ``llmgeom.measurement/1`` record for model ``name`` with the given mean cos²."""
    W = torch.randn(head + 8, head, generator=torch.Generator().manual_seed(head))
    record = measure(W, pairs="gram", center=center, progress=False).to_dict()
    record["model"].update(source=name, repo_id=name, family=family, d_model=d_model)
    record["stats"]["mean_cos2"] = mean_cos2
    return record


def write_measured_record(path: Path, *args, **kwargs) -> None:
    """:func:`measured_record` saved as JSON at ``path``."""
    path.write_text(json.dumps(measured_record(*args, **kwargs)))
