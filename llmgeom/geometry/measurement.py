"""Measure a matrix: validate, pick rows, normalise, run the overlap engine, compare to baselines.

The steps live beside it: :mod:`.prepare` (rows, norms, unit rows), :mod:`.pair_passes` (which
pass runs, and running it), :mod:`.gram` and :mod:`.overlap` (the statistics), :mod:`.spectrum`
(the eigenvalues of ŴᵀŴ), :mod:`.weights` (token counts as weights), :mod:`.baselines`;
:mod:`llmgeom.records.measurement` builds the record.

Example:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> result = measure(torch.randn(400, 16), progress=False)
    >>> 0.8 < result.m_times_mean_cos2 < 1.2      # random rows: mean cos² ≈ 1/m
    True
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch

from ..devices import resolve_device
from ..options import (  # noqa: F401 - PAIR_MODES, ROW_MODES... are part of this module's API
    DEFAULT_EXACT_MAX_FLOPS,
    DEFAULT_PRECISION,
    DEFAULT_TIME_BUDGET_S,
    PAIR_MODES,
    ROW_MODES,
    MeasureOptions,
    PairMode,
    RowMode,
)
from ..progress import progress_setting
from ..records.measurement import PASS_DIAGNOSTICS, build_record
from ..records.measurement_format import variant_name
from ..sources import load_unembedding
from ..sources.tensor_digest import tensor_sha256
from . import gram, overlap
from .baselines import reference_values
from .fold import fold_final_norm
from .pair_passes import (  # noqa: F401 - PROGRESS_LOGGER: the CLI listens to it
    LOG,
    PROGRESS_LOGGER,
    _choose_pairs,
    _exact_pairs,
    _sampled_pairs,
)
from .prepare import _select_rows, unit_rows
from .result import MeasureResult
from .spectrum import gram_statistics_with_spectrum
from .weights import TokenCounts, load_counts, row_weights, weighted_block

_OWNED_KINDS = ("local-dir", "file", "hub")  # tensors loaded by us: safe to normalise in place


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _keywords_over_options(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Apply the keywords written beside an ``options`` object to it before calling ``func``
    (an explicit ``center=False`` must override an object that says ``True``, and only the
    caller knows it was written); the signature, as tools and IDEs see it, stays ``func``'s."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        written = dict(kwargs)
        options = written.pop("options", None)
        if not isinstance(options, MeasureOptions) or not written:
            return func(*args, **kwargs)
        # ParamSpec cannot say that func takes options=: the one call mypy cannot check
        return func(*args, options=options.replace(**written))  # type: ignore[arg-type]

    return wrapper


@_keywords_over_options
def measure(
    source: Any,
    *,
    pairs: PairMode = "auto",
    time_budget: float | str = DEFAULT_TIME_BUDGET_S,
    sample_rows: int | None = None,
    exact_max_flops: float = DEFAULT_EXACT_MAX_FLOPS,
    precision: float = DEFAULT_PRECISION,
    rows: RowMode = "all",
    center: bool = False,
    fold_norm: bool = False,
    weights: Any = None,
    tensor: str | None = None,
    revision: str | None = None,
    device: str = "auto",
    drop_nonfinite: bool = False,
    bins: int = 0,
    memory_budget: int | str | None = None,
    seed: int = 0,
    name: str | None = None,
    family: str | None = None,
    progress: bool | None = None,
    options: MeasureOptions | None = None,
) -> MeasureResult:
    """Measure the overlap geometry of an output embedding; a typed, frozen
    :class:`~llmgeom.geometry.result.MeasureResult` (``to_dict()``: the JSON record).

    ``source``: anything :func:`llmgeom.load_unembedding` accepts (path, Hub id, module, tensor,
    array). The keywords are the fields of :class:`~llmgeom.options.MeasureOptions`, with its
    defaults; an ``options`` object may give them instead, and the keywords written beside it
    override it (``measure(W, options=o, pairs="gram")``). ``rows``: ``all`` (the paper) or
    ``tokenizer`` (drop padding rows); ``center`` subtracts the mean row; ``fold_norm`` measures
    the folded head ``γ ⊙ w_j`` instead (:mod:`llmgeom.geometry.fold`: the final norm is read
    with the head; its bias's per-token logit offsets are ``result.logit_offset``); ``pairs``:
    ``auto`` (the
    exact pass when its FLOP count ``n(n−1)·m`` is at most ``exact_max_flops``, else ``sample``: a
    deterministic rule), ``exact`` (blocked pass over all pairs), ``sample`` (mean/std |cos| from
    random pairs until the 95 % interval is within ``precision`` of the mean or ``time_budget`` has
    passed, the per-token maxima from ``sample_rows`` random whole rows, with intervals; see
    :mod:`llmgeom.geometry.sampling`) or ``gram`` (Gram statistics only); mean cos² is exact in
    every mode. ``bins`` > 0 adds a histogram of cos (exact in the exact pass, about 30 per cent
    more CPU time; of the sampled pairs otherwise). ``weights`` (token counts: a ``.npz`` path, an
    array, or None) adds the frequency-weighted statistics of :mod:`llmgeom.geometry.weights`. Zero
    rows are excluded (no direction) and counted; progress and the pass-time estimate are logged on
    the ``llmgeom.progress`` logger.
    """
    given = {key: value for key, value in locals().items() if key not in ("source", "options")}
    opts = options if options is not None else MeasureOptions(**given)
    counts = None if opts.weights is None else load_counts(opts.weights)  # checked before loading
    with progress_setting(opts.progress):  # loaders deep inside obey it too
        return _measure(source, opts, counts)


def _measure(source: Any, opts: MeasureOptions, counts: TokenCounts | None) -> MeasureResult:
    progress, rows, center, bins = opts.progress, opts.rows, opts.center, opts.bins
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    unemb = load_unembedding(
        source, tensor=opts.tensor, revision=opts.revision, final_norm=opts.fold_norm
    )
    if unemb.meta.sha256 is None:  # in-memory matrices: a checksum names the matrix in the record
        digest = tensor_sha256(unemb.weight)
        unemb = replace(unemb, meta=replace(unemb.meta, sha256=digest))
    logit_offset = None
    if opts.fold_norm:  # the matrix that produces the logits; sha256 stays the stored head's
        unemb, logit_offset = fold_final_norm(unemb)
    meta = unemb.meta
    if opts.name or opts.family:  # the user's labels win over the detected ones
        meta = replace(meta, name=opts.name, family=opts.family or meta.family)
    timings["load_s"] = time.perf_counter() - t0
    if counts is not None:
        counts.aligned(unemb.shape[0])  # counts longer than the head: fail before any work
    dev = resolve_device(opts.device)

    t = time.perf_counter()
    W, n_selected = _select_rows(unemb, rows)
    owned = unemb is not source and unemb.meta.source_kind in _OWNED_KINDS
    prepared = unit_rows(W, opts.drop_nonfinite, center, owned, dev, progress)
    U, used_norms, row_index = prepared.U, prepared.norms, prepared.row_index
    norm_stats, n_bad, n_centre_dropped = (
        prepared.norm_stats,
        prepared.n_nonfinite,
        prepared.n_centre_dropped,
    )
    n, m = U.shape
    timings["normalize_s"] = time.perf_counter() - t

    p = None
    if counts is not None:
        index = None if row_index is None else row_index.cpu().numpy()
        used_weights = row_weights(counts, int(unemb.shape[0]), n_selected, index)
        p = torch.from_numpy(used_weights.p).to(dev)

    t = time.perf_counter()
    gram_stats, spectrum = gram_statistics_with_spectrum(
        U, used_norms, progress=progress, sums=prepared.sums
    )
    del used_norms, prepared
    stats: dict[str, Any] = {"n_rows_used": n, "m": m, **gram_stats}
    weighted_gram = None if p is None else gram.weighted_gram_statistics(U, p)
    timings["gram_s"] = time.perf_counter() - t
    weighted_note = ""
    if weighted_gram is not None:
        weighted_note = f"; weighted mean cos^2 {weighted_gram['weighted_mean_cos2']:.6g}"
    LOG.info(
        "Gram statistics: mean cos^2 %.6g (m*mean = %.4g), participation ratio %.1f%s",
        stats["mean_cos2"],
        m * stats["mean_cos2"],
        stats["participation_ratio"],
        weighted_note,
    )
    budget = opts.memory_budget if opts.memory_budget is not None else overlap.default_budget(dev)
    chosen, decision = _choose_pairs(opts, U, budget)
    arrays: dict[str, np.ndarray] = {}
    pair_sums: dict[str, Any] | None = None
    diagnostics: dict[str, Any] = {}
    t = time.perf_counter()
    if chosen == "exact":
        exact, arrays = _exact_pairs(U, row_index, budget, bins, progress, p)
        pair_sums = {"weighted_abs_sum": exact.pop("weighted_abs_sum")} if p is not None else None
        diagnostics = {key: exact.pop(key) for key in PASS_DIAGNOSTICS}
        exact["n_pairs"] = exact.pop("pairs")  # a count; variant.pairs is the mode
        stats.update(exact)
        stats["abs_cos_method"] = "exact"
        timings["pairwise_s"] = time.perf_counter() - t
    elif chosen == "sample":
        sampled, pair_sums = _sampled_pairs(U, opts, decision, stats["mean_cos2"], budget, p)
        if row_index is not None:  # the original numbering of the matrix
            bound = sampled["max_abs_cos_lower_bound"]
            bound["i"], bound["j"] = int(row_index[bound["i"]]), int(row_index[bound["j"]])
        stats["sampled"] = sampled
        stats["mean_abs_cos"] = sampled["mean_abs_cos"]
        stats["std_abs_cos"] = sampled["std_abs_cos"]
        stats["abs_cos_method"] = "sample"
        timings["sample_s"] = time.perf_counter() - t
    weighted = None
    if counts is not None:
        assert weighted_gram is not None  # computed with p whenever counts are given
        method = None if chosen == "gram" else chosen
        weighted = weighted_block(counts, used_weights, weighted_gram, pair_sums, method, m)
    reference = reference_values(n, m)
    stats["m_times_mean_cos2"] = m * stats["mean_cos2"]
    timings["total_s"] = time.perf_counter() - t0
    variant = {
        "name": variant_name(rows, center, opts.fold_norm),
        "rows": rows,
        "center": center,
        # a folded head says so (an unfolded record keeps its layout: no fold_norm key)
        **({"fold_norm": True, "final_norm": meta.extra["final_norm"]} if opts.fold_norm else {}),
        "pairs": chosen,
        **decision,
        "n_rows_total": int(unemb.shape[0]),
        "n_rows_selected": int(n_selected),
        "n_zero_rows_excluded": int(norm_stats.get("n_zero", 0)),
        "n_rows_equal_to_mean_excluded": n_centre_dropped,
        "n_nonfinite_rows_dropped": n_bad,
        "histogram_bins": bins if chosen != "gram" else 0,
    }
    record = build_record(
        meta=meta,
        variant=variant,
        options=opts.to_record(),
        stats=stats,
        diagnostics=diagnostics,
        weighted=weighted,
        spectrum=spectrum,
        reference=reference,
        row_norms=norm_stats,
        timings=timings,
        device=str(dev),
    )
    return MeasureResult._build(record, arrays=MappingProxyType(arrays), logit_offset=logit_offset)
