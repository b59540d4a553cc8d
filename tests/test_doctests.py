"""Every docstring example in the package runs and prints what it says; every public module has
some.

One runner for the whole package (the fits included). A public module (no part of its dotted name
starts with an underscore) with no examples fails, so it cannot silently drop out of the
doctests; a private module's examples run when it has some, but none are required. Examples
leave the process as they found it: none registers a runner, source or format for everyone after
it, and none names a file with ``tempfile.mktemp`` (a race: ``mkdtemp`` then a name inside).
"""

from __future__ import annotations

import ast
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


def is_public(name: str) -> bool:
    """Whether no part of the dotted module ``name`` is private (``llmgeom.fits._util`` is)."""
    return not any(part.startswith("_") for part in name.split("."))


PUBLIC = [name for name in MODULES if is_public(name)]

#: Public modules allowed to have no examples: none (the rule is strict for the public API).
WITHOUT_EXAMPLES: frozenset[str] = frozenset()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if is_public(name) and name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"


def test_the_rule_covers_public_modules_and_still_runs_private_ones():
    assert {"llmgeom.fits.line", "llmgeom.paper.published", "llmgeom.toy.training"} <= set(PUBLIC)
    assert {"llmgeom._atomic", "llmgeom.fits._util", "llmgeom.sources._reasons"} <= set(MODULES)
    assert not {"llmgeom._atomic", "llmgeom.fits._util"} & set(PUBLIC)
    assert WITHOUT_EXAMPLES <= set(PUBLIC)


def _example_sources(name: str) -> list[str]:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    return [example.source for test in tests for example in test.examples]


def _global_state_calls(source: str) -> list[str]:
    """The calls in ``source`` that change the process for later code: ``register_*(...)`` of
    a registry, ``tempfile.mktemp`` (a name another process may take first)."""
    calls = (ast.unparse(n.func) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call))
    return [c for c in calls if c.split(".")[-1].startswith("register_") or c.endswith("mktemp")]


@pytest.mark.parametrize("name", MODULES)
def test_examples_leave_global_state_alone(name):
    found = [
        (call, source) for source in _example_sources(name) for call in _global_state_calls(source)
    ]
    assert found == []


def test_the_global_state_check_sees_registrations_and_mktemp():
    assert _example_sources("llmgeom.errors")  # the finder sees a module's function examples too
    source = 'register_runner("hello", f)\nunits.register_runner("x", f)\np = tempfile.mktemp()'
    assert _global_state_calls(source) == [
        "register_runner",
        "units.register_runner",
        "tempfile.mktemp",
    ]
    assert _global_state_calls("d = tempfile.mkdtemp()\nregistered_sources()") == []


def test_public_modules_document_themselves():
    undocumented = [n for n in MODULES if not (importlib.import_module(n).__doc__ or "").strip()]
    assert undocumented == []
