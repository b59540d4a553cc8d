"""A small local stand-in for the Hugging Face Hub, enough for huggingface_hub clients.

Serves, on 127.0.0.1 (random ports), what the Hub serves to ``huggingface_hub``:

- ``GET /api/models/{repo}/revision/{rev}[?blobs=true]``: ``{"id", "sha", "siblings"}``;
- ``HEAD|GET /{repo}/resolve/{rev}/{file}``: small files answered directly (``ETag``,
  ``X-Repo-Commit``); weight files (``.safetensors``/``.bin``, "LFS") answered by a 302 to a second
  server (another origin, like the Hub's CDN) with ``X-Linked-Size`` / ``X-Linked-Etag``;
- ``Range: bytes=a-b`` -> 206 with ``Content-Range``;
- errors with the Hub's ``X-Error-Code`` header: ``RepoNotFound`` (401), ``RevisionNotFound`` (404),
  ``EntryNotFound`` (404), ``GatedRepo`` (401 without token, 403 with a wrong one);
- a renamed repository (``renames``): 307 to the new name, as the Hub answers for moved repos.

Every request is recorded (time, method, path, range, status, body bytes sent, Authorization), and
faults can be injected: an HTTP status (with extra headers, e.g. ``Retry-After``), a body cut
short after N bytes (connection closed), an answer held until a condition holds, or no answer at
all for a while (a hanging server). Switches: ``ignore_range`` (a mirror that answers every
ranged GET with 200 and the whole body), ``cdn_rejects_auth`` (a CDN that refuses a request
carrying an ``Authorization`` header, as S3 does for signed URLs).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin")


@dataclass
class Record:
    """One request as the server saw it."""

    server: str  # "hub" | "cdn"
    method: str
    path: str
    range: str | None
    status: int
    sent: int  # body bytes written
    auth: str | None
    t: float = 0.0  # time.monotonic() when the answer was sent


@dataclass
class Fault:
    """Make matching requests fail: ``status`` (e.g. 500) or a body cut after ``cut`` bytes.

    ``hold``: wait (at most ``hold_s`` seconds) until ``hold()`` is true before answering;
    ``hang_s``: send nothing for that long, then close the connection.
    """

    match: Callable[[str, str, str | None], bool]  # (method, path, range) -> bool
    status: int | None = None
    cut: int | None = None
    times: int | None = 1  # None: forever
    hits: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    hold: Callable[[], bool] | None = None
    hold_s: float = 20.0
    hang_s: float | None = None
    ignore_range: bool = False  # answer 200 with the whole body


@dataclass
class FakeRepo:
    """A repository: refs (branch/tag -> commit) and commits (sha -> {file: bytes})."""

    repo_id: str
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    gated_token: str | None = None


class FakeHub:
    """The state shared by the hub server and its CDN server."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.records: list[Record] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.url = ""
        self.cdn_url = ""
        self.ignore_range = False
        self.cdn_rejects_auth = False
        self.renames: dict[str, str] = {}  # old repo id -> new repo id (answered with a 307)

    # -- content ------------------------------------------------------------------------
    def add_commit(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        ref: str = "main",
        gated_token: str | None = None,
    ) -> str:
        """Add a commit holding ``files`` to ``repo_id`` and point ``ref`` at it; return its sha."""
        repo = self.repos.setdefault(repo_id, FakeRepo(repo_id))
        if gated_token is not None:
            repo.gated_token = gated_token
        digest = hashlib.sha1(repo_id.encode() + ref.encode())
        for name in sorted(files):
            digest.update(name.encode() + hashlib.sha256(files[name]).digest())
        sha = digest.hexdigest()
        repo.commits[sha] = dict(files)
        repo.refs[ref] = sha
        return sha

    # -- bookkeeping ----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget recorded requests and faults; switches back to a well-behaved Hub."""
        with self.lock:
            self.records.clear()
            self.faults.clear()
            self.ignore_range = False
            self.cdn_rejects_auth = False
            self.renames.clear()

    def add_fault(
        self,
        match: Callable[[str, str, str | None], bool],
        *,
        status: int | None = None,
        cut: int | None = None,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
        hold: Callable[[], bool] | None = None,
        hold_s: float = 20.0,
        hang_s: float | None = None,
        ignore_range: bool = False,
    ) -> Fault:
        """Inject a fault for requests for which ``match(method, path, range)`` is true."""
        fault = Fault(
            match, status, cut, times, 0, dict(headers or {}), hold, hold_s, hang_s, ignore_range
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    @property
    def requests(self) -> int:
        """Number of requests served (both servers)."""
        return len(self.records)

    @property
    def bytes_sent(self) -> int:
        """Body bytes served (both servers)."""
        return sum(r.sent for r in self.records)

    def bytes_for(self, suffix: str) -> int:
        """Body bytes served for paths ending with ``suffix``."""
        return sum(r.sent for r in self.records if r.path.split("?")[0].endswith(suffix))

    def _take_fault(self, method: str, path: str, rng: str | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if fault.match(method, path, rng):
                    fault.hits += 1
                    return fault
        return None

    # -- server -----------------------------------------------------------------------------
    def start(self) -> FakeHub:
        """Start the hub and CDN servers on random ports of 127.0.0.1."""
        for role in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler(role))
            server.daemon_threads = True
            server.timeout = 5
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"fake-{role}",
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        return self

    def handler(self, role: str) -> type[BaseHTTPRequestHandler]:
        """The request handler class of the ``role`` server (a subclass may extend it)."""
        return _make_handler(self, role)

    def stop(self) -> None:
        """Stop both servers (bounded wait)."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$")
_CDN = re.compile(r"^/lfs/(?P<repo>[^/]+/[^/]+)/(?P<sha>[0-9a-f]{40})/(?P<file>.+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _make_handler(hub: FakeHub, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._handle("HEAD")

        def do_GET(self) -> None:
            self._handle("GET")

        # -- helpers ------------------------------------------------------------------------
        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            cut: int | None = None,
        ) -> None:
            method = self.command
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            if cut is not None:
                self.send_header("Connection", "close")
            payload = b"" if method == "HEAD" else (body if cut is None else body[:cut])
            # recorded before the body is written: the client may act as soon as it has it
            with hub.lock:
                hub.records.append(
                    Record(
                        role,
                        method,
                        self.path,
                        self.headers.get("Range"),
                        status,
                        len(payload),
                        self.headers.get("Authorization"),
                        time.monotonic(),
                    )
                )
            self.end_headers()
            if payload:
                self.wfile.write(payload)
                self.wfile.flush()
            if cut is not None:
                self.close_connection = True

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self._send(
                status,
                body,
                {
                    "X-Error-Code": code,
                    "X-Error-Message": message,
                    "Content-Type": "application/json",
                },
            )

        def _repo(self, repo_id: str) -> FakeRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            if repo.gated_token is not None:
                auth = self.headers.get("Authorization")
                if auth is None:
                    self._error(401, "GatedRepo", "Access to this model is restricted")
                    return None
                if auth != f"Bearer {repo.gated_token}":
                    self._error(403, "GatedRepo", "Your token has no access to this model")
                    return None
            return repo

        def _commit(self, repo: FakeRepo, rev: str) -> str | None:
            rev = unquote(rev)
            sha = repo.refs.get(rev, rev if rev in repo.commits else None)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return sha

        def _repo_commit(self, repo_id: str, rev: str) -> tuple[FakeRepo | None, str | None]:
            """The repository and the commit ``rev`` names, or (None, None) once answered."""
            repo = self._repo(repo_id)
            sha = self._commit(repo, rev) if repo is not None else None
            return (repo, sha) if sha is not None else (None, None)

        def _body_range(self, data: bytes, headers: dict[str, str], fault: Fault | None) -> None:
            ignore = hub.ignore_range or (fault is not None and fault.ignore_range)
            rng = None if ignore else self.headers.get("Range")
            cut = fault.cut if fault else None
            if rng is None:
                self._send(200, data, {**headers, "Accept-Ranges": "bytes"}, cut=cut)
                return
            match = _RANGE.match(rng.strip())
            if not match:
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            start = int(match.group(1))
            stop = int(match.group(2)) + 1 if match.group(2) else len(data)
            stop = min(stop, len(data))
            if start >= len(data) or start >= stop:
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            self._send(
                206,
                data[start:stop],
                {
                    **headers,
                    "Content-Range": f"bytes {start}-{stop - 1}/{len(data)}",
                    "Accept-Ranges": "bytes",
                },
                cut=cut,
            )

        # -- routing -------------------------------------------------------------------------
        def _handle(self, method: str) -> None:
            split = urlsplit(self.path)
            path = split.path
            fault = hub._take_fault(method, self.path, self.headers.get("Range"))
            if fault is not None and fault.hold is not None:
                deadline = time.monotonic() + fault.hold_s
                while not fault.hold() and time.monotonic() < deadline:
                    threading.Event().wait(0.02)  # not time.sleep: tests may fake the client's
            if fault is not None and fault.hang_s is not None:
                threading.Event().wait(fault.hang_s)  # accepted the connection, then went quiet
                self.close_connection = True
                return
            if fault is not None and fault.status is not None:
                headers = {"Content-Type": "text/plain", **fault.headers}
                self._send(fault.status, b"server error", headers)
                return
            if role == "cdn" and hub.cdn_rejects_auth and self.headers.get("Authorization"):
                self._send(400, b"only one auth mechanism allowed", {"Content-Type": "text/plain"})
                return
            if role == "cdn":
                self._serve_cdn(path, fault)
                return
            for old, new in hub.renames.items():
                for prefix in (f"/api/models/{old}/", f"/{old}/"):
                    if path.startswith(prefix):
                        moved = prefix.replace(old, new) + self.path[len(prefix) :]
                        self._send(307, b"", {"Location": moved})
                        return
            if (m := _API.match(path)) is not None:
                self._serve_api(unquote(m["repo"]), m["rev"], parse_qs(split.query))
                return
            if (m := _RESOLVE.match(path)) is not None:
                self._serve_resolve(unquote(m["repo"]), m["rev"], unquote(m["file"]), fault)
                return
            self._send(404, b"not found")

        def _serve_api(self, repo_id: str, rev: str, query: dict[str, list[str]]) -> None:
            repo, sha = self._repo_commit(repo_id, rev)
            if repo is None or sha is None:
                return
            blobs = query.get("blobs", ["false"])[0] == "true"
            siblings = []
            for name, data in sorted(repo.commits[sha].items()):
                entry: dict = {"rfilename": name}
                if blobs:
                    entry["blobId"] = hashlib.sha1(data).hexdigest()
                    entry["size"] = len(data)
                    if name.endswith(LFS_SUFFIXES):
                        entry["lfs"] = {
                            "sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data),
                            "pointerSize": 134,
                        }
                siblings.append(entry)
            body = json.dumps(
                {
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": sha,
                    "private": False,
                    "gated": bool(repo.gated_token),
                    "siblings": siblings,
                }
            ).encode()
            self._send(200, body, {"Content-Type": "application/json"})

        def _serve_resolve(
            self, repo_id: str, rev: str, filename: str, fault: Fault | None
        ) -> None:
            repo, sha = self._repo_commit(repo_id, rev)
            if repo is None or sha is None:
                return
            data = repo.commits[sha].get(filename)
            if data is None:
                self._error(404, "EntryNotFound", f"{filename} does not exist on {rev}")
                return
            if filename.endswith(LFS_SUFFIXES):
                etag = hashlib.sha256(data).hexdigest()
                self._send(
                    302,
                    b"",
                    {
                        "Location": f"{hub.cdn_url}/lfs/{repo_id}/{sha}/{filename}",
                        "X-Repo-Commit": sha,
                        "X-Linked-Size": str(len(data)),
                        "X-Linked-Etag": f'"{etag}"',
                        "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                    },
                )
                return
            headers = {
                "X-Repo-Commit": sha,
                "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                "Content-Type": "application/octet-stream",
            }
            self._body_range(data, headers, fault)

        def _serve_cdn(self, path: str, fault: Fault | None) -> None:
            m = _CDN.match(path)
            repo = hub.repos.get(unquote(m["repo"])) if m else None
            data = repo.commits.get(m["sha"], {}).get(unquote(m["file"])) if repo and m else None
            if data is None:
                self._send(404, b"no such object")
                return
            self._body_range(data, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, fault)

    return Handler


def cache_files(tmp_path: Path) -> list[Path]:
    """Every file in the llmgeom head cache under the test's HF_HOME."""
    root = tmp_path / "hf-home" / "assets" / "llmgeom"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def head_files(tmp_path: Path) -> list[Path]:
    """Cached head tensors and sidecars (refs and lock files excluded)."""
    return [p for p in cache_files(tmp_path) if p.parent.name != "refs" and p.suffix != ".lock"]
