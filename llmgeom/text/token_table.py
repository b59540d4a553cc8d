"""Every token of a head and its place in the geometry: :func:`token_table` (``llmgeom tokens``).

Per token, exactly (:mod:`llmgeom.geometry.token_interference`): its id and decoded string (the
model's tokenizer, GGUF files included: :func:`llmgeom.text.tokenizers.load_tokenizer`), its row
norm, its interference (mean cos² with all other tokens, O(n·m²) for all of them through the
Gram matrix), with counts the frequency-weighted interference, its count and frequency rank, and
its nearest neighbour and |cos| when the exact pass over all pairs is affordable (the FLOP rule of
``measure``'s ``--exact-max-flops``). The summary lists the most crowded tokens and, with counts,
the Spearman correlations of interference and row norm with log frequency
(:mod:`llmgeom.geometry.token_summary`), and the frequency direction: a ridge regression of
log(1 + count) on the rows, its cross-validated R², each token's projection on it and mean cos²
with it projected out (:mod:`llmgeom.geometry.frequency_direction`). With ``fold_norm`` the head
is the folded one, ``γ ⊙ w_j`` (:mod:`llmgeom.geometry.fold`), with the logit offsets
``b · w_j`` as a column where the final norm has a bias. The result is a
:class:`~llmgeom.records.token_table.TokenTable`.

Zero rows (no direction) and, with ``drop_nonfinite``, rows with NaN/inf take no part: their
interference and neighbour are missing, and the others' means are over the rows that do.

The under-trained tokens (Land & Bartolo 2024: :mod:`llmgeom.text.undertrained_tokens`) are
found from the raw rows before they are normalised; the spectrum of the unit rows' Gram matrix
joins the summary as ``measure`` records it. More per-token quantities join where
:func:`_token_table` marks it: computed in :mod:`llmgeom.geometry` from the unit rows ``U``,
``G`` and ``p`` already at hand, added to ``table`` under their own names (the record's files
keep any extra column, :meth:`~llmgeom.records.token_table.TokenTable.with_columns` adds one
afterwards) and to the summary as a block of their own; the page
(:mod:`llmgeom.report.token_page`) shows every column and block.

Example:
    >>> import torch
    >>> t = token_table(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), progress=False)
    >>> t.table["interference"].round(6).tolist(), t.table["nearest_id"].tolist()
    ([0.18, 0.5, 0.32], [1, 2, 1])
    >>> t.table["string"], t.to_dict()["tokenizer"]["reason"]
    ([None, None, None], 'an in-memory matrix has no tokenizer')
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import CorruptCheckpointError, NetworkError, SourceNotFoundError
from ..geometry.fold import fold_final_norm
from ..geometry.frequency_direction import frequency_direction
from ..geometry.gram import gram_matrix, scaled_gram_matrices
from ..geometry.overlap import default_budget
from ..geometry.pair_passes import LOG
from ..geometry.pass_cost import pair_pass_flops, prefers_exact
from ..geometry.prepare import _normalized, _usable_rows
from ..geometry.token_interference import (
    nearest_neighbours,
    token_interference,
    weighted_token_interference,
)
from ..geometry.token_summary import (
    describe,
    frequency_rank,
    most_crowded,
    spearman_with_log_frequency,
)
from ..geometry.weights import TokenCounts, load_counts, row_weights
from ..options.tokens import TokensOptions
from ..progress import progress_setting
from ..records.measurement_format import model_label, package_versions
from ..records.token_table import SCHEMA, TokenTable
from ..sources import load_unembedding
from .token_memory import nearest_budget, token_working_set
from .tokenizers import LoadedTokenizer, load_tokenizer
from .undertrained_tokens import undertrained_part

_OWNED_KINDS = ("local-dir", "file", "hub")  # tensors loaded by us: safe to normalise in place
_IN_MEMORY_KINDS = ("array", "module")


def token_table(
    model_or_matrix: Any,
    *,
    counts: Any = None,
    exact_max_flops: float | None = None,
    top: int | None = None,
    tokenizer: Any = None,
    fold_norm: bool | None = None,
    tensor: str | None = None,
    revision: str | None = None,
    device: str | None = None,
    drop_nonfinite: bool | None = None,
    memory_budget: int | str | None = None,
    name: str | None = None,
    progress: bool | None = None,
    undertrained_percentile: float | None = None,
    reference_ids: Any = None,
    verify: bool | None = None,
    verify_max_tokens: int | None = None,
    options: TokensOptions | None = None,
) -> TokenTable:
    """The token table of a head: see the module docstring.

    ``model_or_matrix``: anything :func:`llmgeom.load_unembedding` accepts. The keywords are the
    fields of :class:`~llmgeom.options.tokens.TokensOptions` (its defaults where not given; the
    keywords given override an ``options`` object). ``counts``: token counts (a ``.npz`` path as
    ``llmgeom freq`` writes, or an array); ``tokenizer``: None (the model's own: its folder, GGUF
    file or Hub repo), False (no strings), or a tokenizer object or source.

    Example:
        >>> import torch
        >>> t = token_table(torch.eye(3, 4), counts=[5, 1, 0], progress=False)
        >>> t.table["interference"].tolist(), t.table["frequency_rank"].tolist()
        ([0.0, 0.0, 0.0], [1, 2, -1])
    """
    given = {k: v for k, v in locals().items() if k not in ("model_or_matrix", "options")}
    given = {k: v for k, v in given.items() if v is not None}
    opts = (options or TokensOptions()).replace(**given) if given else (options or TokensOptions())
    loaded_counts = None if opts.counts is None else load_counts(opts.counts)
    with progress_setting(opts.progress):
        return _token_table(model_or_matrix, opts, loaded_counts)


def _tokenizer_for(source: Any, choice: Any, revision: str | None) -> tuple[Any, dict[str, Any]]:
    """``(tokenizer or None, the summary's ``tokenizer`` block)``."""
    if choice is False:
        return None, {"loaded": False, "reason": "no tokenizer asked for (tokenizer=False)"}
    target = choice if choice is not None else source
    if choice is None and not isinstance(source, str | os.PathLike):
        return None, {"loaded": False, "reason": "an in-memory matrix has no tokenizer"}
    if isinstance(target, str | os.PathLike):
        path = Path(target).expanduser()
        if path.is_file() and path.suffix.lower() != ".gguf":
            target = path.parent  # a weight file: its tokenizer files are beside it
    try:
        loaded: LoadedTokenizer = load_tokenizer(target, revision=revision)
    except (SourceNotFoundError, NetworkError, CorruptCheckpointError) as err:
        if choice is not None:  # the user named a tokenizer: it must load
            raise
        return None, {"loaded": False, "reason": str(err)}
    return loaded.tokenizer, {"loaded": True, **loaded.identity}


def decoded_strings(tokenizer: Any, n_rows: int) -> list[str | None]:
    """``tokenizer.decode([i])`` for every id below ``min(n_rows, len(tokenizer))`` (in one
    ``batch_decode``), None for the rows beyond the tokenizer.

    Example:
        >>> class Letters:
        ...     def __len__(self): return 2
        ...     def batch_decode(self, ids): return ["ab"[i[0]] for i in ids]
        >>> decoded_strings(Letters(), 3)
        ['a', 'b', None]
    """
    k = min(n_rows, len(tokenizer))
    strings: list[str | None] = list(tokenizer.batch_decode([[i] for i in range(k)]))
    return strings + [None] * (n_rows - k)


def _scatter(values: torch.Tensor, row_index: torch.Tensor | None, n: int, fill: float) -> Any:
    """Values of the rows used, in the head's numbering, ``fill`` for the others."""
    data = values.detach().cpu().numpy()
    if row_index is None:
        return data
    out = np.full(n, fill, dtype=data.dtype)
    out[row_index.cpu().numpy()] = data
    return out


def _block_budget(
    opts: TokensOptions, W: torch.Tensor, rows: Any, owned: bool, dev: Any, weighted: bool
) -> int:
    """The bytes of the nearest pass's blocks: the default, or what ``memory_budget`` leaves
    (refused before anything is allocated when the steps cannot fit: :mod:`.token_memory`)."""
    if opts.memory_budget is None:
        return default_budget(dev)
    n = W.shape[0] if rows is None else len(rows)
    in_place = owned and rows is None and W.dtype == torch.float32 and dev.type == "cpu"
    working = token_working_set(n, W.shape[1], weighted=weighted, copy=not in_place)
    return nearest_budget(opts.memory_budget, working)


def _counts_column(counts: np.ndarray) -> np.ndarray:
    whole = np.all(counts == np.round(counts)) and counts.max(initial=0) < 2**53
    return counts.astype(np.int64) if whole else counts


def _spectrum(G: torch.Tensor, U: torch.Tensor, used_norms: torch.Tensor) -> Any:
    """The record's ``spectrum`` block from the Gram matrix of the rows used (as ``measure``'s:
    :func:`llmgeom.geometry.spectrum.spectrum_of_gram`)."""
    from ..geometry.spectrum import spectrum_of_gram

    return spectrum_of_gram(G, U, used_norms.to(U.device))


def _frequency_direction(
    table: dict[str, Any],
    U: torch.Tensor,
    used_norms: torch.Tensor,
    row_index: torch.Tensor | None,
    counts: np.ndarray,
    G: torch.Tensor,
    progress: bool | None,
) -> dict[str, Any]:
    """Add the ``frequency_projection`` column (u_i·d, NaN for the rows not used) to ``table``
    when the direction is computed; return the summary's ``frequency_direction`` block."""
    used_counts = counts if row_index is None else counts[row_index.cpu().numpy()]
    along, block = frequency_direction(U, used_norms, used_counts, G, progress)
    if along is not None:
        table["frequency_projection"] = _scatter(
            torch.from_numpy(along), row_index, len(counts), np.nan
        )
    return block


def _token_table(source: Any, opts: TokensOptions, counts: TokenCounts | None) -> TokenTable:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    unemb = load_unembedding(
        source, tensor=opts.tensor, revision=opts.revision, final_norm=opts.fold_norm
    )
    logit_offset = None
    if opts.fold_norm:  # the matrix that produces the logits, before any normalising
        unemb, logit_offset = fold_final_norm(unemb)
    meta = unemb.meta
    if opts.name:
        meta = replace(meta, name=opts.name, extra=dict(meta.extra))
    n_rows, m = unemb.shape
    aligned = None if counts is None else counts.aligned(n_rows)  # longer counts: fail now
    tokenizer, tokenizer_block = _tokenizer_for(source, opts.tokenizer, opts.revision)
    strings = None if tokenizer is None else decoded_strings(tokenizer, n_rows)
    timings["load_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    dev = resolve_device(opts.device)
    norms, _, row_index, n_bad = _usable_rows(unemb.weight, opts.drop_nonfinite, opts.progress)
    owned = opts.fold_norm or (unemb is not source and meta.source_kind in _OWNED_KINDS)
    block_budget = _block_budget(opts, unemb.weight, row_index, owned, dev, counts is not None)
    finite = torch.isfinite(norms).cpu().numpy()  # the under-trained part reads the raw rows:
    under = undertrained_part(source, unemb, tokenizer, strings, opts, finite)  # before U
    U, _, row_index, _ = _normalized(
        unemb.weight, norms, row_index, False, owned, dev, opts.progress
    )
    n_used = U.shape[0]
    used_norms = norms if row_index is None else norms[row_index.to(norms.device)]
    timings["normalize_s"] = time.perf_counter() - t

    t = time.perf_counter()
    p = None
    if counts is not None:
        index = None if row_index is None else row_index.cpu().numpy()
        p = torch.from_numpy(row_weights(counts, n_rows, n_rows, index).p).to(dev)
        G, G_p = scaled_gram_matrices(U, p.sqrt(), progress=opts.progress)
    else:
        G, G_p = gram_matrix(U, progress=opts.progress), None
    interference = token_interference(U, G, progress=opts.progress)
    weighted = None if p is None else weighted_token_interference(U, p, G_p, opts.progress)
    timings["interference_s"] = time.perf_counter() - t

    table: dict[str, Any] = {"id": np.arange(n_rows, dtype=np.int64)}
    table["string"] = strings if strings is not None else [None] * n_rows
    table["row_norm"] = norms.cpu().numpy()
    if logit_offset is not None:
        table["logit_offset"] = logit_offset
    table["interference"] = _scatter(interference, row_index, n_rows, np.nan)
    if weighted is not None:
        table["weighted_interference"] = _scatter(weighted, row_index, n_rows, np.nan)

    t = time.perf_counter()
    flops = pair_pass_flops(n_used, m)
    nearest: dict[str, Any] = {"flops": flops, "exact_max_flops": opts.exact_max_flops}
    if prefers_exact(n_used, m, opts.exact_max_flops):
        LOG.info("nearest neighbours: exact pass over all pairs (%.3g FLOPs)", flops)
        partner, best = nearest_neighbours(U, block_budget, opts.progress)
        if row_index is not None:
            partner = row_index.cpu()[partner]
        table["nearest_id"] = _scatter(partner, row_index, n_rows, -1)
        table["nearest_abs_cos"] = _scatter(best, row_index, n_rows, np.nan)
        nearest["computed"] = True
        timings["nearest_s"] = time.perf_counter() - t
    else:
        LOG.info(
            "nearest neighbours not computed: the exact pass counts %.3g FLOPs, over "
            "exact_max_flops %.3g",
            flops,
            opts.exact_max_flops,
        )
        table["nearest_id"] = np.full(n_rows, -1, dtype=np.int64)
        table["nearest_abs_cos"] = np.full(n_rows, np.nan)
        nearest["computed"] = False
    # more per-token columns join here, from U, G, p and row_index above, scattered into the
    # head's numbering with _scatter, each with a summary block below
    table.update(under.columns)
    direction = None
    if aligned is not None:  # issue 18 §5: the direction of the rows that predicts frequency
        t = time.perf_counter()
        direction = _frequency_direction(table, U, used_norms, row_index, aligned, G, opts.progress)
        timings["frequency_direction_s"] = time.perf_counter() - t
    if aligned is not None:
        table["count"] = _counts_column(aligned)
        table["frequency_rank"] = frequency_rank(aligned)

    timings["total_s"] = time.perf_counter() - t0
    model = meta.to_dict()
    model["name"] = model_label(model)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "model": model,
        "options": opts.to_record(),
        "n_rows": n_rows,
        "m": m,
        "n_rows_used": n_used,
        "n_rows_excluded": n_rows - n_used,
        "n_nonfinite_rows_dropped": n_bad,
        # a folded head says so, as measure's record (an unfolded record keeps its layout)
        **({"fold_norm": True, "final_norm": meta.extra["final_norm"]} if opts.fold_norm else {}),
        "tokenizer": tokenizer_block,
        "interference": {
            "definition": "mean over j != i of cos^2_ij = (u_i^T G u_i - |u_i|^4) / (n - 1), "
            "G = U^T U over the rows used",
            **describe(table["interference"]),
        },
        "nearest_neighbour": nearest,
        "most_crowded": most_crowded(
            table["interference"],
            opts.top,
            strings=strings,
            nearest_id=table["nearest_id"] if nearest["computed"] else None,
            nearest_abs_cos=table["nearest_abs_cos"] if nearest["computed"] else None,
        ),
        "spectrum": _spectrum(G, U, used_norms),
        "counts": None,
        "frequency_correlation": None,
        "undertrained": under.summary,
        "timings": timings,
        "environment": {"versions": package_versions(), "device": str(dev)},
    }
    if counts is not None and aligned is not None:
        record["counts"] = {
            "path": counts.path,
            "sha256": counts.sha256,
            "length": int(counts.counts.size),
            "total": counts.total,
            "tokens_with_count": int(np.count_nonzero(aligned)),
        }
        record["weighted_interference"] = {
            "definition": "sum_{j != i} p_j cos^2_ij / sum_{j != i} p_j, p = counts over the "
            "rows used",
            **describe(table["weighted_interference"]),
        }
        record["frequency_correlation"] = {
            "definition": "Spearman rank correlation with log(count), tokens with count > 0",
            "interference": spearman_with_log_frequency(table["interference"], aligned),
            "row_norm": spearman_with_log_frequency(table["row_norm"], aligned),
        }
        record["frequency_direction"] = direction
    return TokenTable._build(record, table=table)
