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


def point_hub_at(monkeypatch: pytest.MonkeyPatch, url: str, home: Path) -> None:
    """Set huggingface_hub's configuration as HF_ENDPOINT=url HF_HOME=home would at import."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(home))
    for name, value in (
        ("ENDPOINT", url),
        ("HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"),
        ("HF_HOME", str(home)),
        ("HF_HUB_CACHE", str(home / "hub")),
        ("HF_ASSETS_CACHE", str(home / "assets")),
        ("HF_TOKEN_PATH", str(home / "token")),
        ("HF_HUB_OFFLINE", False),
    ):
        monkeypatch.setattr(constants, name, value)


@pytest.fixture
def fake_hub(fake_hub_session, tmp_path, monkeypatch) -> FakeHub:
    """The fake Hub, counters reset, huggingface_hub pointed at it with a fresh ``HF_HOME``."""
    from huggingface_hub import constants

    hub, _ = fake_hub_session
    hub.reset()
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LLMGEOM_HUB_REF_TTL"):
        monkeypatch.delenv(var, raising=False)
    point_hub_at(monkeypatch, hub.url, tmp_path / "hf-home")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # huggingface_hub 2.4 builds its user agent with a once-a-day request to
    # {import-time endpoint}/api/agent-harnesses unless telemetry is off: keep it off here.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    yield hub
    hub.reset()


@pytest.fixture
def fast_sleep(monkeypatch) -> list[float]:
    """The waits the client asks for, recorded instead of slept (the fake Hub never sleeps)."""
    import time

    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


@pytest.fixture
def tiny(fake_hub_session) -> dict[str, TinyRepo]:
    """The served repositories, by short name."""
    return fake_hub_session[1]
