"""HTTP to the Hugging Face Hub through ``huggingface_hub``: counted, and with llmgeom's errors.

The library does the configuration (``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``,
``HF_HOME``, ``HF_ASSETS_CACHE``, ``HF_HUB_DOWNLOAD_TIMEOUT``, read when it is imported), URLs,
headers, retries and resumes. llmgeom's part: the ranged GET of the head's bytes, counting the
requests and bytes of a load (a response hook) and typed one-line errors (:func:`translate`).

Example:
    >>> s = HubSettings("http://hub", False, None, Path("a"), Path("h"))
    >>> print(translate(httpx2.ConnectError("refused"), "org/m", s, "config.json"))
    org/m: cannot reach http://hub for config.json (ConnectError: refused)
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
from huggingface_hub import ModelInfo, constants, get_token, hf_hub_url
from huggingface_hub import errors as hf
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import (
    build_hf_headers,
    get_session,
    hf_raise_for_status,
    http_backoff,
    http_stream_backoff,
)

from ... import __version__
from ...errors import CorruptCheckpointError, LlmgeomError, NetworkError, SourceNotFoundError

log = logging.getLogger(__name__)
_IGNORES_RANGE = (
    "(it ignores HTTP Range requests); llmgeom reads only the head's bytes: use an endpoint that "
    "honours Range (HF_ENDPOINT)"
)


@dataclass(frozen=True)
class HubSettings:
    """The Hub configuration in force (``huggingface_hub.constants`` and ``get_token()``)."""

    endpoint: str
    offline: bool
    token: str | None
    assets_dir: Path  # huggingface_hub's assets cache ($HF_HOME/assets)
    hub_cache_dir: Path  # huggingface_hub's file cache ($HF_HOME/hub)


def hub_settings() -> HubSettings:
    """The configuration ``huggingface_hub`` uses now."""
    offline = constants.is_offline_mode()
    return HubSettings(
        constants.ENDPOINT,
        offline,
        None if offline else get_token(),
        Path(constants.HF_ASSETS_CACHE),
        Path(constants.HF_HUB_CACHE),
    )


@dataclass
class TransferStats:
    """The responses of one load (every redirect hop counts) and the body bytes they received."""

    responses: list[httpx2.Response] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.responses)

    @property
    def bytes(self) -> int:
        return sum(r.num_bytes_downloaded for r in self.responses)


_STATS: ContextVar[TransferStats | None] = ContextVar("llmgeom_hub_stats", default=None)


def _count_response(response: httpx2.Response) -> None:
    stats = _STATS.get()
    if stats is not None:
        stats.responses.append(response)


def translate(
    err: Exception, repo_id: str, settings: HubSettings, what: str, revision: str | None = None
) -> LlmgeomError:
    """The llmgeom error for a huggingface_hub or httpx2 error raised while getting ``what``."""
    if isinstance(err, LlmgeomError):
        return err
    where, endpoint = repo_id + (f"@{revision}" if revision else ""), settings.endpoint
    note = (
        "the token in HF_TOKEN (or the saved login) was sent but not accepted"
        if settings.token
        else "no token was sent: set HF_TOKEN to a token that has access"
    )
    if isinstance(err, hf.GatedRepoError):
        return SourceNotFoundError(
            f"{where}: access to this gated repository was refused ({note}; the token's account "
            "must have accepted the model's terms on the Hub)"
        )
    if isinstance(err, hf.RepositoryNotFoundError):
        return SourceNotFoundError(
            f"{repo_id}: no such repository on {endpoint} (if it is private or gated, {note})"
        )
    if isinstance(err, hf.RevisionNotFoundError):
        return SourceNotFoundError(
            f"{repo_id}: no revision {revision!r} (a branch, tag or commit) on {endpoint}"
        )
    if isinstance(err, hf.EntryNotFoundError):
        return SourceNotFoundError(f"{where}: the repository has no file {what}")
    if isinstance(err, hf.OfflineModeIsEnabled):
        return NetworkError(f"HF_HUB_OFFLINE is set: cannot download {what} of {where}")
    if isinstance(err, hf.HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status in (401, 403):
            return SourceNotFoundError(f"{where}: HTTP {status} for {what}: access denied ({note})")
        return NetworkError(f"{where}: HTTP {status} from {endpoint} for {what}")
    if isinstance(err, httpx2.TimeoutException):
        return NetworkError(
            f"{where}: no answer from {endpoint} for {what} within the timeout, after retries "
            f"(HF_HUB_DOWNLOAD_TIMEOUT={constants.HF_HUB_DOWNLOAD_TIMEOUT} s)"
        )
    reason = f"{type(err).__name__}: {err}".splitlines()[0]
    if isinstance(err, httpx2.ConnectError):
        return NetworkError(f"{where}: cannot reach {endpoint} for {what} ({reason})")
    return NetworkError(f"{where}: the connection to {endpoint} failed for {what} ({reason})")


class _RangeSink:
    """A fixed-size buffer for ``http_get`` that refuses to overflow (a resume answered with the
    whole file by a server that ignores ``Range``): an error, never a wrong tensor."""

    def __init__(self, nbytes: int, what: str, progress: Callable[[int], Any] | None) -> None:
        self.buffer, self.pos, self.what, self.progress = bytearray(nbytes), 0, what, progress

    def write(self, data: bytes) -> int:
        end = self.pos + len(data)
        if end > len(self.buffer):
            raise NetworkError(
                f"{self.what}: the server sent more than the {len(self.buffer)} bytes asked for "
                + _IGNORES_RANGE
            )
        self.buffer[self.pos : end] = data
        self.pos = end
        if self.progress is not None:
            self.progress(len(data))
        return len(data)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int) -> int:  # http_get rewinds before writing a whole-file answer
        self.pos = offset
        return offset

    def truncate(self) -> int:
        return self.pos


_RESOLVED: set[str] = set()  # hosts whose name resolved once in this process


def endpoint_resolves(endpoint: str) -> bool:
    """Whether the endpoint's host name resolves here (always True behind a proxy): without DNS,
    fail at once rather than after huggingface_hub's ~25 s of connection retries.

    Example:
        >>> endpoint_resolves("http://127.0.0.1:1"), endpoint_resolves("https://x.invalid")
        (True, False)
    """
    parts = urlsplit(endpoint)
    host = parts.hostname
    if not host or host in _RESOLVED or urllib.request.getproxies().get(parts.scheme):
        return True
    try:
        socket.getaddrinfo(host, parts.port or 443)
    except (socket.gaierror, UnicodeError):
        return False
    _RESOLVED.add(host)
    return True


@dataclass
class HubClient:
    """Counted GETs of one repository's files and revision listing, with llmgeom's errors."""

    settings: HubSettings
    repo_id: str
    stats: TransferStats = field(default_factory=TransferStats)

    def file_url(self, revision: str, filename: str) -> str:
        return hf_hub_url(
            self.repo_id, filename, revision=revision, endpoint=self.settings.endpoint
        )

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """huggingface_hub's headers (user agent, token), identity encoding, plus ``extra``."""
        token = self.settings.token or False
        headers = build_hf_headers(token=token, library_name="llmgeom", library_version=__version__)
        return {**headers, "Accept-Encoding": "identity", **(extra or {})}  # ranges of the file

    @contextmanager
    def calling(self, what: str, revision: str | None) -> Iterator[None]:
        """Count the block's requests and bytes; turn library and transport errors into llmgeom's
        (the hook goes on the library's shared client; one it replaces is hooked next call)."""
        endpoint = self.settings.endpoint
        if self.settings.offline:
            raise NetworkError(f"HF_HUB_OFFLINE=1: not contacting {endpoint} for {self.repo_id}")
        if not endpoint_resolves(endpoint):
            raise NetworkError(
                f"cannot reach {endpoint} for {self.repo_id}: its host name does not resolve (no "
                "network?); with HF_HUB_OFFLINE=1 only cached heads are used"
            )
        session = get_session()
        hooks = session.event_hooks
        if _count_response not in hooks["response"]:
            session.event_hooks = {**hooks, "response": [*hooks["response"], _count_response]}
        token = _STATS.set(self.stats)
        try:
            yield
        except (hf.HfHubHTTPError, hf.OfflineModeIsEnabled, httpx2.HTTPError, OSError) as err:
            raise translate(err, self.repo_id, self.settings, what, revision) from None
        finally:
            _STATS.reset(token)

    def _get(self, url: str, what: str, revision: str, **kwargs: Any) -> httpx2.Response:
        with self.calling(what, revision):
            timeout = constants.HF_HUB_ETAG_TIMEOUT
            response = http_backoff("GET", url, headers=self.headers(), timeout=timeout, **kwargs)
            hf_raise_for_status(response)
            return response

    def revision_info(self, revision: str) -> tuple[str, dict[str, int | None]]:
        """(commit sha, {file: size}) of ``revision``: ``HfApi.model_info(files_metadata=True)``'s
        request, with ``http_backoff``'s retries (``model_info`` makes a single attempt)."""
        url = f"{self.settings.endpoint}/api/models/{self.repo_id}/revision/"
        what = f"revision {revision!r}"
        response = self._get(url + quote(revision, safe=""), what, revision, params={"blobs": True})
        answer = f"{self.repo_id}: the Hub's answer for {what}"
        try:
            info = ModelInfo(**response.json())
        except (ValueError, TypeError) as err:
            raise CorruptCheckpointError(f"{answer} is malformed ({err})") from None
        if not isinstance(info.sha, str) or len(info.sha) != 40:
            raise CorruptCheckpointError(f"{answer} has no commit sha")
        return info.sha, {s.rfilename: s.size for s in info.siblings or []}

    def get_bytes(self, revision: str, filename: str) -> bytes:
        """A whole (small) file of the repository at ``revision``."""
        return self._get(self.file_url(revision, filename), filename, revision).content

    def get_range(
        self,
        revision: str,
        filename: str,
        start: int,
        stop: int,
        progress: Callable[[int], Any] | None = None,
    ) -> bytearray:
        """Bytes ``[start, stop)`` of a repository file: one ranged GET, resumed if cut.

        ``http_get`` alone would not retry a 5xx, so the first attempt goes through
        ``http_stream_backoff`` (429, 5xx, timeouts); ``http_get`` resumes a body cut short."""
        url = self.file_url(revision, filename)
        what = f"{filename} bytes {start}-{stop - 1}"
        sink = _RangeSink(stop - start, f"{self.repo_id}/{filename}", progress)
        if stop <= start:
            return sink.buffer
        headers = self.headers({"Range": f"bytes={start}-{stop - 1}"})
        timeout = constants.HF_HUB_DOWNLOAD_TIMEOUT
        with self.calling(what, revision):
            with http_stream_backoff("GET", url, headers=headers, timeout=timeout) as response:
                hf_raise_for_status(response)
                status, content_range = response.status_code, response.headers.get("Content-Range")
                partial = status == 206 and (content_range or "").startswith(f"bytes {start}-")
                if not partial and not (status == 200 and start == 0):  # a 200 from byte 0 is fine
                    raise NetworkError(
                        f"{sink.what}: asked for bytes from {start}, the server answered HTTP "
                        f"{status} {content_range or 'without a Content-Range'} " + _IGNORES_RANGE
                    )
                try:
                    for chunk in response.iter_bytes():
                        sink.write(chunk[: len(sink.buffer) - sink.pos])
                        if sink.pos == len(sink.buffer):
                            break  # all asked for (a 200 from byte 0 carries more)
                except httpx2.TransportError as err:
                    log.warning("%s: %s; resuming at byte %d", what, err, start + sink.pos)
            if sink.pos < len(sink.buffer):  # resets and timeouts retried by the library
                http_get(
                    url,
                    sink,  # type: ignore[arg-type]
                    resume_size=sink.pos,
                    headers=headers,
                    expected_size=len(sink.buffer),
                    displayed_filename=filename,
                )
        return sink.buffer
