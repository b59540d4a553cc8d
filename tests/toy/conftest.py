"""Toy-model tests run single-threaded: their tensors are tiny, and on a shared 2-core machine
OpenMP threads spinning against other processes make them 10-100x slower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
