"""The Hub transport against misbehaving servers, with huggingface_hub's production retry policy.

Retries, waits and resumes are the library's, unpatched; where a test would wait seconds, the
``fast_sleep`` fixture records the waits the client asks for instead of sleeping them (the fake
Hub never calls ``time.sleep``), so the schedule itself is checked.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx2
import pytest
import torch
from hub_repos import GATED_TOKEN
from hub_server import head_files
from huggingface_hub import constants

from llmgeom.errors import NetworkError
from llmgeom.sources.hub import load_hub_unembedding


def _on_head(repo):
    start, _ = repo.head_range()

    def match(method, path, rng):
        return "/lfs/" in path and bool(rng) and rng.startswith(f"bytes={start}-")

    return match


def test_503_then_success_waits_as_the_library_says(fake_hub, tiny):
    # real time: Retry-After 0 -> huggingface_hub waits 0 + 1 s before the second try
    repo = tiny["gpt2"]
    fault = fake_hub.add_fault(_on_head(repo), status=503, headers={"Retry-After": "0"})
    u = load_hub_unembedding("gpt2")
    assert fault.hits == 1 and torch.equal(u.weight, repo.head)
    tries = [r for r in fake_hub.records if _on_head(repo)(r.method, r.path, r.range)]
    assert [r.status for r in tries] == [503, 206]
    assert tries[1].t - tries[0].t >= 1.0


def test_429_retry_after_is_honoured(fake_hub, tiny, fast_sleep):
    fake_hub.add_fault(
        lambda m, p, r: p.startswith("/api/models/"), status=429, headers={"Retry-After": "7"}
    )
    u = load_hub_unembedding("gpt2")
    assert torch.equal(u.weight, tiny["gpt2"].head)
    assert fast_sleep == [8.0]  # Retry-After + 1 s, not the 1 s exponential start


def test_hanging_server_is_a_network_error_not_a_hang(fake_hub, tiny, monkeypatch, fast_sleep):
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.3)  # as HF_HUB_DOWNLOAD_TIMEOUT
    fault = fake_hub.add_fault(_on_head(tiny["gpt2"]), hang_s=3.0, times=None)
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match=r"no answer from .* within the timeout, after retries"):
        load_hub_unembedding("gpt2")
    assert time.monotonic() - t0 < 6 * 0.3 + 2  # 1 try + 5 retries of 0.3 s each, no more
    assert fault.hits == 6 and fast_sleep == [1, 2, 4, 8, 8]


def test_server_ignoring_range_is_refused(fake_hub, tiny, tmp_path):
    fake_hub.ignore_range = True  # every ranged GET answered 200 with the whole file
    with pytest.raises(NetworkError, match=r"answered HTTP 200 .*ignores HTTP Range"):
        load_hub_unembedding("gpt2")
    assert head_files(tmp_path) == []
    # the 8-byte length prefix was taken from the start of the 200 body (right bytes); the
    # header's range was then refused rather than read from the wrong offset
    cdn = [r for r in fake_hub.records if r.server == "cdn"]
    assert [r.status for r in cdn] == [200, 200]


def test_resumed_range_answered_whole_is_refused(fake_hub, tiny, tmp_path):
    repo = tiny["gpt2"]
    start, _ = repo.head_range()
    fake_hub.add_fault(_on_head(repo), cut=1000)  # cut, then http_get resumes at start + 1000

    def resumed(method, path, rng):
        return "/lfs/" in path and rng == f"bytes={start + 1000}-{start + 6144 - 1}"

    fake_hub.add_fault(resumed, ignore_range=True)  # ... and gets the whole file from byte 0
    with pytest.raises(NetworkError, match=r"more than the 6144 bytes asked for"):
        load_hub_unembedding("gpt2")
    assert head_files(tmp_path) == []


def test_renamed_repository_is_followed(fake_hub, tiny):
    fake_hub.renames["test-org/old-gpt2"] = "openai-community/gpt2"
    u = load_hub_unembedding("test-org/old-gpt2")
    assert torch.equal(u.weight, tiny["gpt2"].head)
    assert u.meta.repo_id == "test-org/old-gpt2" and u.meta.commit_sha == tiny["gpt2"].shas["main"]
    moved = [r for r in fake_hub.records if r.status == 307]
    assert moved and all("/old-gpt2/" in r.path for r in moved)
    assert u.meta.extra["hub"]["requests"] == fake_hub.requests  # redirect hops counted


def test_cdn_rejecting_authorization_gets_no_token(fake_hub, tiny, monkeypatch):
    fake_hub.cdn_rejects_auth = True
    # the switch works: a request carrying a token is refused by the CDN
    sha = tiny["gated"].shas["main"]
    url = f"{fake_hub.cdn_url}/lfs/test-org/gated-gpt2/{sha}/model.safetensors"
    refused = httpx2.get(url, headers={"Authorization": f"Bearer {GATED_TOKEN}"})
    assert refused.status_code == 400
    monkeypatch.setenv("HF_TOKEN", GATED_TOKEN)
    fake_hub.reset()
    fake_hub.cdn_rejects_auth = True
    u = load_hub_unembedding("test-org/gated-gpt2")  # gated: the Hub needs the token
    assert torch.equal(u.weight, tiny["gated"].head)
    hub_side = [r for r in fake_hub.records if r.server == "hub"]
    assert hub_side and all(r.auth == f"Bearer {GATED_TOKEN}" for r in hub_side)
    cdn = [r for r in fake_hub.records if r.server == "cdn"]
    assert cdn and all(r.auth is None and r.status == 206 for r in cdn)


def _child(out: Connection) -> None:
    """One cold-cache process: load the head, send back (cache outcome, digest) or the error."""
    try:
        u = load_hub_unembedding("openai-community/gpt2")
        out.send((u.meta.extra["hub"]["cache"], u.meta.sha256))
    except BaseException as err:  # reported to the test, which fails on it
        out.send(("error", repr(err)))


def test_three_concurrent_cold_processes_download_the_head_once(fake_hub, tiny, tmp_path):
    repo = tiny["gpt2"]
    start, _ = repo.head_range()

    def on_head_data(method, path, rng):
        return "/lfs/" in path and bool(rng) and int(rng[6:].split("-")[0]) >= start

    def three_asked() -> bool:
        return sum(r.path.startswith("/api/models/") for r in fake_hub.records) >= 3

    # the first head request is answered only once all three processes have resolved the
    # revision, so they all reach the download together: without a lock, each would fetch it
    fake_hub.add_fault(on_head_data, hold=three_asked, hold_s=30.0, times=None)
    fork = multiprocessing.get_context("fork")  # the children inherit this process's setup
    pipes = [fork.Pipe(duplex=False) for _ in range(3)]
    procs = [fork.Process(target=_child, args=(send,)) for _, send in pipes]
    for proc in procs:
        proc.start()
    results = [recv.recv() if recv.poll(60) else ("timeout", "") for recv, _ in pipes]
    for proc in procs:
        proc.join(10)
    assert sorted(r[0] for r in results) == ["hit", "hit", "miss"], results
    assert len({r[1] for r in results}) == 1  # one tensor for all
    head_bytes = repo.head.numel() * repo.head.element_size()
    served = [r for r in fake_hub.records if on_head_data(r.method, r.path, r.range)]
    assert sum(r.sent for r in served) == head_bytes  # the head crossed the network once
    assert len([p for p in head_files(tmp_path) if p.suffix == ".safetensors"]) == 1
    assert Path(tmp_path / "hf-home" / "assets" / "llmgeom").is_dir()
