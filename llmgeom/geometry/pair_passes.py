"""Which pair pass a measurement runs (``exact``, ``sample`` or ``gram``: a deterministic FLOP
rule for ``auto``), announced on the ``llmgeom.progress`` logger, and the exact and sampled
passes run in the matrix's original row numbering.

Example:
    >>> import torch
    >>> from llmgeom.options import MeasureOptions
    >>> U = torch.eye(4, 3)
    >>> _choose_pairs(MeasureOptions(pairs="gram"), U, 2**20)
    ('gram', {'pairs_requested': 'gram', 'sample_rows': None})
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..options import MeasureOptions
from ..timing import format_duration
from . import overlap, pass_cost, sampling

PROGRESS_LOGGER = "llmgeom.progress"  # what a long measurement is about to do (the CLI prints it)
LOG = logging.getLogger(PROGRESS_LOGGER)


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
    (:func:`llmgeom.geometry.pass_cost.pair_pass_flops`) is at most ``exact_max_flops``, else
    samples: the same shape gives the same kind of result on every machine. A matmul rate measured
    on ``U``'s device only predicts the exact pass's time for the message and the record. Sampling
    (:func:`llmgeom.geometry.sampling.sampled_statistics`) draws random pairs until the 95 %
    interval of mean |cos| is within ``precision`` (relative) or ``time_budget`` has passed, and
    compares ``sample_rows`` (default :data:`~llmgeom.geometry.sampling.DEFAULT_MAX_ROWS`) whole
    rows with all rows for the per-token maxima.
    """
    pairs = opts.pairs
    n, m = U.shape
    flops = pass_cost.pair_pass_flops(n, m)
    decision: dict[str, Any] = {"pairs_requested": pairs}
    if pairs == "gram":
        decision["sample_rows"] = None
        return pairs, decision
    est = pass_cost.estimate_exact_pass(U, budget, opts.bins)
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
