"""The examples in the fits' docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "_util",
    "_varpro",
    "_huber",
    "bootstrap",
    "io",
    "overlap_law",
    "width_loss",
    "chinchilla",
    "paper",
    "plots",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"llmgeom.fits.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
