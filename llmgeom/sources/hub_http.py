"""HTTP to the Hugging Face Hub through ``huggingface_hub``: counted, and with llmgeom's errors.

Everything generic is the library's: configuration (``huggingface_hub.constants``:
``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_HOME``, ``HF_ASSETS_CACHE``, timeouts; the token from
``get_token()``), URLs (``hf_hub_url``), retries (``http_backoff`` / ``http_stream_backoff``: 429
with ``Retry-After``, 5xx, timeouts, resets), resuming a cut download (``http_get``), headers
(``build_hf_headers``) and the classification of Hub errors (``hf_raise_for_status``). Like
``huggingface_hub`` itself, the ``HF_*`` variables are read when it is imported: set them before,
or export them in the shell.

What is llmgeom's: asking only for the byte range that holds the head, counting the requests and
bytes of a load (a response hook on the library's shared client), and turning the library's
exceptions into llmgeom's typed, one-line errors (:func:`translate`).

Example:
    >>> from huggingface_hub.errors import OfflineModeIsEnabled
    >>> settings = HubSettings("https://huggingface.co", False, None, Path("a"), Path("h"))
    >>> print(translate(OfflineModeIsEnabled("offline"), "org/model", settings, "config.json"))
    HF_HUB_OFFLINE is set: cannot download config.json of org/model
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
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import (
    build_hf_headers,
    get_session,
    hf_raise_for_status,
    http_backoff,
    http_stream_backoff,
)

from .. import __version__
from ..errors import CorruptCheckpointError, LlmgeomError, NetworkError, SourceNotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSettings:
    """The Hub configuration in force (``huggingface_hub.constants`` and ``get_token()``)."""

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
    """The configuration ``huggingface_hub`` uses now (its constants, the token from get_token).

    Example:
        >>> hub_settings().assets_dir.name
        'assets'
    """
    offline = constants.is_offline_mode()
    return HubSettings(
        endpoint=constants.ENDPOINT,
        offline=offline,
        token=None if offline else get_token(),
        assets_dir=Path(constants.HF_ASSETS_CACHE),
        hub_cache_dir=Path(constants.HF_HUB_CACHE),
    )


# -- counting: a response hook on huggingface_hub's shared httpx2 client ----------------------
@dataclass
class TransferStats:
    """Requests (every redirect hop counts) and body bytes received during one load."""

    requests: int = 0
    bytes: int = 0


_STATS: ContextVar[TransferStats | None] = ContextVar("llmgeom_hub_stats", default=None)


class _CountingStream(httpx2.SyncByteStream):
    """A response body that adds the bytes it yields to ``stats``."""

    def __init__(self, inner: Any, stats: TransferStats) -> None:
        self.inner, self.stats = inner, stats

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.stats.bytes += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


def _count_response(response: httpx2.Response) -> None:
    stats = _STATS.get()
    if stats is not None:
        stats.requests += 1
        response.stream = _CountingStream(response.stream, stats)


@contextmanager
def counting(stats: TransferStats) -> Iterator[TransferStats]:
    """Count into ``stats`` the requests made by this thread inside the block.

    The hook is added to the library's shared client (``get_session()``, whatever factory made
    it); a client the library replaces mid-block (after a connection error) is hooked again at
    the next :class:`HubClient` call, so counts may miss retries made in between.
    """
    _hook_session()
    token = _STATS.set(stats)
    try:
        yield stats
    finally:
        _STATS.reset(token)


def _hook_session() -> None:
    session = get_session()
    hooks = session.event_hooks
    if _count_response not in hooks["response"]:
        session.event_hooks = {**hooks, "response": [*hooks["response"], _count_response]}


# -- errors -------------------------------------------------------------------------------
def translate(
    err: Exception, repo_id: str, settings: HubSettings, what: str, revision: str | None = None
) -> LlmgeomError:
    """The llmgeom error for a ``huggingface_hub`` / ``httpx2`` error raised while getting ``what``.

    Example:
        >>> s = HubSettings("http://hub", False, None, Path("a"), Path("h"))
        >>> print(translate(httpx2.ConnectError("refused"), "org/m", s, "config.json"))
        org/m: cannot reach http://hub for config.json (ConnectError: refused)
    """
    where = repo_id + (f"@{revision}" if revision else "")
    note = settings.token_note
    if isinstance(err, LlmgeomError):
        return err
    if isinstance(err, GatedRepoError):
        return SourceNotFoundError(
            f"{where}: access to this gated repository was refused ({note}; the token's account "
            "must have accepted the model's terms on the Hub)"
        )
    if isinstance(err, RepositoryNotFoundError):
        return SourceNotFoundError(
            f"{repo_id}: no such repository on {settings.endpoint} (if it is private or gated, "
            f"{note})"
        )
    if isinstance(err, RevisionNotFoundError):
        return SourceNotFoundError(
            f"{repo_id}: no revision {revision!r} (a branch, tag or commit) on {settings.endpoint}"
        )
    if isinstance(err, EntryNotFoundError):
        return SourceNotFoundError(f"{where}: the repository has no file {what}")
    if isinstance(err, OfflineModeIsEnabled):
        return NetworkError(f"HF_HUB_OFFLINE is set: cannot download {what} of {where}")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status in (401, 403):
            return SourceNotFoundError(f"{where}: HTTP {status} for {what}: access denied ({note})")
        return NetworkError(f"{where}: HTTP {status} from {settings.endpoint} for {what}")
    if isinstance(err, httpx2.TimeoutException):
        return NetworkError(
            f"{where}: no answer from {settings.endpoint} for {what} within the timeout, after "
            f"retries (HF_HUB_DOWNLOAD_TIMEOUT={constants.HF_HUB_DOWNLOAD_TIMEOUT} s)"
        )
    reason = f"{type(err).__name__}: {err}".splitlines()[0]
    if isinstance(err, httpx2.ConnectError):
        return NetworkError(f"{where}: cannot reach {settings.endpoint} for {what} ({reason})")
    return NetworkError(
        f"{where}: the connection to {settings.endpoint} failed for {what} ({reason})"
    )


class _RangeSink:
    """The file object ``http_get`` writes into: a fixed-size buffer that refuses to overflow.

    A server that ignores ``Range`` answers 200 with the whole file; ``http_get`` then rewinds and
    writes the whole body, which overflows this buffer: an error, never a wrong tensor.
    """

    def __init__(self, nbytes: int, what: str, progress: Callable[[int], Any] | None) -> None:
        self.buffer = bytearray(nbytes)
        self.pos = 0
        self.what = what
        self.progress = progress

    def write(self, data: bytes) -> int:
        end = self.pos + len(data)
        if end > len(self.buffer):
            raise NetworkError(
                f"{self.what}: the server sent more than the {len(self.buffer)} bytes asked for "
                "(it ignores HTTP Range requests); llmgeom reads only the head's bytes: use an "
                "endpoint that honours Range (HF_ENDPOINT)"
            )
        self.buffer[self.pos : end] = data
        self.pos = end
        if self.progress is not None:
            self.progress(len(data))
        return len(data)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset
        return self.pos

    def truncate(self, size: int | None = None) -> int:
        return self.pos if size is None else size


_RESOLVED: set[str] = set()  # hosts whose name resolved once in this process


def endpoint_resolves(endpoint: str) -> bool:
    """Whether the endpoint's host name resolves here (always True behind a proxy, which
    resolves names itself). huggingface_hub retries connection errors for about 25 s with a
    warning per try: right for a server that is briefly down, not for a machine without DNS.

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


def check_resolvable(endpoint: str, repo_id: str) -> None:
    """Fail at once, in one line, when the endpoint's host name does not resolve (no network).

    Example:
        >>> check_resolvable("https://no-such-host.invalid", "org/name")
        Traceback (most recent call last):
        ...
        llmgeom.errors.NetworkError: cannot reach https://no-such-host.invalid for org/name: ...
    """
    if not endpoint_resolves(endpoint):
        raise NetworkError(
            f"cannot reach {endpoint} for {repo_id}: its host name does not resolve (no "
            "network?); with HF_HUB_OFFLINE=1 only cached heads are used"
        )


@dataclass
class HubClient:
    """Counted GETs of one repository's files and revision listing, with llmgeom's errors.

    Example:
        >>> client = HubClient(HubSettings("https://huggingface.co", False, None, Path("a"),
        ...                                Path("h")), "openai-community/gpt2")
        >>> client.file_url("abc123", "config.json")
        'https://huggingface.co/openai-community/gpt2/resolve/abc123/config.json'
    """

    settings: HubSettings
    repo_id: str
    stats: TransferStats = field(default_factory=TransferStats)

    def file_url(self, revision: str, filename: str) -> str:
        """The ``resolve`` URL of a file (``hf_hub_url``)."""
        return hf_hub_url(
            self.repo_id, filename, revision=revision, endpoint=self.settings.endpoint
        )

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """huggingface_hub's headers (user agent, token) plus ``extra``."""
        headers = build_hf_headers(
            token=self.settings.token or False,
            library_name="llmgeom",
            library_version=__version__,
        )
        headers["Accept-Encoding"] = "identity"  # byte ranges are ranges of the stored file
        return {**headers, **(extra or {})}

    @contextmanager
    def calling(self, what: str, revision: str | None) -> Iterator[None]:
        """Count the block's traffic; turn library and transport errors into llmgeom's."""
        if self.settings.offline:
            raise NetworkError(
                f"HF_HUB_OFFLINE=1: not contacting {self.settings.endpoint} for {self.repo_id}"
            )
        check_resolvable(self.settings.endpoint, self.repo_id)
        with counting(self.stats):
            try:
                yield
            except LlmgeomError:
                raise
            except (HfHubHTTPError, OfflineModeIsEnabled, httpx2.HTTPError, OSError) as err:
                raise translate(err, self.repo_id, self.settings, what, revision) from None

    def _get(self, url: str, what: str, revision: str | None, **kwargs: Any) -> httpx2.Response:
        with self.calling(what, revision):
            response = http_backoff(
                "GET",
                url,
                headers=self.headers(),
                timeout=constants.HF_HUB_ETAG_TIMEOUT,
                **kwargs,
            )
            hf_raise_for_status(response)
            return response

    def revision_info(self, revision: str) -> tuple[str, dict[str, int | None]]:
        """(commit sha, {file: size}) of ``revision``: one API request, parsed by ``ModelInfo``.

        The request is ``HfApi.model_info(files_metadata=True)``'s; it goes through
        ``http_backoff`` because ``model_info`` makes a single attempt.
        """
        url = f"{self.settings.endpoint}/api/models/{self.repo_id}/revision/"
        response = self._get(
            url + quote(revision, safe=""),
            f"revision {revision!r}",
            revision,
            params={"blobs": True},
        )
        try:
            info = ModelInfo(**response.json())
        except (ValueError, TypeError) as err:
            raise CorruptCheckpointError(
                f"{self.repo_id}: malformed answer for revision {revision!r} ({err})"
            ) from None
        if not isinstance(info.sha, str) or len(info.sha) != 40:
            raise CorruptCheckpointError(
                f"{self.repo_id}: the Hub's answer for revision {revision!r} has no commit sha"
            )
        files = {s.rfilename: s.size for s in info.siblings or []}
        return info.sha, files

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

        ``http_stream_backoff`` retries the request (429 with ``Retry-After``, 5xx, timeouts);
        a body cut short is resumed from where it stopped by ``http_get``.
        """
        url = self.file_url(revision, filename)
        what = f"{filename} bytes {start}-{stop - 1}"
        sink = _RangeSink(stop - start, f"{self.repo_id}/{filename}", progress)
        if stop <= start:
            return sink.buffer
        headers = self.headers({"Range": f"bytes={start}-{stop - 1}"})
        with self.calling(what, revision):
            with http_stream_backoff(
                "GET", url, headers=headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
            ) as response:
                hf_raise_for_status(response)
                _check_partial(response, start, sink)
                try:
                    for chunk in response.iter_bytes():
                        room = len(sink.buffer) - sink.pos
                        sink.write(chunk if len(chunk) <= room else chunk[:room])
                        if sink.pos == len(sink.buffer):
                            break  # all asked for (a 200 from byte 0 may carry more)
                except httpx2.TransportError as err:
                    log.warning("%s: %s; resuming at byte %d", what, err, start + sink.pos)
            if sink.pos < len(sink.buffer):  # cut short: the library resumes it (its policy:
                # resets and timeouts retried, an HTTP error answered to the resume is final)
                http_get(
                    url,
                    sink,  # type: ignore[arg-type]
                    resume_size=sink.pos,
                    headers=headers,
                    expected_size=len(sink.buffer),
                    displayed_filename=filename,
                )
        return sink.buffer


def _check_partial(response: httpx2.Response, start: int, sink: _RangeSink) -> None:
    """A ranged answer must be a 206 from ``start``; a 200 means the Range was ignored."""
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206 and content_range.startswith(f"bytes {start}-"):
        return
    if response.status_code == 200 and start == 0:
        return  # the file from its start: what is asked comes first; the sink refuses the rest
    raise NetworkError(
        f"{sink.what}: asked for bytes from {start}, the server answered HTTP "
        f"{response.status_code} {content_range or 'without a Content-Range'} (it ignores HTTP "
        "Range requests); llmgeom reads only the head's bytes: use an endpoint that honours "
        "Range (HF_ENDPOINT)"
    )
