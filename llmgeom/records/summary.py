"""The few lines ``llmgeom measure`` prints for a measurement record (``MeasureResult.summary``):
the model, the statistics against their random-vector baselines, how the pairs were treated,
the rows left out and the frequency-weighted block.

Example:
    >>> excluded_rows({"n_zero_rows_excluded": 2})
    '2 zero rows (no direction)'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..timing import format_duration
from .measurement import abs_cos_method


def excluded_rows(variant: dict[str, Any]) -> str:
    """Why rows were left out, e.g. ``1 zero row (no direction)``; empty when none were.

    Example:
        >>> excluded_rows({"n_zero_rows_excluded": 1, "n_nonfinite_rows_dropped": 2})
        '1 zero row (no direction), 2 NaN/inf rows (--drop-nonfinite)'
    """
    reasons = (
        ("n_zero_rows_excluded", "zero row", "no direction"),
        ("n_rows_equal_to_mean_excluded", "row equal to the mean row", "no direction once centred"),
        ("n_nonfinite_rows_dropped", "NaN/inf row", "--drop-nonfinite"),
    )
    parts = []
    for key, what, why in reasons:
        count = int(variant.get(key) or 0)
        if count:
            parts.append(f"{count} {what}{'s' if count > 1 else ''} ({why})")
    return ", ".join(parts)


def _pairs_line(variant: dict[str, Any]) -> str | None:
    """How ``--pairs auto`` decided (FLOP rule; older records: a predicted time)."""
    if variant.get("pairs_requested") != "auto":
        return None

    estimate = variant.get("exact_pass_estimate_s")
    about = f"about {format_duration(estimate)} here" if estimate is not None else "time unknown"
    limit = variant.get("exact_max_flops")
    exact = variant.get("pairs") == "exact"
    if limit is None:  # records of the former time rule
        if estimate is None or "time_budget_s" not in variant:
            return None
        rule = f"budget {format_duration(variant['time_budget_s'])}"
    else:
        flops = variant.get("exact_pass_flops", float("nan"))
        rule = f"{flops:.3g} FLOPs {'<=' if exact else '>'} --exact-max-flops {limit:.3g}"
    if exact:
        return f"  pairs auto: exact pass ({rule}; {about})"
    return f"  pairs auto: sampled ({rule}); the exact pass would take {about}: --pairs exact"


def _sampled_line(sample: dict[str, Any]) -> str:
    """What a sampled run drew and why it stopped (older records: rows x all rows)."""
    if "pairs_sampled" not in sample:
        return (
            f"  sampled         {sample['rows_sampled']:,} rows x all rows = "
            f"{sample.get('pairs_covered', 0):,} ordered pairs; mean per-token max "
            f"{sample['mean_max_abs_cos']:.4f}"
        )
    stop = (
        f"precision {sample['precision']:g} reached"
        if sample["stopped_by"] == "precision"
        else f"time budget reached at relative half-width {sample['relative_half_width']:.2g}"
    )
    low, high = sample["interval"]["mean_max_abs_cos"]
    return (
        f"  sampled         {sample['pairs_sampled']:,} random pairs ({stop}); mean per-token "
        f"max {sample['mean_max_abs_cos']:.4f} [{low:.4f}, {high:.4f}] from "
        f"{sample['rows_sampled']:,} whole rows"
    )


def weighted_lines(block: dict[str, Any]) -> list[str]:
    """The summary lines of a ``weighted`` block (frequency-weighted interference).

    Example:
        >>> block = {"counts_path": "c.npz", "counts_total": 1000.0, "rows_used": 5,
        ...          "rows_with_count": 3, "rows_without_count": 2, "rows_padded": 1,
        ...          "count_mass_excluded": 0.0, "weighted_mean_cos2": 0.25,
        ...          "m_times_weighted_mean_cos2": 1.0, "weighted_mean_cos": 0.01,
        ...          "weighted_mean_abs_cos": None, "abs_cos_method": None,
        ...          "effective_tokens": 2.5}
        >>> print("\\n".join(weighted_lines(block)))
          weighted by     c.npz: 1,000 tokens counted; 3 of 5 rows used have a count, ...
          weighted cos^2  0.25   (m*mean = 1.000)   weighted mean cos 0.01   effective tokens 2.5
          weighted |cos|  not available (needs the exact pass or sampling; ...
    """
    origin = Path(block["counts_path"]).name if block.get("counts_path") else "counts array"
    first = (
        f"  weighted by     {origin}: {block['counts_total']:,.0f} tokens counted; "
        f"{block['rows_with_count']:,} of {block['rows_used']:,} rows used have a count, "
        f"{block['rows_without_count']:,} have none"
    )
    if block.get("rows_padded"):
        first += f" ({block['rows_padded']:,} padded: beyond the counts)"
    if block.get("count_mass_excluded"):
        first += f"; {100 * block['count_mass_excluded']:.3g}% of the counts are on excluded rows"
    lines = [
        first,
        f"  weighted cos^2  {block['weighted_mean_cos2']:.6g}   "
        f"(m*mean = {block['m_times_weighted_mean_cos2']:.3f})   weighted mean cos "
        f"{block['weighted_mean_cos']:.4g}   effective tokens {block['effective_tokens']:.6g}",
    ]
    value = block.get("weighted_mean_abs_cos")
    if value is None:
        lines.append(
            "  weighted |cos|  not available (needs the exact pass or sampling; this was a "
            "Gram-only run)"
        )
    elif block.get("abs_cos_method") == "sample":
        low, high = block["weighted_mean_abs_cos_interval"]
        drawn = (
            f"{block['pairs_drawn_by_weight']:,} pairs drawn by weight"
            if "pairs_drawn_by_weight" in block
            else f"{block.get('rows_drawn_by_weight', 0):,} rows drawn by weight x all rows"
        )
        lines.append(
            f"  weighted |cos|  {value:.6g}   95% CI [{low:.6g}, {high:.6g}]   (sampled: {drawn})"
        )
    else:
        lines.append(f"  weighted |cos|  {value:.6g} (exact)")
    return lines


def spectrum_lines(block: Mapping[str, Any]) -> list[str]:
    """The two summary lines of a record's ``spectrum`` block.

    Example:
        >>> lines = spectrum_lines({"entropy_effective_rank": 2.9, "stable_rank_raw": 2.5,
        ...     "packing_efficiency": None, "n_above_marchenko_pastur_edge": 1,
        ...     "marchenko_pastur_upper_edge": 3.9, "interference_top_k": {"1": 0.5}})
        >>> for line in lines:
        ...     print(line.strip())
        spectrum        entropy rank 2.9   stable rank (raw W) 2.5   packing efficiency n/a (n <= m)
        1 eigenvalue above the Marchenko-Pastur edge 3.9; top 1 directions carry 50.0% of mean cos^2
    """
    efficiency = block.get("packing_efficiency")
    packing = "n/a (n <= m)" if efficiency is None else f"{efficiency:.4g}"
    above = int(block["n_above_marchenko_pastur_edge"])
    fractions = block.get("interference_top_k") or {}
    shares = "/".join("-" if v is None else f"{100 * v:.1f}" for v in fractions.values())
    return [
        f"  spectrum        entropy rank {block['entropy_effective_rank']:.1f}   "
        f"stable rank (raw W) {block['stable_rank_raw']:.1f}   packing efficiency {packing}",
        f"                  {above} eigenvalue{'' if above == 1 else 's'} above the "
        f"Marchenko-Pastur edge {block['marchenko_pastur_upper_edge']:.4g}; top "
        f"{'/'.join(fractions)} directions carry {shares}% of mean cos^2",
    ]


def summarize(record: Mapping[str, Any]) -> str:
    """A short human summary of a measurement record (what ``llmgeom measure`` prints).

    Example:
        >>> import torch
        >>> from llmgeom.geometry.measurement import measure
        >>> record = measure(torch.eye(6, 3), pairs="gram").to_dict()
        >>> print(summarize(record))  # doctest: +ELLIPSIS
        <array>  [raw]  unknown family  tensor=None  tied=None
          head 6 x 3 (float32)  d_model=None  rows used=3 of 6 (excluded: 3 zero rows (no ...
          mean cos^2      0   (random 1/m = 0.3333; m*mean = 0.000; frame bound 0)
        ...
    """
    meta, s, ref, variant = record["model"], record["stats"], record["reference"], record["variant"]
    name = meta.get("name") or meta.get("repo_id") or meta["source"]
    used = f"rows used={s['n_rows_used']}"
    excluded = excluded_rows(variant)
    if excluded:
        used += f" of {variant['n_rows_selected']} (excluded: {excluded})"
    lines = [
        f"{name}  [{variant['name']}]  {meta.get('family') or 'unknown family'}  "
        f"tensor={meta.get('tensor_name')}  tied={meta.get('tied')}",
        f"  head {meta['n_rows']} x {meta['head_width']} ({meta.get('stored_dtype')})  "
        f"d_model={meta.get('d_model')}  " + used,
        f"  mean cos^2      {s['mean_cos2']:.6g}   (random 1/m = {ref['random_mean_cos2']:.4g}; "
        f"m*mean = {s['m_times_mean_cos2']:.3f}; frame bound {ref['frame_bound_mean_cos2']:.4g})",
    ]
    if variant.get("final_norm"):  # --fold-norm: which norm's scale the rows carry
        norm = variant["final_norm"]
        bias = f", bias {norm['bias']} (logit offsets)" if norm.get("bias") else ", no bias"
        lines.insert(
            2, f"  folded norm     {norm['weight']} ({norm['kind']}, {norm['convention']}{bias})"
        )
    if s.get("mean_abs_cos") is not None:
        sampled = abs_cos_method(s) == "sample"
        tag = " (sampled)" if sampled else ""
        line = f"  mean |cos|{tag}  {s['mean_abs_cos']:.6g}   std |cos| {s['std_abs_cos']:.6g}"
        if sampled:
            low, high = s["sampled"]["interval"]["mean_abs_cos"]
            line += f"   95% CI of mean [{low:.6g}, {high:.6g}]"
        lines.append(line)
        if sampled:
            lines.append(_sampled_line(s["sampled"]))
    if "max_abs_cos" in s:
        lines.append(
            f"  max |cos|       {s['max_abs_cos']:.4f}   "
            f"mean per-token max {s['mean_max_abs_cos']:.4f}"
        )
    norms = record.get("row_norms") or {}
    lines.append(
        f"  participation ratio {s['participation_ratio']:.1f}   top direction carries "
        f"{100 * s['top_eigen_fraction']:.1f}%   row norms mean "
        f"{norms.get('mean', float('nan')):.4g} min {norms.get('min', float('nan')):.4g}"
    )
    if record.get("spectrum") is not None:
        lines.extend(spectrum_lines(record["spectrum"]))
    if record.get("weighted") is not None:
        lines.extend(weighted_lines(record["weighted"]))
    pairs = _pairs_line(variant)
    if pairs:
        lines.append(pairs)
    device = (record.get("environment") or {}).get("device")
    lines.append(f"  time {record['timings']['total_s']:.2f}s on {device}")
    return "\n".join(lines)
