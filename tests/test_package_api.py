"""The top-level names of ``llmgeom`` resolve, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import llmgeom


def test_every_public_name_resolves():
    missing = [name for name in llmgeom.__all__ if getattr(llmgeom, name, None) is None]
    assert missing == []
    assert llmgeom.compute_loss.__module__ == "llmgeom.text.loss"
    assert llmgeom.count_tokens.__module__ == "llmgeom.text.freq"
    assert llmgeom.MeasureOptions().pairs == "auto"


def test_import_does_not_load_torch():
    code = "import sys, llmgeom; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_building_the_cli_does_not_load_torch():
    # `llmgeom --help` and every command's argument parsing stay fast: help defaults come from
    # torch-free modules (llmgeom.options, llmgeom.toy.config, llmgeom.devices)
    code = (
        "import sys; from llmgeom.cli import build_parser; build_parser();"
        " import llmgeom.toy.config; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
