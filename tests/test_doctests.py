"""Every docstring example in the package runs and prints what it says; every module has some.

One runner for the whole package (the fits included): a module it lists with no examples fails,
so a module cannot silently drop out of the doctests.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import llmgeom

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(llmgeom.__path__, prefix="llmgeom.")
    if info.name != "llmgeom.__main__"  # runs the CLI on import
)

#: Modules allowed to have no examples: none (the rule is strict for every module).
WITHOUT_EXAMPLES: frozenset[str] = frozenset()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"


def test_every_module_is_listed_including_the_fits():
    assert {"llmgeom.fits.line", "llmgeom.fits.paper", "llmgeom.fits._util"} <= set(MODULES)
    assert WITHOUT_EXAMPLES <= set(MODULES)


def test_public_modules_document_themselves():
    undocumented = [n for n in MODULES if not (importlib.import_module(n).__doc__ or "").strip()]
    assert undocumented == []
