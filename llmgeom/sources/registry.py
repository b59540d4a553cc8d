"""The paper's 27 models from ``configs/models.csv``; a model's alias is the name part of its
Hub id, lower-cased (no second table to keep in sync). Lookups take either, in any case.

Example:
    >>> lookup("qwen2.5-7b").hub_id, lookup("openai-community/GPT2-XL").alias
    ('Qwen/Qwen2.5-7B', 'gpt2-xl')
    >>> len(registry_models()), registry_models()[0].alias, lookup("nope")
    (27, 'opt-125m', None)
    >>> suggest("pythia-410")
    ['pythia-410m', 'pythia-160m', 'pythia-1b']
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from ..configs import config_path
from ..errors import ConfigError

_KEY_RE = re.compile(r"[A-Za-z0-9_.]+\.weight")


@dataclass(frozen=True)
class RegistryModel:
    """One row of ``configs/models.csv`` plus its alias."""

    alias: str
    hub_id: str
    family: str
    d_model: int
    head_cols: int
    head_rows: int
    tokenizer_len: int
    tied: bool
    head_keys: tuple[str, ...]  # checkpoint names of the head tensor, preferred first
    weight_format: str  # as written in models.csv (e.g. "sharded .bin")
    storage_dtype: str  # "float32", "bfloat16", or "read the header"
    n_layers: int
    nominal_params: str

    @property
    def fmt(self) -> str:
        """``"safetensors"`` or ``"bin"``: the format of the main branch's weights."""
        return "bin" if ".bin" in self.weight_format else "safetensors"

    @property
    def sharded(self) -> bool:
        """Whether the main branch's weights are shards with an index file."""
        return "sharded" in self.weight_format

    @property
    def head_shape(self) -> tuple[int, int]:
        return (self.head_rows, self.head_cols)


def alias_for(hub_id: str) -> str:
    """The alias of a Hub id: its name part, lower-cased."""
    return hub_id.rsplit("/", 1)[-1].lower()


def _row_to_model(row: dict[str, str]) -> RegistryModel:
    return RegistryModel(
        alias=alias_for(row["hub_id"]),
        hub_id=row["hub_id"],
        family=row["family"],
        d_model=int(row["d_model"]),
        head_cols=int(row["head_cols"]),
        head_rows=int(row["head_rows"]),
        tokenizer_len=int(row["tokenizer_len"]),
        tied=row["tied"].strip().lower() == "yes",
        head_keys=tuple(dict.fromkeys(_KEY_RE.findall(row["head_key_in_hub_checkpoint"]))),
        weight_format=row["hub_weight_format"],
        storage_dtype=row["storage_dtype"],
        n_layers=int(row["n_layers"]),
        nominal_params=row["nominal_params"],
    )


@lru_cache(maxsize=1)
def registry_models() -> tuple[RegistryModel, ...]:
    """The paper's models in the order of ``configs/models.csv``."""
    path = config_path("models.csv")
    with path.open(newline="") as fh:
        try:
            models = tuple(_row_to_model(row) for row in csv.DictReader(fh))
        except (KeyError, ValueError) as err:
            raise ConfigError(f"{path}: malformed model registry ({err})") from None
    aliases = [m.alias for m in models]
    if len(set(aliases)) != len(aliases):  # pragma: no cover - guards future edits of the CSV
        raise ConfigError(f"{path}: two models share an alias: {sorted(aliases)}")
    return models


def lookup(name: str) -> RegistryModel | None:
    """The registry model called ``name`` (alias or Hub id, case-insensitive), else None."""
    wanted = name.strip().lower()
    return next((m for m in registry_models() if wanted in (m.alias, m.hub_id.lower())), None)


def suggest(name: str, n: int = 3) -> list[str]:
    """Aliases close to ``name`` (for "did you mean" messages)."""
    aliases = [m.alias for m in registry_models()]
    return difflib.get_close_matches(name.strip().lower(), aliases, n=n, cutoff=0.6)
