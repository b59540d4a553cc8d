"""Every docstring example in the package runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import llmgeom

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(llmgeom.__path__, prefix="llmgeom.")
    if not info.name.startswith("llmgeom.fits.")  # tests/fits/test_fits_doctests.py has these
    and info.name != "llmgeom.__main__"  # runs the CLI on import
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_modules_document_themselves():
    undocumented = [n for n in MODULES if not (importlib.import_module(n).__doc__ or "").strip()]
    assert undocumented == []
