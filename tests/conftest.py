"""Shared fixtures: make the test helpers (tests/checkpoints.py) importable everywhere.

The Hugging Face cache goes to a fresh temporary folder *before anything is imported*:
``huggingface_hub`` reads ``HF_HOME`` once, when it is first imported (during collection, by the
test modules), so the environment is set at the top of this file, the first conftest pytest
loads. Variables that would send a cache elsewhere are dropped. Each test still gets its
own ``HF_HOME`` (the fixture below) for code that reads the environment at call time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# before any import of huggingface_hub, transformers or llmgeom (the imports above make none)
SESSION_HF_HOME = tempfile.mkdtemp(prefix="llmgeom-tests-hf-home-")
os.environ["HF_HOME"] = SESSION_HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
for _variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_XET_CACHE", "HF_ASSETS_CACHE"):
    os.environ.pop(_variable, None)

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_unconfigure(config):
    shutil.rmtree(SESSION_HF_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_hf_home(tmp_path_factory, monkeypatch):
    """Never touch the user's Hugging Face cache; never reach the network by accident."""
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub.constants

    # read once at import time: patch the constant too, or a first request may phone home
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)


@pytest.fixture
def without_cuda(monkeypatch):
    """This machine as one without a CUDA GPU (``torch.cuda`` reports none), GPU or not."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
