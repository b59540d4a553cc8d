"""Typed errors raised by llmgeom.

Every error a user can trigger with bad input derives from :class:`LlmgeomError`, so the
CLI can turn it into one line on stderr and a non-zero exit while library users can
catch precisely what they care about.

Example:
    >>> try:
    ...     raise SourceNotFoundError("no such path: ./nope")
    ... except LlmgeomError as err:
    ...     print(err)
    no such path: ./nope

An error about one of the caller's arguments names that argument by its Python name and says so
with ``parameter=`` (a name, or a tuple of names); the command line rewrites the name into the
running command's flag (``max_length=4096 exceeds ...`` becomes ``--max-length 4096 exceeds
...``), so each message is written once, in the library's terms:

    >>> err = ConfigError("samples must be at least 1, got 0", parameter="samples")
    >>> err.parameters
    ('samples',)
"""

from __future__ import annotations


class LlmgeomError(Exception):
    """Base class of every error llmgeom raises on purpose.

    ``parameter``: the Python name(s) of the argument(s) the message is about, written in the
    message as ``name=value`` or as its first word (``samples must be ...``); the CLI shows the
    flag instead (its `with_flags`, in the command line's `flags` module).
    """

    def __init__(self, *args: object, parameter: str | tuple[str, ...] | None = None) -> None:
        super().__init__(*args)
        names = (parameter,) if isinstance(parameter, str) else tuple(parameter or ())
        self.parameters: tuple[str, ...] = names


class SourceNotFoundError(LlmgeomError, FileNotFoundError):
    """A path, repository, revision or file that does not exist."""


class UnknownModelError(LlmgeomError, KeyError):
    """A model name that is neither a path, an alias nor a repository id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TensorNotFoundError(LlmgeomError, KeyError):
    """The requested tensor is not in the checkpoint (or the choice is ambiguous)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CorruptCheckpointError(LlmgeomError, ValueError):
    """A file that is truncated, malformed, or refused for safety (unsafe pickle)."""


class InvalidMatrixError(LlmgeomError, ValueError):
    """A matrix of the wrong shape, or with NaN/inf rows, or too few usable rows."""


class InsufficientMemoryError(LlmgeomError, MemoryError):
    """A tensor or working set that does not fit in the memory budget."""


class NetworkError(LlmgeomError, ConnectionError):
    """The Hub could not be reached, or is offline and the cache lacks what is needed."""


class FitError(LlmgeomError, ValueError):
    """Data that cannot support the requested fit (too few points, a single width, NaN...)."""


class ConfigError(LlmgeomError, ValueError):
    """An invalid configuration (bad CLI option, bad preset, out-of-range parameter)."""


class CorpusError(LlmgeomError, ValueError):
    """A text corpus that cannot be read as documents (empty, undecodable, missing field...)."""


def one_line(message: str) -> str:
    r"""``message`` on a single line: every run of whitespace, line breaks included, becomes one
    space, with none at either end.

    The one formatter of llmgeom's one-line messages: the CLI's errors and warnings on stderr, a
    failed sweep unit, a corrupt file listed by the report, a reason quoted from another library.

    Example:
        >>> one_line("Traceback:\n\tValueError:  bad\r\n")
        'Traceback: ValueError: bad'
    """
    return " ".join(message.split())
