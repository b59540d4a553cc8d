"""HTTP to the Hugging Face Hub: settings read at call time, retries, ranged reads, typed errors.

Requests go through ``huggingface_hub``'s shared session (``get_session``), with its headers
(``build_hf_headers``: user agent and ``Authorization: Bearer $HF_TOKEN``) and its error
classification (``hf_raise_for_status``), which is mapped onto llmgeom's typed errors.

``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` once, when it is
imported; :func:`hub_settings` reads them again on every call, so a mirror or an offline switch
set later (in a notebook, or by a test) is honoured.

Example:
    >>> import os
    >>> os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
    >>> hub_settings().endpoint
    'http://127.0.0.1:9'
    >>> del os.environ["HF_ENDPOINT"]
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
from huggingface_hub import constants, get_token
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from .. import __version__
from ..errors import CorruptCheckpointError, NetworkError, SourceNotFoundError

log = logging.getLogger(__name__)

_TRUE = {"1", "on", "yes", "true"}
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_EXCEPTIONS = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)


@dataclass
class RetryPolicy:
    """Bounded exponential backoff: waits ``base``, ``2·base``, ... capped at ``cap`` seconds."""

    max_retries: int = 4
    base: float = 0.5
    cap: float = 8.0

    def wait(self, failure: int) -> float:
        """Seconds to sleep after the ``failure``-th consecutive failure (1-based)."""
        return min(self.cap, self.base * 2 ** (failure - 1))


RETRY = RetryPolicy()  # tests shorten the waits by monkeypatching this object
CHUNK_BYTES = 64 * 2**20  # one ranged request per 64 MiB of tensor data
TIMEOUT_S = 30.0


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


@dataclass(frozen=True)
class HubSettings:
    """The Hub configuration in force now (environment read at call time)."""

    endpoint: str
    offline: bool
    token: str | None
    assets_dir: Path  # huggingface_hub's assets cache: $HF_HOME/assets unless overridden
    hub_cache_dir: Path  # huggingface_hub's file cache: $HF_HOME/hub unless overridden

    @property
    def token_note(self) -> str:
        """How the token was configured, for error messages."""
        if self.token:
            return "the token in HF_TOKEN (or the saved login) was sent but not accepted"
        return "no token was sent: set HF_TOKEN to a token that has access"


def hub_settings() -> HubSettings:
    """Read ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_TOKEN`` and the cache folders now.

    Example:
        >>> hub_settings().assets_dir.name
        'assets'
    """
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    offline = (
        _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE") or constants.HF_HUB_OFFLINE
    )
    default_home = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    home = Path(os.path.expandvars(os.environ.get("HF_HOME", default_home))).expanduser()
    assets = os.environ.get("HF_ASSETS_CACHE") or os.environ.get("HUGGINGFACE_ASSETS_CACHE")
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return HubSettings(
        endpoint=endpoint,
        offline=offline,
        token=None if offline else get_token(),
        assets_dir=Path(os.path.expandvars(assets)).expanduser() if assets else home / "assets",
        hub_cache_dir=Path(os.path.expandvars(hub)).expanduser() if hub else home / "hub",
    )


@dataclass
class TransferStats:
    """What this client sent over the network (requests include redirect hops)."""

    requests: int = 0
    bytes: int = 0
    log: list[str] = field(default_factory=list)

    def add(self, response: httpx2.Response, nbytes: int) -> None:
        """Count one response (and the redirects that led to it) and its body bytes."""
        self.requests += 1 + len(response.history)
        self.bytes += nbytes
        request = response.request
        self.log.append(f"{request.method} {request.url} -> {response.status_code}")


class _Transient(Exception):
    """A failure worth retrying (5xx, connection reset, short body)."""

    def __init__(self, message: str, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass
class HubClient:
    """Ranged and small GETs against one Hub endpoint, counted, retried, with typed errors.

    Example:
        >>> client = HubClient(hub_settings(), repo_id="openai-community/gpt2")
        >>> client.file_url("abc123", "config.json").split("/", 3)[-1]
        'openai-community/gpt2/resolve/abc123/config.json'
    """

    settings: HubSettings
    repo_id: str
    stats: TransferStats = field(default_factory=TransferStats)
    retry: RetryPolicy | None = None

    # -- URLs and headers -------------------------------------------------------------------
    def file_url(self, revision: str, filename: str) -> str:
        """``{endpoint}/{repo}/resolve/{revision}/{filename}`` (as ``hf_hub_url`` builds it)."""
        return (
            f"{self.settings.endpoint}/{self.repo_id}/resolve/"
            f"{quote(revision, safe='')}/{quote(filename)}"
        )

    def revision_api_url(self, revision: str) -> str:
        """``{endpoint}/api/models/{repo}/revision/{revision}`` (as ``HfApi.model_info``)."""
        rev = quote(revision, safe="")
        return f"{self.settings.endpoint}/api/models/{self.repo_id}/revision/{rev}"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """huggingface_hub's headers (user agent, token) plus ``extra``."""
        headers = build_hf_headers(
            token=self.settings.token or False,
            library_name="llmgeom",
            library_version=__version__,
        )
        headers["Accept-Encoding"] = "identity"  # byte ranges are ranges of the stored file
        headers.update(extra or {})
        return headers

    # -- errors -----------------------------------------------------------------------------
    def _check_online(self) -> None:
        if self.settings.offline:
            raise NetworkError(
                f"HF_HUB_OFFLINE=1: not contacting {self.settings.endpoint} for {self.repo_id}"
            )

    def translate(self, err: Exception, what: str, revision: str | None = None) -> Exception:
        """An llmgeom error for a huggingface_hub / httpx2 error raised while getting ``what``."""
        where = f"{self.repo_id}" + (f"@{revision}" if revision else "")
        if isinstance(err, GatedRepoError):
            return SourceNotFoundError(
                f"{where}: access to this gated repository was refused ({self.settings.token_note};"
                " the token's account must have accepted the model's terms on the Hub)"
            )
        if isinstance(err, RepositoryNotFoundError):
            return SourceNotFoundError(
                f"{self.repo_id}: no such repository on {self.settings.endpoint} (if it is "
                f"private or gated, {self.settings.token_note})"
            )
        if isinstance(err, RevisionNotFoundError):
            return SourceNotFoundError(
                f"{self.repo_id}: no revision {revision!r} (a branch, tag or commit) on "
                f"{self.settings.endpoint}"
            )
        if isinstance(err, EntryNotFoundError):
            return SourceNotFoundError(f"{where}: the repository has no file {what}")
        if isinstance(err, HfHubHTTPError) and err.response is not None:
            status = err.response.status_code
            if status in (401, 403):
                return SourceNotFoundError(
                    f"{where}: HTTP {status} for {what}: access denied ({self.settings.token_note})"
                )
            return NetworkError(f"{where}: HTTP {status} from {self.settings.endpoint} for {what}")
        if isinstance(err, OfflineModeIsEnabled):
            return NetworkError(f"HF_HUB_OFFLINE is set: cannot download {what} of {where}")
        return NetworkError(f"{where}: cannot reach {self.settings.endpoint} for {what} ({err})")

    # -- requests ---------------------------------------------------------------------------
    def _waits(self) -> Iterator[int]:
        """Attempt numbers 0..max_retries, sleeping the backoff before each retry."""
        policy = self.retry or RETRY
        for attempt in range(policy.max_retries + 1):
            if attempt:
                time.sleep(policy.wait(attempt))
            yield attempt

    @contextmanager
    def _stream(self, url: str, headers: dict[str, str]) -> Iterator[httpx2.Response]:
        """One streamed GET; 5xx answers and transport errors become :class:`_Transient`."""
        self._check_online()
        try:
            with get_session().stream(
                "GET", url, headers=headers, timeout=TIMEOUT_S, follow_redirects=True
            ) as response:
                if response.status_code in RETRY_STATUS:
                    body = response.read()
                    self.stats.add(response, len(body))
                    raise _Transient(f"HTTP {response.status_code}")
                yield response
        except _RETRY_EXCEPTIONS as err:
            truncated = isinstance(err, httpx2.RemoteProtocolError)
            raise _Transient(f"{type(err).__name__}: {err}", truncated=truncated) from err
        except OfflineModeIsEnabled as err:
            raise self.translate(err, url) from None

    def get_bytes(self, revision: str, filename: str) -> bytes:
        """A whole (small) file of the repository at ``revision``, with retries."""
        return self._get_small(self.file_url(revision, filename), filename, revision)

    def get_range(self, revision: str, filename: str, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of a file of the repository, by HTTP range requests."""
        out = bytearray(stop - start)
        what = f"{filename} bytes {start}-{stop - 1}"
        self.read_range_into(
            self.file_url(revision, filename), start, out, what=what, revision=revision
        )
        return bytes(out)

    def get_json(self, url: str, what: str, revision: str | None = None) -> Any:
        """GET a JSON document (API call), with retries."""
        raw = self._get_small(url, what, revision)
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise CorruptCheckpointError(
                f"{self.repo_id}: malformed JSON for {what} ({err})"
            ) from None

    def _get_small(self, url: str, what: str, revision: str | None) -> bytes:
        last: _Transient | None = None
        for _ in self._waits():
            try:
                with self._stream(url, self.headers()) as response:
                    body = response.read()
                    self.stats.add(response, len(body))
                    self._raise_for_status(response, what, revision)
                    expected = response.headers.get("Content-Length")
                    if expected is not None and int(expected) != len(body):
                        raise _Transient(f"got {len(body)} of {expected} bytes", truncated=True)
                    return body
            except _Transient as err:
                last = err
                log.warning("%s: %s for %s; retrying", self.repo_id, err, what)
        raise self._exhausted(last, what)

    def _raise_for_status(self, response: httpx2.Response, what: str, revision: str | None) -> None:
        if response.status_code < 400:
            return
        if not response.is_stream_consumed:
            self.stats.add(response, len(response.read()))
        try:
            hf_raise_for_status(response)
        except HfHubHTTPError as err:
            raise self.translate(err, what, revision) from None

    def _exhausted(self, last: _Transient | None, what: str) -> Exception:
        tries = (self.retry or RETRY).max_retries + 1
        if last is not None and last.truncated:
            return CorruptCheckpointError(
                f"{self.repo_id}: truncated response for {what}, {tries} attempts ({last})"
            )
        return NetworkError(
            f"{self.repo_id}: {self.settings.endpoint} failed for {what} after {tries} attempts "
            f"({last})"
        )

    def read_range_into(
        self,
        url: str,
        start: int,
        out: bytearray | memoryview,
        *,
        what: str,
        revision: str | None = None,
        progress: Callable[[int], Any] | None = None,
    ) -> None:
        """Fill ``out`` with the bytes ``[start, start + len(out))`` of ``url``.

        One ranged GET per :data:`CHUNK_BYTES`; a chunk that fails (5xx, reset, short body) is
        resumed where it stopped, at most ``RETRY.max_retries`` times; every response's range and
        length are checked, so ``out`` is complete or an error is raised.
        """
        view = memoryview(out).cast("B")
        cursor = _Cursor(done=0)
        while cursor.done < len(view):
            chunk_stop = min(len(view), cursor.done + CHUNK_BYTES)
            last: _Transient | None = None
            for _ in self._waits():
                try:
                    self._read_chunk(url, start, view, cursor, chunk_stop, what, revision, progress)
                    break
                except _Transient as err:
                    last = err
                    log.warning(
                        "%s: %s for %s; resuming at byte %d",
                        self.repo_id,
                        err,
                        what,
                        start + cursor.done,
                    )
            else:
                raise self._exhausted(last, what)

    def _read_chunk(
        self,
        url: str,
        start: int,
        view: memoryview,
        cursor: _Cursor,
        stop: int,
        what: str,
        revision: str | None,
        progress: Callable[[int], Any] | None,
    ) -> None:
        """One ranged GET for ``view[cursor.done:stop]``; advances ``cursor`` as bytes arrive."""
        first, last = start + cursor.done, start + stop - 1
        wanted = last - first + 1
        with self._stream(url, self.headers({"Range": f"bytes={first}-{last}"})) as response:
            self._raise_for_status(response, what, revision)
            skip = 0
            if response.status_code == 206:
                content_range = response.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {first}-"):
                    raise CorruptCheckpointError(
                        f"{self.repo_id}: asked {what} from byte {first}, the server answered "
                        f"{content_range or 'without a Content-Range'}"
                    )
            else:  # 200: a mirror that ignores Range; skip to the first byte we need
                log.warning("%s ignores HTTP ranges: reading %s from the start", url, what)
                skip = first
            received = 0
            try:
                for piece in response.iter_raw():  # as received: a cut keeps what came
                    received += len(piece)
                    if skip:
                        dropped = min(skip, len(piece))
                        piece, skip = piece[dropped:], skip - dropped
                    take = min(len(piece), stop - cursor.done)
                    view[cursor.done : cursor.done + take] = piece[:take]
                    cursor.done += take
                    if progress is not None and take:
                        progress(take)
                    if cursor.done >= stop:
                        break
            finally:
                self.stats.add(response, received)
        got = last - first + 1 - (stop - cursor.done)
        if cursor.done < stop:
            raise _Transient(f"truncated response: got {got} of {wanted} bytes", truncated=True)


@dataclass
class _Cursor:
    done: int
