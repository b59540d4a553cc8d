"""Measure a matrix: validate, pick rows, normalise, run the overlap engine, compare to baselines.

Example:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> result = measure(torch.randn(400, 16), progress=False)
    >>> 0.8 < result.m_times_mean_cos2 < 1.2      # random rows: mean cos² ≈ 1/m
    True
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import ConfigError, InvalidMatrixError
from ..memory import ensure_fits
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
from ..sources import load_unembedding
from ..sources.tensor_digest import tensor_sha256
from ..timing import format_duration
from ..unembedding import Unembedding
from . import overlap, sampling
from .baselines import reference_values
from .result import MeasureResult
from .weights import TokenCounts, load_counts, row_weights, weighted_block

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# rows whose norm is below this fraction of the median norm are reported as suspicious: their
# direction is measured exactly, but such rows are usually padding or damage, not tokens
TINY_NORM_RELATIVE = 1e-4
PROGRESS_LOGGER = "llmgeom.progress"  # what a long measurement is about to do (the CLI prints it)
LOG = logging.getLogger(PROGRESS_LOGGER)
_OWNED_KINDS = ("local-dir", "file", "hub")  # tensors loaded by us: safe to normalise in place
_IN_MEMORY_KINDS = ("array", "module")  # the caller's objects: no tokenizer, no revision


def _select_rows(u: Unembedding, rows: str) -> tuple[torch.Tensor, int]:
    """All rows, or the tokenizer's (``rows`` is checked by :class:`MeasureOptions`)."""
    W = u.weight
    if rows == "all":
        return W, W.shape[0]
    k = u.meta.tokenizer_len
    if not k and u.meta.source_kind in _IN_MEMORY_KINDS:
        raise ConfigError(
            f"rows='tokenizer' does not apply to an in-memory {u.meta.source_kind}: it has no "
            "tokenizer; pass the rows you want (W[:n]) with rows='all'"
        )
    if not k:
        raise ConfigError(
            "rows='tokenizer' needs the tokenizer length, and none was found with this "
            "checkpoint (no tokenizer.json / vocab.json)"
        )
    if k > W.shape[0]:
        raise InvalidMatrixError(
            f"the tokenizer has {k} tokens but the head only {W.shape[0]} rows"
        )
    return W[:k], k


def norm_statistics(norms: torch.Tensor) -> dict[str, Any]:
    """Mean, std, min, max and quantiles of finite row norms, zero and tiny-row counts.

    A row is *tiny* when its norm is non-zero but below ``TINY_NORM_RELATIVE`` (1e-4) times the
    median norm.

    Example:
        >>> import torch
        >>> s = norm_statistics(torch.tensor([1.0, 2.0, 0.0, 1e-30], dtype=torch.float64))
        >>> s["count"], s["n_zero"], s["n_tiny"], s["max"]
        (4, 1, 1, 2.0)
    """
    x = norms.detach().cpu().numpy().astype(np.float64)
    if x.size == 0:
        return {"count": 0}
    median = float(np.median(x))
    tiny = (x > 0) & (x < TINY_NORM_RELATIVE * median)
    return {
        "count": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "quantiles": {
            str(q): float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)
        },
        "n_zero": int((x == 0).sum()),
        "n_tiny": int(tiny.sum()),
        "tiny_threshold": TINY_NORM_RELATIVE * median,
    }


def _usable_rows(
    W: torch.Tensor, drop_nonfinite: bool, progress: bool | None = False
) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None, int]:
    """Row norms, their statistics, the rows to keep (None: all) and the non-finite count.

    Zero rows have no direction and are excluded (the authors' ``w/‖w‖`` would make them
    NaN); rows with NaN/inf are an error unless ``drop_nonfinite``; tiny rows are kept and
    a warning names them.
    """
    norms = overlap.row_norms(W, progress=progress)  # float64; NaN/inf rows: non-finite norms
    finite = torch.isfinite(norms)
    bad = torch.nonzero(~finite).flatten()
    if bad.numel() and not drop_nonfinite:
        shown = ", ".join(str(int(i)) for i in bad[:10]) + (" ..." if bad.numel() > 10 else "")
        raise InvalidMatrixError(
            f"{bad.numel()} row(s) contain NaN or inf (rows {shown}); "
            "use drop_nonfinite=True to skip them",
            parameter="drop_nonfinite",
        )
    norm_stats = norm_statistics(norms[finite])
    norm_stats["n_nonfinite"] = int(bad.numel())
    if norm_stats.get("n_tiny"):
        tiny = torch.nonzero(finite & (norms > 0) & (norms < norm_stats["tiny_threshold"]))
        shown = ", ".join(str(int(i)) for i in tiny.flatten()[:10])
        warnings.warn(
            f"{norm_stats['n_tiny']} row(s) have norms below {TINY_NORM_RELATIVE:g} x the median "
            f"norm (rows {shown}{' ...' if tiny.numel() > 10 else ''}; smallest "
            f"{norm_stats['min']:.3g}): they are normalised exactly and measured, but look like "
            "padding or damage",
            stacklevel=3,
        )
    keep = finite & (norms > 0)
    row_index = None if bool(keep.all()) else torch.nonzero(keep).flatten()
    n_used = W.shape[0] if row_index is None else row_index.numel()
    if n_used < 2:
        raise InvalidMatrixError(
            f"need at least 2 non-zero finite rows to measure overlaps, got {n_used} "
            f"(of {W.shape[0]} rows)"
        )
    return norms, norm_stats, row_index, int(bad.numel())


def _normalized(
    W: torch.Tensor,
    norms: torch.Tensor,
    row_index: torch.Tensor | None,
    center: bool,
    in_place_ok: bool,
    dev: torch.device,
    progress: bool | None = False,
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """``(U, row_index, rows dropped by centring)``: unit rows in float32 on ``dev``."""
    X = W if row_index is None else W[row_index]  # indexing makes a private copy
    kept_norms = norms if row_index is None else norms[row_index]
    centre = overlap.mean_row(X).to(dev) if center else None
    ensure_fits(X.shape[0] * X.shape[1] * 4, "the normalised float32 matrix")
    in_place = (in_place_ok or row_index is not None) and X.dtype == torch.float32
    in_place = in_place and centre is None and dev.type == "cpu"
    X = X.to(dev)
    U, used_norms = overlap.normalize_rows(
        X, center=centre, out=X if in_place else None, norms=kept_norms.to(dev), progress=progress
    )
    # rows equal to the mean row (to float32 precision) have no direction after centring
    degenerate = used_norms <= 1e-7 * kept_norms.to(used_norms.device)
    dropped = int(degenerate.sum())
    if dropped:
        U = U[~degenerate]
        base = row_index if row_index is not None else torch.arange(W.shape[0])
        row_index = base[~degenerate.cpu()]
        if U.shape[0] < 2:
            raise InvalidMatrixError(
                "need at least 2 rows that differ from the mean row after centring, "
                f"got {U.shape[0]}"
            )
    return U, row_index, dropped


def _exact_pairs(
    U: torch.Tensor,
    row_index: torch.Tensor | None,
    budget: int,
    bins: int,
    progress: bool | None,
    weights: torch.Tensor | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The blocked exact pass, with rows and partners in the matrix's original numbering."""
    exact = overlap.pairwise_statistics(
        U, budget_bytes=budget, bins=bins, progress=progress, weights=weights
    )
    arrays = {
        "max_abs_cos_per_row": exact.pop("max_abs_cos_per_row"),
        "partner_per_row": exact.pop("partner_per_row"),
    }
    if row_index is not None:
        original = row_index.cpu().numpy()
        arrays["row_index"] = original
        arrays["partner_per_row"] = original[arrays["partner_per_row"]]
        for pair in exact["top_pairs"]:
            pair["i"], pair["j"] = int(original[pair["i"]]), int(original[pair["j"]])
    return exact, arrays


def _choose_pairs(opts: MeasureOptions, U: torch.Tensor, budget: int) -> tuple[str, dict[str, Any]]:
    """Resolve ``auto`` by a deterministic rule and announce the pass.

    ``auto`` runs the exact pass when its FLOP count ``n(n−1)·m``
    (:func:`llmgeom.geometry.sampling.pair_pass_flops`) is at most ``exact_max_flops``, else
    samples: the same shape gives the same kind of result on every machine. A matmul rate measured
    on ``U``'s device only predicts the exact pass's time for the message and the record. Sampling
    (:func:`llmgeom.geometry.sampling.sampled_statistics`) draws random pairs until the 95 %
    interval of mean |cos| is within ``precision`` (relative) or ``time_budget`` has passed, and
    compares ``sample_rows`` (default :data:`~llmgeom.geometry.sampling.DEFAULT_MAX_ROWS`) whole
    rows with all rows for the per-token maxima.
    """
    pairs = opts.pairs
    n, m = U.shape
    flops = sampling.pair_pass_flops(n, m)
    decision: dict[str, Any] = {"pairs_requested": pairs}
    if pairs == "gram":
        decision["sample_rows"] = None
        return pairs, decision
    est = sampling.estimate_exact_pass(U, budget, opts.bins)
    rate = est["matmul_flops_per_s"]
    decision |= {
        "exact_pass_flops": flops,
        "exact_pass_estimate_s": est["seconds"],
        "matmul_gflops": rate / 1e9,
    }
    where = f"{n:,} x {m} rows, {flops:.3g} FLOPs; about {format_duration(est['seconds'])} here"
    if pairs == "auto":
        decision["exact_max_flops"] = opts.exact_max_flops
    if pairs == "exact" or (pairs == "auto" and flops <= opts.exact_max_flops):
        LOG.info("exact pairwise pass (%s)", where)
        return "exact", decision
    rows = min(n, opts.sample_rows or sampling.DEFAULT_MAX_ROWS)
    decision |= {
        "sample_rows": rows,
        "precision": opts.precision,
        "time_budget_s": opts.time_budget,
    }
    why = (
        f"the exact pass ({where}) is over --exact-max-flops {opts.exact_max_flops:.3g}"
        if pairs == "auto"
        else "--pairs sample"
    )
    LOG.info(
        "%s: mean/std |cos| from random pairs until the 95%% interval is within %.3g of the "
        "mean (at most %s), per-token maxima from %s random rows; mean cos^2 stays exact; "
        "--pairs exact runs the full pass",
        why,
        opts.precision,
        format_duration(opts.time_budget),
        f"{rows:,}",
    )
    return "sample", decision


def _sampled_pairs(
    U: torch.Tensor,
    opts: MeasureOptions,
    decision: dict[str, Any],
    mean_cos2: float,
    budget: int,
    p: torch.Tensor | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The sampled statistics and, with weights ``p``, the pairs drawn by weight (each draw
    gets half of ``time_budget``)."""
    share = opts.time_budget / 2 if p is not None else opts.time_budget
    sampled = sampling.sampled_statistics(
        U, decision["sample_rows"], seed=opts.seed, precision=opts.precision, time_budget=share,
        bins=opts.bins, mean_cos2=mean_cos2, budget_bytes=budget, progress=opts.progress,
    )  # fmt: skip
    weighted = None
    if p is not None:
        weighted = sampling.weighted_sampled_abs(
            U, p, seed=opts.seed, precision=opts.precision, time_budget=share,
            progress=opts.progress,
        )  # fmt: skip
    return sampled, weighted


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
    ``tokenizer`` (drop padding rows); ``center`` subtracts the mean row; ``pairs``: ``auto`` (the
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
    unemb = load_unembedding(source, tensor=opts.tensor, revision=opts.revision)
    meta = unemb.meta
    if meta.sha256 is None:  # in-memory matrices: a checksum names the matrix in the record
        meta = replace(meta, sha256=tensor_sha256(unemb.weight), extra=dict(meta.extra))
    if opts.name or opts.family:  # the user's labels win over the detected ones
        meta = replace(meta, name=opts.name, family=opts.family or meta.family)
    timings["load_s"] = time.perf_counter() - t0
    if counts is not None:
        counts.aligned(unemb.shape[0])  # counts longer than the head: fail before any work
    dev = resolve_device(opts.device)

    t = time.perf_counter()
    W, n_selected = _select_rows(unemb, rows)
    norms, norm_stats, row_index, n_bad = _usable_rows(W, opts.drop_nonfinite, progress)
    owned = unemb is not source and unemb.meta.source_kind in _OWNED_KINDS
    U, row_index, n_centre_dropped = _normalized(W, norms, row_index, center, owned, dev, progress)
    n, m = U.shape
    timings["normalize_s"] = time.perf_counter() - t

    p = None
    if counts is not None:
        index = None if row_index is None else row_index.cpu().numpy()
        used_weights = row_weights(counts, int(unemb.shape[0]), n_selected, index)
        p = torch.from_numpy(used_weights.p).to(dev)

    t = time.perf_counter()
    stats: dict[str, Any] = {
        "n_rows_used": n,
        "m": m,
        **overlap.gram_statistics(U, progress=progress),
    }
    weighted_gram = None if p is None else overlap.weighted_gram_statistics(U, p)
    timings["gram_s"] = time.perf_counter() - t
    weighted_note = ""
    if weighted_gram is not None:
        weighted_note = f"; weighted mean cos^2 {weighted_gram['weighted_mean_cos2']:.6g}"
    LOG.info(
        "Gram statistics: mean cos^2 %.6g (m*mean = %.4g), effective dim %.1f%s",
        stats["mean_cos2"],
        m * stats["mean_cos2"],
        stats["effective_dim"],
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
        "name": "+".join(
            ["raw" if rows == "all" else "tokenizer-rows"] + (["centered"] if center else [])
        ),
        "rows": rows,
        "center": center,
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
        reference=reference,
        row_norms=norm_stats,
        timings=timings,
        device=str(dev),
    )
    return MeasureResult._build(record, arrays=MappingProxyType(arrays))
