"""Hub model names: a paper-model alias, ``org/name`` or ``org/name@revision`` to a repository.

Example:
    >>> resolve_name("pythia-410m@step143000")
    HubName(repo_id='EleutherAI/pythia-410m', revision='step143000', alias='pythia-410m')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import ConfigError, UnknownModelError
from ..registry import RegistryModel, lookup, suggest

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_PREFIXES = ("hf://", "https://huggingface.co/", "huggingface.co/", "hf.co/")


@dataclass(frozen=True)
class HubName:
    """A resolved model name: repository id, revision as asked, registry alias if any."""

    repo_id: str
    revision: str
    alias: str | None = None

    @property
    def model(self) -> RegistryModel | None:
        """The paper-model registry entry of this repository, if it is one of the 27."""
        return lookup(self.repo_id)


def resolve_name(name: str, revision: str | None = None) -> HubName:
    """Turn an alias, ``org/name`` or ``org/name@revision`` into a :class:`HubName`."""
    text = name.strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :].strip("/")
    if "@" in text:
        text, at_revision = text.rsplit("@", 1)
        if revision is not None and revision != at_revision:
            raise ConfigError(
                f"{name!r} names revision {at_revision!r} but revision={revision!r}",
                parameter="revision",
            )
        revision = at_revision
    if revision is not None and not revision.strip():
        raise ConfigError("an empty revision was given")
    model = lookup(text)
    if model is not None:
        return HubName(model.hub_id, revision or "main", model.alias)
    if _REPO_ID.fullmatch(text) and ".." not in text:
        return HubName(text, revision or "main", None)
    close = suggest(text)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"{name!r} is not a local path, a paper-model alias or a Hub repository id "
        f"(ORG/NAME).{hint} `llmgeom models` lists the aliases."
    )
