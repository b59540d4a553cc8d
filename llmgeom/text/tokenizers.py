"""Load a tokenizer from anything ``llmgeom loss`` accepts as a model, with its provenance.

Sources: a local Hugging Face folder; a Hub id or one of the paper's aliases (``pythia-70m``),
downloaded by transformers' own ``AutoTokenizer.from_pretrained`` into its cache (``HF_HOME``,
``HF_HUB_OFFLINE`` and the other ``HF_*`` settings apply); a ``.gguf`` file (transformers' GGUF
loader reads the tokenizer stored in the file's metadata); or an already-built tokenizer object,
passed through. No code from a checkpoint runs unless ``trust_remote_code=True``.

Example:
    >>> import tempfile, pathlib
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import PreTrainedTokenizerFast
    >>> raw = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    >>> raw.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "tiny-tok"
    >>> PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]").save_pretrained(folder)
    (...)
    >>> loaded = load_tokenizer(folder)
    >>> loaded.name, loaded.identity["kind"], loaded.identity["vocab_size"]
    ('tiny-tok', 'local', 3)
    >>> loaded.tokenizer("hello world", add_special_tokens=False)["input_ids"]
    [1, 2]
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptCheckpointError, NetworkError, SourceNotFoundError

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "tokenizer.model",
    "spiece.model",
    "special_tokens_map.json",
    "added_tokens.json",
)
_LOADABLE = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model", "spiece.model")
_HASH_LIMIT = 64 << 20  # files above this are described by size only (a GGUF holds weights)


@dataclass(frozen=True)
class LoadedTokenizer:
    """A tokenizer and where it came from."""

    tokenizer: Any  # a transformers PreTrainedTokenizerBase
    name: str  # short name for file names (folder name, Hub alias, gguf stem)
    source: str  # as given
    revision: str | None
    identity: dict[str, Any]  # provenance: kind, path/repo, file checksums, vocab_size


def load_tokenizer(
    source: str | os.PathLike[str] | Any,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedTokenizer:
    """Load the tokenizer of ``source`` (see the module docstring); typed one-line errors."""
    if not isinstance(source, str | os.PathLike):
        return _from_object(source)
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir():
            return _from_folder(path, text, trust_remote_code)
        if path.suffix.lower() == ".gguf":
            return _from_gguf(path, text)
        raise SourceNotFoundError(
            f"{text}: not a tokenizer source (expected a model folder, a .gguf file or a Hub id)"
        )
    if _looks_like_path(text):
        raise SourceNotFoundError(f"no such file or folder: {text}")
    return _from_hub(text, revision, trust_remote_code)


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~", "\\"))
        or text.lower().endswith(".gguf")
        or text.count("/") > 1
        or "\\" in text
    )


def _vocab_size(tokenizer: Any) -> int:
    return len(tokenizer)


def _from_object(tokenizer: Any) -> LoadedTokenizer:
    if not (callable(tokenizer) and hasattr(tokenizer, "__len__") and hasattr(tokenizer, "encode")):
        raise TypeError(
            f"expected a tokenizer (path, Hub id or tokenizer object), got {type(tokenizer)!r}"
        )
    origin = str(getattr(tokenizer, "name_or_path", "") or "")
    name = Path(origin.rstrip("/")).name or type(tokenizer).__name__
    identity = {
        "kind": "object",
        "class": type(tokenizer).__name__,
        "name_or_path": origin or None,
        "vocab_size": _vocab_size(tokenizer),
    }
    return LoadedTokenizer(tokenizer, name, origin or name, None, identity)


def _sha256(path: Path) -> str | None:
    if path.stat().st_size > _HASH_LIMIT:
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _from_folder(path: Path, source: str, trust_remote_code: bool) -> LoadedTokenizer:
    present = [name for name in TOKENIZER_FILES if (path / name).is_file()]
    if not any(name in present for name in _LOADABLE):
        raise SourceNotFoundError(
            f"{source}: no tokenizer files in this folder (looked for {', '.join(_LOADABLE)})"
        )
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(path), trust_remote_code=trust_remote_code, local_files_only=True
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptCheckpointError(f"{source}: cannot load the tokenizer ({err})") from None
    identity = {
        "kind": "local",
        "path": str(path.resolve()),
        "files": {name: _sha256(path / name) for name in present},
        "class": type(tokenizer).__name__,
        "vocab_size": _vocab_size(tokenizer),
    }
    return LoadedTokenizer(tokenizer, path.resolve().name, source, None, identity)


def _from_gguf(path: Path, source: str) -> LoadedTokenizer:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except ImportError as err:
        raise CorruptCheckpointError(
            f"{source}: cannot read GGUF tokenizers here ({err})"
        ) from None
    except Exception as err:  # the GGUF loader raises ValueError, KeyError, struct errors...
        raise CorruptCheckpointError(
            f"{source}: no usable tokenizer in this GGUF file ({type(err).__name__}: {err})"
        ) from None
    identity = {
        "kind": "gguf",
        "path": str(path.resolve()),
        "size": path.stat().st_size,
        "sha256": _sha256(path),
        "class": type(tokenizer).__name__,
        "vocab_size": _vocab_size(tokenizer),
    }
    return LoadedTokenizer(tokenizer, path.stem, source, None, identity)


def _caused_by(err: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether ``err`` or an exception in its cause/context chain is one of ``kinds``."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _cached_commit(repo: str, revision: str | None) -> str | None:
    """The commit the cache resolved ``revision`` to (its snapshot folder's name), if known."""
    from huggingface_hub import try_to_load_from_cache

    for name in ("tokenizer_config.json", "tokenizer.json", "vocab.json"):
        try:
            found = try_to_load_from_cache(repo, name, revision=revision)
        except Exception:  # an odd repo id or cache layout: provenance only, never fatal
            return None
        if isinstance(found, str):
            parent = Path(found).parent
            return parent.name if parent.parent.name == "snapshots" else None
    return None


def _cache_only_offline() -> dict[str, Any]:
    """``local_files_only=True`` when the Hub's host name does not resolve (no network): the
    cache answers at once instead of after the library's ~25 s of retries."""
    from huggingface_hub import constants

    from ..sources.hub.http import endpoint_resolves

    return {} if endpoint_resolves(constants.ENDPOINT) else {"local_files_only": True}


def _from_hub(text: str, revision: str | None, trust_remote_code: bool) -> LoadedTokenizer:
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from transformers import AutoTokenizer

    from ..sources.registry import alias_for, lookup

    known = lookup(text)
    repo = known.hub_id if known else text
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            repo, revision=revision, trust_remote_code=trust_remote_code, **_cache_only_offline()
        )
    except Exception as err:  # transformers wraps Hub failures in OSError/ValueError
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        at = f"{repo}@{revision}" if revision else repo
        if _caused_by(err, (RepositoryNotFoundError, RevisionNotFoundError)):
            raise SourceNotFoundError(f"{at}: no such repository or revision on the Hub") from None
        if _caused_by(err, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError)):
            raise NetworkError(
                f"{at}: the Hub cannot be reached and the cache lacks its tokenizer ({message})"
            ) from None
        raise SourceNotFoundError(f"{at}: cannot load a tokenizer ({message})") from None
    identity = {
        "kind": "hub",
        "repo": repo,
        "revision": revision,
        "commit": _cached_commit(repo, revision),
        "alias": known.alias if known else None,
        "class": type(tokenizer).__name__,
        "vocab_size": _vocab_size(tokenizer),
    }
    return LoadedTokenizer(tokenizer, alias_for(repo), text, revision, identity)
