"""Fixtures of the Hub tests: a local fake Hub serving tiny checkpoints of every paper family."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hub_repos import TinyRepo, build_repos
from hub_server import FakeHub


@pytest.fixture(scope="session")
def fake_hub_session() -> Iterator[tuple[FakeHub, dict[str, TinyRepo]]]:
    """One fake Hub (hub + CDN servers) for the whole session, stopped at teardown."""
    hub = FakeHub().start()
    try:
        yield hub, build_repos(hub)
    finally:
        hub.stop()


@pytest.fixture
def fake_hub(fake_hub_session, tmp_path, monkeypatch) -> FakeHub:
    """The fake Hub, counters reset, with ``HF_ENDPOINT`` pointing at it and a fresh ``HF_HOME``."""
    from huggingface_hub import constants

    from llmgeom.sources import hub_http

    hub, _ = fake_hub_session
    hub.reset()
    for var in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_ASSETS_CACHE",
        "HUGGINGFACE_ASSETS_CACHE",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "LLMGEOM_HUB_REF_TTL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # huggingface_hub 2.4 builds its user agent with a once-a-day request to
    # {import-time endpoint}/api/agent-harnesses unless telemetry is off: keep it off here.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hub_http, "RETRY", hub_http.RetryPolicy(max_retries=3, base=0.01, cap=0.05))
    yield hub
    hub.reset()


@pytest.fixture
def tiny(fake_hub_session) -> dict[str, TinyRepo]:
    """The served repositories, by short name."""
    return fake_hub_session[1]
