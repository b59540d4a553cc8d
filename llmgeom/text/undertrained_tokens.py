"""The under-trained tokens of a head (issue 18 §4; Land & Bartolo 2024, "Fishing for
Magikarp"), as the columns and the summary block ``undertrained`` of ``llmgeom tokens``:
:func:`undertrained_part`.

* the reference set of rows known to be unused (:mod:`llmgeom.text.reference_tokens`: rows
  beyond the tokenizer, unreachable and never-UTF-8 tokens, ``<unused…>`` names, the user's
  ``reference_ids``), counted per reason;
* ``undertrained_indicator``: the cosine distance of each row of the head, its first principal
  component removed, to the reference rows' mean (:mod:`llmgeom.geometry.undertrained`; low =
  under-trained; NaN where not computed: no reference row, a zero or non-finite row);
* ``input_norm`` (an untied model whose input embedding could be read,
  :mod:`llmgeom.sources.input_embedding`): the L2 norm of each input-embedding row (low =
  under-trained: weight decay shrinks the rows no gradient reaches);
* ``undertrained_candidate``: the ordinary tokens (reachable, decodable, not special, not in the
  reference set) at or below the ``undertrained_percentile``-th percentile of the *main
  indicator*, the authors' default: ``input_norm`` for an untied model (it needs no reference
  set), else ``undertrained_indicator``;
* with ``verify``, ``undertrained_verify_max_prob`` (:mod:`llmgeom.text.verify_tokens`) for the
  ``verify_max_tokens`` lowest candidates, NaN for the others; below 0.01 = verified.

Example:
    >>> import torch
    >>> from llmgeom.sources import load_unembedding
    >>> from llmgeom.options.tokens import TokensOptions
    >>> torch.manual_seed(0)
    <torch._C.Generator object at ...>
    >>> W = torch.randn(60, 4)
    >>> part = undertrained_part(W, load_unembedding(W), None, None,
    ...     TokensOptions(reference_ids=(0, 1, 2)), np.ones(60, bool))
    >>> part.summary["ranked_by"], part.summary["reference"]["reasons"]
    ('undertrained_indicator', {'user': 3})
    >>> int(part.columns["undertrained_candidate"].sum()), part.summary["tied"]
    (2, None)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LlmgeomError
from ..geometry.undertrained import input_norms, low_tail, reference_cosine_distance
from ..options import inapplicable
from ..options.tokens import TokensOptions
from ..sources.input_embedding import load_input_embedding
from ..unembedding import Unembedding
from .reference_tokens import TokenRoles, token_roles
from .verify_tokens import VERIFIED_BELOW, verify_tokens

DEFINITION = (
    "undertrained_indicator = 1 - cos(w~_i, r~), w~_i = w_i - (w_i.v) v with v the first "
    "principal component of the rows (centered PCA; removed from the uncentered rows), r~ = "
    "the mean of w~_j over the reference rows; low = under-trained. input_norm = |e_i| of the "
    "input embedding (untied models); low = under-trained"
)


@dataclass(frozen=True)
class UndertrainedPart:
    """The columns (by name, one entry per row) and the summary block ``undertrained``."""

    columns: dict[str, Any]
    summary: dict[str, Any]


def _input_norm(source: Any, unemb: Unembedding, revision: str | None) -> tuple[Any, str | None]:
    """``(input_norm column or None, why not)``."""
    if unemb.meta.tied:
        return None, "tied: the head is the input embedding"
    try:
        found = load_input_embedding(source, unemb, revision=revision)
    except LlmgeomError as err:
        return None, str(err)
    if found is None:
        return None, "tied: the head is the input embedding"
    n = unemb.shape[0]
    norms = input_norms(found.weight)
    column = np.full(n, np.nan)
    column[: min(n, norms.size)] = norms[:n]
    return column, None


def _indicator(unemb: Unembedding, roles: TokenRoles, usable: np.ndarray) -> tuple[Any, str | None]:
    if not roles.reference.any():
        why = "no reference rows (no row beyond the tokenizer, no unreachable, never-UTF-8 or "
        return None, why + "<unused> token, no reference_ids)"
    try:
        return reference_cosine_distance(unemb.weight, roles.reference, usable=usable), None
    except LlmgeomError as err:
        return None, str(err)


def _full_model(source: Any, unemb: Unembedding, tokenizer: Any, opts: TokensOptions) -> Any:
    """The model the repetition check runs, or a ``ConfigError`` naming ``verify``."""
    if tokenizer is None:
        raise inapplicable("verify", True, ": the repetition prompts need the model's tokenizer")
    meta = unemb.meta
    if meta.source_kind == "module":
        return source
    if meta.source_kind == "local-dir" and not (Path(str(source)) / "config.json").is_file():
        raise inapplicable("verify", True, f" to {source}: no config.json to build the model")
    if meta.source_kind == "file" and Path(str(source)).suffix.lower() != ".gguf":
        why = f" to {source}: a lone weight file; pass its checkpoint folder with config.json"
        raise inapplicable("verify", True, why)
    if meta.source_kind not in ("local-dir", "file", "hub"):
        why = " to an in-memory matrix: the repetition check runs the full model"
        raise inapplicable("verify", True, why)
    from .lm import load_model

    revision = (meta.commit_sha or opts.revision) if meta.source_kind == "hub" else None
    loaded = load_model(
        str(source), revision=revision, device=opts.device, tokenizer=tokenizer,
        progress=opts.progress,
    )  # fmt: skip
    return loaded.model


def _listed(ids: np.ndarray, strings: Any, columns: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i in ids:
        row: dict[str, Any] = {"id": int(i), "string": None if strings is None else strings[i]}
        for key in ("undertrained_indicator", "input_norm", "undertrained_verify_max_prob"):
            if key in columns:
                value = float(columns[key][i])
                row[key] = None if np.isnan(value) else value
        out.append(row)
    return out


def undertrained_part(
    source: Any,
    unemb: Unembedding,
    tokenizer: Any,
    strings: Any,
    opts: TokensOptions,
    usable: np.ndarray,
) -> UndertrainedPart:
    """The under-trained columns and summary of the head ``unemb`` loaded from ``source`` (see
    the module docstring); ``strings``: the decoded ids (None without a tokenizer); ``usable``:
    the rows with finite entries. Call before the head's rows are normalised in place."""
    started = time.perf_counter()
    n = unemb.shape[0]
    vocab = None if tokenizer is not None else unemb.meta.tokenizer_len
    roles = token_roles(
        n, tokenizer, strings=strings, vocab_size=vocab, extra_ids=opts.reference_ids or ()
    )
    indicator, indicator_why = _indicator(unemb, roles, usable)
    norms, norms_why = _input_norm(source, unemb, opts.revision)
    columns: dict[str, Any] = {
        "undertrained_indicator": np.full(n, np.nan) if indicator is None else indicator,
        "undertrained_reference": roles.reference,
    }
    if norms is not None:
        columns["input_norm"] = norms
    ranked_by = "input_norm" if norms is not None else "undertrained_indicator"
    main = norms if norms is not None else indicator
    if main is None:
        candidates, threshold = np.zeros(n, dtype=bool), None
    else:
        candidates, threshold = low_tail(main, roles.ordinary, opts.undertrained_percentile)
    columns["undertrained_candidate"] = candidates
    order = np.flatnonzero(candidates)
    if main is not None:
        order = order[np.argsort(main[order], kind="stable")]
    verification = None
    if opts.verify:
        checked = order[: opts.verify_max_tokens]
        model = _full_model(source, unemb, tokenizer, opts)
        found = verify_tokens(model, tokenizer, checked.tolist(), roles.ordinary, strings)
        column = np.full(n, np.nan)
        column[checked] = found["max_prob"]
        columns["undertrained_verify_max_prob"] = column
        verification = {
            "definition": "max over the authors' 3 repetition prompts and 3 greedy steps of "
            "p(token); verified below 0.01",
            "verified_below": VERIFIED_BELOW,
            "n_checked": int(checked.size),
            "n_verified": int(np.sum(column[checked] < VERIFIED_BELOW)),
            "placeholder": found["placeholder"],
            "prompt_tokens": found["prompt_tokens"],
        }
    summary = {
        "definition": DEFINITION,
        "tied": unemb.meta.tied,
        "reference": {"n_rows": int(roles.reference.sum()), "reasons": roles.reasons},
        "roles": roles.counts(),
        "indicator_computed": indicator is not None,
        "indicator_reason": indicator_why,
        "input_norm_computed": norms is not None,
        "input_norm_reason": norms_why,
        "ranked_by": ranked_by if main is not None else None,
        "percentile": opts.undertrained_percentile,
        "threshold": threshold,
        "n_candidates": int(order.size),
        "candidates": _listed(order, strings, columns),
        "verification": verification,
        "seconds": time.perf_counter() - started,
    }
    return UndertrainedPart(columns, summary)
