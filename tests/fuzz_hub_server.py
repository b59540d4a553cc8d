"""The fake Hub of ``tests/hub/hub_server.py`` misbehaving on the weight file, for the Hub fuzz
targets (``tests/fuzz_targets_torch.py``).

One input of a Hub target is ``SCRIPT_BYTES`` bytes of script followed by the served file, so
the byte mutations reach the misbehaviour too and a crash replays as data (:func:`split_input`):
``mode`` (short bodies, a wrong ``Content-Range``, a 200 with the whole file, a redirect loop, a
``Content-Length`` that lies, a connection closed mid-body, a stall), from which CDN request on
(``first``), how many times (``times``, 0: every time) and by how much (``amount``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent / "hub"))
from hub_server import FakeHub

SCRIPT_BYTES = 8
MODES = (
    "honest",
    "short-body",  # fewer bytes than asked, Content-Range and Content-Length telling so
    "short-claims-full",  # fewer bytes, Content-Range claiming the whole range
    "wrong-content-range",  # the right bytes under a Content-Range shifted by a few bytes
    "whole-200",  # a 200 with the whole file instead of a 206
    "redirect-loop",  # a 302 to itself
    "length-too-long",  # Content-Length larger than the body, then the connection closed
    "length-too-short",  # Content-Length smaller than the body sent, then closed
    "cut-mid-body",  # the connection closed part way through the body
    "stall",  # nothing sent for STALL_S, then closed
)
STALL_S = 0.6  # longer than the client's timeouts set by hub_environment
_CDN = re.compile(r"^/lfs/(?P<repo>[^/]+/[^/]+)/(?P<sha>[0-9a-f]{40})/(?P<file>.+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Script:
    """How the CDN misbehaves for one input (decoded from its first bytes)."""

    mode: str = "honest"
    first: int = 0  # the first CDN request (0-based) that misbehaves
    times: int = 0  # how many do (0: all from ``first`` on)
    amount: int = 0  # by how many bytes (short bodies, shifted ranges, lying lengths)

    def encode(self) -> bytes:
        return (
            bytes([MODES.index(self.mode), self.first, self.times])
            + self.amount.to_bytes(4, "little")
            + b"\0"
        )


def split_input(data: bytes) -> tuple[Script, bytes]:
    """(script, served file) of one input; any bytes decode to some script."""
    head = data[:SCRIPT_BYTES].ljust(SCRIPT_BYTES, b"\0")
    script = Script(
        MODES[head[0] % len(MODES)], head[1] % 4, head[2] % 3, int.from_bytes(head[3:7], "little")
    )
    return script, data[SCRIPT_BYTES:]


class MisbehavingHub(FakeHub):
    """A :class:`FakeHub` whose CDN follows :attr:`script` (set per input, see :meth:`serve`)."""

    def __init__(self) -> None:
        super().__init__()
        self.script = Script()
        self.cdn_requests = 0

    def serve(self, script: Script) -> None:
        with self.lock:
            self.script, self.cdn_requests = script, 0

    def _misbehaves(self) -> Script | None:
        with self.lock:
            k, script = self.cdn_requests, self.script
            self.cdn_requests += 1
        if script.mode == "honest" or k < script.first:
            return None
        return script if script.times == 0 or k < script.first + script.times else None

    def handler(self, role: str) -> type[BaseHTTPRequestHandler]:
        base = super().handler(role)
        if role != "cdn":
            return base
        hub = self

        class Misbehaving(base):  # type: ignore[misc, valid-type]
            def handle(self) -> None:
                with contextlib.suppress(OSError):  # a client that hung up: not worth a traceback
                    super().handle()

            def _handle(self, method: str) -> None:
                script = hub._misbehaves() if method == "GET" else None
                data = self._data()
                if script is None or data is None:
                    super()._handle(method)
                else:
                    self._misbehave(script, data)

            def _data(self) -> bytes | None:
                m = _CDN.match(self.path.split("?")[0])
                repo = hub.repos.get(unquote(m["repo"])) if m else None
                if m is None or repo is None:
                    return None
                return repo.commits.get(m["sha"], {}).get(unquote(m["file"]))

            def _misbehave(self, script: Script, data: bytes) -> None:
                mode, amount = script.mode, script.amount
                start, stop = 0, len(data)
                match = _RANGE.match((self.headers.get("Range") or "").strip())
                if match:
                    start = int(match[1])
                    stop = min(len(data), int(match[2]) + 1 if match[2] else len(data))
                if mode == "stall":
                    threading.Event().wait(STALL_S)
                    self.close_connection = True
                    return
                if mode == "redirect-loop":
                    self._raw(302, b"", {"Location": self.path, "Content-Length": "0"})
                    return
                if mode == "whole-200" or not match or start >= stop:
                    self._raw(200, data, {"Content-Length": str(len(data))})
                    return
                body = data[start:stop]
                told = f"bytes {start}-{stop - 1}/{len(data)}"
                length = len(body)
                close = False
                if mode in ("short-body", "short-claims-full"):
                    body = body[: len(body) - 1 - amount % len(body)]
                    length = len(body)
                    if mode == "short-body" and body:
                        told = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
                elif mode == "wrong-content-range":
                    shift = 1 + amount % 7
                    told = f"bytes {start + shift}-{stop - 1 + shift}/{len(data)}"
                elif mode == "length-too-long":
                    length, close = len(body) + 1 + amount % 4096, True
                elif mode == "length-too-short":
                    length, close = max(0, len(body) - 1 - amount % len(body)), True
                elif mode == "cut-mid-body":
                    body, close = body[: amount % len(body)], True
                headers = {"Content-Range": told, "Content-Length": str(length)}
                self._raw(206, body, headers, close=close)

            def _raw(
                self, status: int, body: bytes, headers: dict[str, str], close: bool = False
            ) -> None:
                self.send_response(status)
                for key, value in {**headers, "Accept-Ranges": "bytes"}.items():
                    self.send_header(key, value)
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may hang up first
                    self.wfile.write(body)
                    self.wfile.flush()
                if close:
                    self.close_connection = True

        return Misbehaving


_HUB: MisbehavingHub | None = None


def shared_hub() -> MisbehavingHub:
    """One misbehaving Hub per process (started on first use; daemon threads)."""
    global _HUB
    if _HUB is None:
        _HUB = MisbehavingHub().start()
    return _HUB


@contextlib.contextmanager
def hub_environment(hub: FakeHub, home: Path, timeout_s: float = 0.3) -> Iterator[list[float]]:
    """``huggingface_hub`` pointed at ``hub`` with ``HF_HOME=home``, short timeouts and its
    retry waits recorded instead of slept (yields them); everything restored afterwards."""
    from huggingface_hub import constants

    url = hub.url
    settings = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DOWNLOAD_TIMEOUT": timeout_s,
        "HF_HUB_ETAG_TIMEOUT": timeout_s,
    }
    saved = {name: getattr(constants, name) for name in settings}
    loggers = [logging.getLogger(name) for name in ("huggingface_hub", "llmgeom")]
    levels = [logger.level for logger in loggers]
    waits: list[float] = []
    sleep = time.sleep
    try:
        for name, value in settings.items():
            setattr(constants, name, value)
        for logger in loggers:  # the retries' warnings, thousands of them in a campaign
            logger.setLevel(logging.ERROR)
        time.sleep = waits.append  # type: ignore[assignment]
        yield waits
    finally:
        time.sleep = sleep
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        for name, value in saved.items():
            setattr(constants, name, value)
