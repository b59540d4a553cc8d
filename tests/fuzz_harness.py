"""The fuzzing property every parser of a stranger's file must hold (issue 19), and the mutations.

For every input, parsing it through llmgeom either

* gives the same result as the reference reader (``torch.load(..., weights_only=True)``,
  ``safetensors.safe_open``, ``gguf.GGUFReader``, ``numpy.load(allow_pickle=False)``,
  ``tomllib``), or
* raises one of llmgeom's typed errors (:class:`llmgeom.errors.LlmgeomError`),

and never anything else: no other exception, no hang (a per-input time limit, ``SIGALRM``), no
memory beyond a bound (the process's peak resident set may not grow by more than
``memory_bound`` bytes while parsing one input: a header announcing 10^15 elements must not
allocate), and no side effect: a Python audit hook (:func:`sys.addaudithook`) records any
``os.system``, ``subprocess``, ``exec``, ``fork``/``spawn``, ``ctypes``, a socket connection, the
import of a module that was not imported before parsing started and is not on the allow-list,
and any file opened for writing (or removed/renamed) outside the allowed folders; the property
fails if one appears.

:func:`check` runs one input and returns its :class:`Outcome` (raising
:class:`PropertyViolation` when the property fails); the Hypothesis tests and the long campaign
(``benchmarks/fuzz.py``) share it, and the mutations (:func:`apply_mutations`, drawn by
:func:`mutation_ops` from Hypothesis or by :func:`random_ops` from :mod:`random`) so that a
crash the campaign finds replays in the suite as a list of operations.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmgeom.errors import LlmgeomError

# --------------------------------------------------------------------------- the property

DEFAULT_TIME_LIMIT_S = 10.0
DEFAULT_MEMORY_BOUND = 512 * 2**20  # bytes the peak RSS may grow while parsing one input

# modules parsing may import for the first time (lazily imported parts of the readers)
IMPORT_ALLOW = (
    "llmgeom",
    "numpy",
    "torch",
    "safetensors",
    "gguf",
    "huggingface_hub",
    "transformers",
    "tomllib",
    "tomli",
    "json",
    "zipfile",
    "zlib",
    "_compression",
    "bz2",
    "lzma",
    "_bz2",
    "_lzma",
    "struct",
    "mmap",
    "encodings",
    "unicodedata",
    "codecs",
    "pickle",
    "_pickle",
    "io",
    "jsonschema",
    "referencing",
    "rpds",
    "attrs",
    "httpx",
    "httpx2",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "idna",
    "certifi",
    "ssl",
    "_ssl",
    "email",
    "urllib",
    "http",
    "filelock",
    "fsspec",
    "tqdm",
    "yaml",
    "requests",
    "urllib3",
    "charset_normalizer",
    "packaging",
    "tokenizers",
    "sentencepiece",
    "regex",
    "scipy",
    "sklearn",
)

# events that are a side effect whatever their arguments
_FORBIDDEN_EVENTS = {
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "subprocess.Popen",
    "exec",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.call_function",
    "webbrowser.open",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class PropertyViolation(AssertionError):
    """The parser broke the property on one input (the message says how)."""


class _Timeout(BaseException):  # BaseException: a parser's `except Exception` cannot swallow it
    pass


@dataclass
class _Recorder:
    active: bool = False
    allowed_dirs: tuple[str, ...] = ()
    allow_loopback: bool = False
    before_modules: frozenset[str] = frozenset()
    events: list[str] = field(default_factory=list)

    def _inside(self, path: Any) -> bool:
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(p == d or p.startswith(d + os.sep) for d in self.allowed_dirs)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or threading.current_thread() is not threading.main_thread():
            return
        if event == "exec" and _module_body_of_allowed_package(args[0]):
            return  # a lazy import of an allowed module runs its body: not the input's doing
        if event in _FORBIDDEN_EVENTS:
            self.events.append(f"{event} {args[:1]!r}")
        elif event == "import":
            name = str(args[0])
            top = name.split(".")[0]
            if (
                name not in self.before_modules
                and top not in IMPORT_ALLOW
                and not top.startswith("_")
                and name not in sys.builtin_module_names
            ):
                self.events.append(f"import {name}")
        elif event == "open":
            path, mode, flags = args[0], args[1], args[2]
            writes = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes and isinstance(path, str | bytes | os.PathLike) and not self._inside(path):
                self.events.append(f"open for writing {path!r}")
        elif event in ("os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.truncate"):
            path = args[0]
            dir_fd = args[1] if event in ("os.remove", "os.rmdir", "shutil.rmtree") else None
            if isinstance(dir_fd, int) and dir_fd >= 0 and isinstance(path, str | bytes):
                # relative to an open folder (shutil.rmtree removes so): that folder's path
                path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), os.fsdecode(path))
            if not self._inside(path):
                self.events.append(f"{event} {args[0]!r}")
        elif event == "socket.connect":
            address = args[1]
            host = address[0] if isinstance(address, tuple) and address else address
            if not (self.allow_loopback and host in ("127.0.0.1", "::1", "localhost")):
                self.events.append(f"socket.connect {address!r}")


def _module_body_of_allowed_package(code: Any) -> bool:
    """Whether ``code`` is the top-level body of a module file of an allowed package (what an
    ``exec`` audit event carries when a module is imported)."""
    if getattr(code, "co_name", None) != "<module>":
        return False
    parts = Path(str(getattr(code, "co_filename", ""))).parts
    return any(part in IMPORT_ALLOW for part in parts[:-1]) or (
        len(parts) > 0 and Path(parts[-1]).stem in IMPORT_ALLOW
    )


_RECORDER = _Recorder()
sys.addaudithook(_RECORDER)  # an audit hook cannot be removed: it stays, inactive between inputs


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # SIGALRM only reaches the main thread
        return

    def _raise(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, _raise)
    # repeating: a signal lost inside a C loop (seen with gguf's reader) is sent again
    signal.setitimer(signal.ITIMER_REAL, seconds, min(seconds, 1.0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident set (``VmHWM``) to the current one: Linux >= 4.0 takes
    ``5`` written to ``/proc/self/clear_refs``. Without it the peak of an earlier, larger step
    would hide growth on this input."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


@dataclass(frozen=True)
class Outcome:
    """How one input ended: ``kind`` is ``"same"`` (the reference reader's result),
    ``"typed-error"`` (an :class:`LlmgeomError`) or ``"both-failed"`` (llmgeom's typed error where
    the reference reader failed too); ``detail`` names the error type (for counting distinct
    outcomes)."""

    kind: str
    detail: str = ""


def check(
    parse: Callable[[], Any],
    reference: Callable[[], Any] | None = None,
    *,
    same: Callable[[Any, Any], bool] | None = None,
    allowed_dirs: Sequence[str | os.PathLike[str]] = (),
    allow_loopback: bool = False,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    memory_bound: int = DEFAULT_MEMORY_BOUND,
    lenient: bool = False,
) -> Outcome:
    """Run ``parse()`` (llmgeom) and ``reference()`` on one input and check the property.

    ``same(ours, theirs)`` compares two results. ``lenient``: llmgeom may return a result where the
    reference reader fails (e.g. it reads only the head's byte range of a file whose other tensor
    is damaged); without it that is a violation. ``allowed_dirs``: folders parsing may write in
    (a temp file, an output folder, a cache); everything else is a side effect.
    """
    theirs: Any = None
    reference_error: BaseException | None = None
    if reference is not None:
        try:
            with _time_limit(time_limit_s):
                theirs = reference()
        except _Timeout:
            reference_error = TimeoutError("reference reader timed out")
        except Exception as err:  # the reference reader may fail any way it likes
            reference_error = err

    _RECORDER.allowed_dirs = tuple(os.path.realpath(os.fspath(d)) for d in allowed_dirs)
    _RECORDER.allow_loopback = allow_loopback
    _RECORDER.before_modules = frozenset(sys.modules)
    _RECORDER.events = []
    _reset_peak_rss()
    rss_before = _peak_rss()
    error: BaseException | None = None
    ours: Any = None
    _RECORDER.active = True
    try:
        with _time_limit(time_limit_s):
            ours = parse()
    except _Timeout:
        _RECORDER.active = False
        raise PropertyViolation(f"no answer within {time_limit_s} s (a hang?)") from None
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # SystemExit and the like are violations too: classified below
        error = err
    finally:
        _RECORDER.active = False
    grown = _peak_rss() - rss_before
    if _RECORDER.events:
        raise PropertyViolation(f"side effects while parsing: {_RECORDER.events[:5]}")
    if grown > memory_bound:
        raise PropertyViolation(f"the peak memory grew by {grown / 2**20:.0f} MiB on one input")
    if error is not None:
        if isinstance(error, LlmgeomError):
            kind = "typed-error" if reference_error is None else "both-failed"
            return Outcome(kind, type(error).__name__)
        raise PropertyViolation(
            f"untyped {type(error).__name__}: {error!s:.300}"
            + ("" if reference_error is None else f" (reference: {type(reference_error).__name__})")
        ) from error
    if reference is None:
        return Outcome("same", "no reference")
    if reference_error is not None:
        if lenient:
            return Outcome("same", f"reference failed: {type(reference_error).__name__}")
        raise PropertyViolation(
            f"llmgeom returned a result where the reference reader failed with "
            f"{type(reference_error).__name__}: {reference_error!s:.200}"
        )
    if same is not None and not same(ours, theirs):
        raise PropertyViolation("llmgeom's result differs from the reference reader's")
    return Outcome("same")


# --------------------------------------------------------------------------- the mutations

#: integers at type boundaries: what lengths, counts and offsets become
BOUNDARY_INTS = (
    0,
    1,
    -1,
    2**7 - 1,
    2**7,
    2**8 - 1,
    2**15,
    2**16 - 1,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**53,
    2**63 - 1,
    2**63,
    2**64 - 1,
    10**15,
)

# an operation: (name, position in [0, 1), argument) — position is relative, so one list of
# operations applies to any file and a campaign's crash replays as plain data
Op = tuple[str, float, int]
OP_NAMES = ("flip", "truncate", "set_byte", "set_int", "insert", "delete", "duplicate", "swap")


def _at(data: bytes | bytearray, position: float) -> int:
    return min(len(data), max(0, int(position * len(data))))


def apply_mutations(data: bytes, ops: Sequence[Op]) -> bytes:
    """``data`` with each operation applied in turn (positions relative to the current length).

    Example:
        >>> apply_mutations(b"abcd", [("truncate", 0.5, 0)])
        b'ab'
        >>> apply_mutations(b"abcd", [("flip", 0.0, 0)])
        b'`bcd'
    """
    buf = bytearray(data)
    for name, position, arg in ops:
        i = _at(buf, position)
        if name == "flip" and buf:
            i = min(i, len(buf) - 1)
            buf[i] ^= 1 << (arg % 8)
        elif name == "truncate":
            del buf[i:]
        elif name == "set_byte" and buf:
            buf[min(i, len(buf) - 1)] = arg % 256
        elif name == "set_int":  # a little-endian integer at a type boundary over 4 or 8 bytes
            value = BOUNDARY_INTS[arg % len(BOUNDARY_INTS)]
            width = 8 if arg // len(BOUNDARY_INTS) % 2 else 4
            raw = (value % 2 ** (8 * width)).to_bytes(width, "little")
            buf[i : i + width] = raw
        elif name == "insert":
            buf[i:i] = bytes([arg % 256]) * (1 + arg % 17)
        elif name == "delete":
            del buf[i : i + 1 + arg % 64]
        elif name == "duplicate":  # a slice copied over another place: overlapping regions
            n = 1 + arg % 256
            src = bytes(buf[i : i + n])
            j = _at(buf, (position * 7919) % 1.0)
            buf[j : j + len(src)] = src
        elif name == "swap":  # two slices exchanged: fields swapped
            n = 1 + arg % 32
            j = _at(buf, (position * 104729) % 1.0)
            a, b = sorted((i, j))
            if b - a >= n:
                buf[a : a + n], buf[b : b + n] = buf[b : b + n], buf[a : a + n]
    return bytes(buf)


def mutation_ops(max_ops: int = 3) -> Any:
    """A Hypothesis strategy of 1..``max_ops`` operations for :func:`apply_mutations`."""
    from hypothesis import strategies as st

    op = st.tuples(
        st.sampled_from(OP_NAMES),
        st.floats(0, 1, exclude_max=True, allow_nan=False),
        st.integers(0, 2**16),
    )
    return st.lists(op, min_size=1, max_size=max_ops)


def random_ops(rng: random.Random, max_ops: int = 3) -> list[Op]:
    """The same distribution of operations as :func:`mutation_ops`, from :mod:`random` (fast)."""
    return [
        (rng.choice(OP_NAMES), rng.random(), rng.randrange(2**16 + 1))
        for _ in range(rng.randint(1, max_ops))
    ]


def write_input(folder: Path, name: str, data: bytes) -> Path:
    """``data`` written as ``folder/name`` (the file a parser is given)."""
    path = folder / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One parser under fuzzing, as the suite and the campaign (``benchmarks/fuzz.py``) see it.

    ``seeds(folder)`` builds the valid inputs to mutate: ``{seed name: bytes}`` (small files,
    built with the formats' own writers). ``run(folder, data)`` writes ``data`` where the parser
    expects it inside ``folder`` (a fresh empty folder per input), parses it through llmgeom and
    the reference reader with :func:`check`, and returns the :class:`Outcome`. Each module
    ``tests/fuzz_targets_*.py`` lists its targets in ``TARGETS``.
    """

    name: str
    seeds: Callable[[Path], dict[str, bytes]]
    run: Callable[[Path, bytes], Outcome]


def regression_file(target: str) -> Path:
    """Where the inputs that once broke ``target`` are kept (``tests/fuzz_regressions/``): a
    JSON list of ``{"seed": name, "ops": [[op, position, arg], ...], "found": why}``, replayed
    by every run of the suite."""
    return Path(__file__).resolve().parent / "fuzz_regressions" / f"{target}.json"


def regressions(target: str) -> list[tuple[str, list[Op]]]:
    """The kept inputs of ``target`` as ``(seed name, operations)``."""
    import json

    path = regression_file(target)
    if not path.exists():
        return []
    return [
        (entry["seed"], [(str(o), float(p), int(a)) for o, p, a in entry["ops"]])
        for entry in json.loads(path.read_text())
    ]
