"""Griffe extension: read llmgeom's docstrings as the Google style they nearly are.

llmgeom's docstrings are prose with an ``Example:`` section of doctests and, here and there, a
Sphinx role (``:func:`name```). Griffe's Google parser knows ``Examples:`` (plural) and no
roles, so before parsing, ``Example:`` becomes ``Examples:`` (rendered as a code block rather
than an admonition of loose text) and a role becomes a plain code span. The source files are
not changed; only what the API reference shows.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
SPHINX_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`~?\.?([^`]+)`")


def rewrite(text: str) -> str:
    """The docstring ``text`` with ``Example:`` as ``Examples:`` and Sphinx roles as code."""
    text = EXAMPLE_HEADING.sub(r"\1Examples:", text)
    return SPHINX_ROLE.sub(r"`\1`", text)


class GoogleExamples(griffe.Extension):
    """Rewrite each object's docstring (see the module docstring) once it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
