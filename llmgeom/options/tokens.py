"""The options of ``llmgeom tokens`` / :func:`llmgeom.token_table`, declared once.

:class:`TokensOptions` holds the analysis options (the CLI adds only what is about files:
``--out``, ``--csv``, ``--no-plot``).

Example:
    >>> import argparse
    >>> from llmgeom.options import add_arguments, from_namespace
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser, TokensOptions)
    >>> opts = from_namespace(TokensOptions, parser.parse_args(["--top", "5"]))
    >>> opts.top, opts.counts, opts.exact_max_flops
    (5, None, 2000000000000.0)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..devices import resolve_device
from ..errors import ConfigError
from .checks import check_int, check_number, check_text, is_int, naming, require
from .declare import option
from .head import (
    check_memory_budget,
    device_option,
    drop_nonfinite_option,
    fold_norm_option,
    memory_budget_option,
    parse_memory_budget,
    progress_option,
    revision_option,
    tensor_option,
)
from .measure import DEFAULT_EXACT_MAX_FLOPS

DEFAULT_TOP = 20  # the most crowded tokens the summary lists
DEFAULT_UNDERTRAINED_PERCENTILE = 2.0  # Land & Bartolo's share of tokens to verify
DEFAULT_VERIFY_MAX_TOKENS = 50


def parse_ids(text: str) -> tuple[int, ...]:
    """Token ids from the command line: ``"3,7,100-104"`` (ranges inclusive).

    Example:
        >>> parse_ids("3, 7,10-12")
        (3, 7, 10, 11, 12)
    """
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            message = f"reference_ids must be ids or ranges like 3,7,100-120, got {text!r}"
            raise ConfigError(message, parameter="reference_ids")
        ids.extend(range(int(low), int(high) + 1) if dash else [int(low)])
    return tuple(ids)


@dataclass(frozen=True)
class TokensOptions:
    """Analysis options of :func:`llmgeom.token_table` and ``llmgeom tokens`` (declared once).

    ``counts`` is a counts file (``.npz`` holding ``counts``), an array of counts or None; it is
    not compared. ``tokenizer``: None (the model's own, when it has one), False (no strings) or
    a tokenizer object or source. Validation happens on construction:

    Example:
        >>> TokensOptions(top=-1)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: top must be an integer >= 0, got -1
    """

    counts: Any = option(  # noqa: RUF009 - option() is dataclasses.field with help
        None,
        "token counts (.npz holding 'counts', index = token id, as `llmgeom freq` writes): add "
        "each token's count, frequency rank and frequency-weighted interference, and the "
        "correlations with frequency",
        flag="--counts",
        metavar="COUNTS.npz",
        compare=False,
    )
    exact_max_flops: float = option(
        DEFAULT_EXACT_MAX_FLOPS,
        "each token's nearest neighbour comes from the exact pass over all pairs when it counts "
        "at most this many FLOPs, n(n-1)*m (default: {default:g}; inf: always, 0: never); "
        "above, the columns are marked not computed",
        flag="--exact-max-flops",
        metavar="FLOPS",
        kind=float,
    )
    top: int = option(
        DEFAULT_TOP,
        "how many of the most crowded tokens the summary lists (default: {default})",
        flag="--top",
        metavar="K",
        kind=int,
    )
    tokenizer: Any = option(  # noqa: RUF009 - option() is dataclasses.field with help
        None, "the tokenizer that decodes the ids (Python only)", compare=False
    )
    fold_norm: bool = fold_norm_option()
    tensor: str | None = tensor_option()
    revision: str | None = revision_option()
    device: str = device_option()
    drop_nonfinite: bool = drop_nonfinite_option()
    memory_budget: int | None = memory_budget_option()
    name: str | None = option(
        None,
        "the model's name in the summary and the file names (default: the repo id or the file "
        "name)",
        flag="--name",
        metavar="NAME",
    )
    progress: bool | None = progress_option()
    undertrained_percentile: float = option(
        DEFAULT_UNDERTRAINED_PERCENTILE,
        "under-trained candidates: the ordinary tokens whose indicator is at or below this "
        "percentile of theirs (default: {default})",
        flag="--undertrained-percentile",
        metavar="P",
        kind=float,
    )
    reference_ids: tuple[int, ...] | None = option(
        None,
        "more token ids known to be unused, for the under-trained indicator's reference set "
        "(e.g. 3,7,100-120; added to the rows found automatically)",
        flag="--reference-ids",
        metavar="IDS",
        parse=parse_ids,
    )
    verify: bool = option(
        False,
        "check the under-trained candidates with the full model (the authors' repetition "
        "prompts; below 0.01 = verified): needs a checkpoint with config.json, or a Hub model",
        flag="--verify",
    )
    verify_max_tokens: int = option(
        DEFAULT_VERIFY_MAX_TOKENS,
        "with --verify, check at most this many candidates, the lowest first (default: {default})",
        flag="--verify-max-tokens",
        metavar="K",
        kind=int,
    )

    def __post_init__(self) -> None:
        if isinstance(self.memory_budget, str):
            object.__setattr__(self, "memory_budget", parse_memory_budget(self.memory_budget))
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the option by its Python name."""
        check_int("top", self.top)
        check_number(
            "exact_max_flops",
            self.exact_max_flops,
            low=0,
            finite=False,
            must="a number >= 0 (0: never, inf: always)",
        )
        check_text("name", self.name, optional=True)
        self._validate_undertrained()
        check_memory_budget(self.memory_budget)
        with naming("device"):
            resolve_device(self.device)

    def _validate_undertrained(self) -> None:
        check_number("undertrained_percentile", self.undertrained_percentile, low=0, high=100)
        ids = self.reference_ids
        ok = ids is None or (
            isinstance(ids, tuple | list) and all(is_int(i) and i >= 0 for i in ids)
        )
        require(ok, "reference_ids", f"reference_ids must be token ids >= 0, got {ids!r}")
        require(
            isinstance(self.verify, bool),
            "verify",
            f"verify must be True or False, got {self.verify!r}",
        )
        check_int("verify_max_tokens", self.verify_max_tokens, minimum=1)

    def replace(self, **changes: Any) -> TokensOptions:
        """A validated copy with some fields changed."""
        return type(self)(**{**self.__dict__, **changes})

    def to_record(self) -> dict[str, Any]:
        """The JSON form stored in the summary: counts by path, the tokenizer by kind.

        Example:
            >>> TokensOptions(counts="a/b.counts.npz").to_record()["counts"]
            'a/b.counts.npz'
        """
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("progress", "counts", "tokenizer")
        }
        counts = self.counts
        if counts is None or isinstance(counts, str | os.PathLike):
            out["counts"] = None if counts is None else str(Path(counts))
        else:
            out["counts"] = getattr(counts, "path", None) or "array"
        if self.reference_ids is not None:
            out["reference_ids"] = [int(i) for i in self.reference_ids]
        tok = self.tokenizer
        out["tokenizer"] = tok if tok is None or tok is False or isinstance(tok, str) else "object"
        return out
