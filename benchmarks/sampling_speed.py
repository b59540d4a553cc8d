"""Benchmark the default ``measure`` (pair sampling) against ``--pairs gram``, in ONE run.

1. On a random float32 head (default 262144 x 640, the shape issue 16 names) the default
   ``measure`` (``--pairs auto``: sampled above ``--exact-max-flops``) vs ``pairs="gram"``:
   wall times and their ratio (target: within 3x), pairs drawn, what stopped the sampling, and
   the sampled mean |cos| with its 95 % interval.
2. On a smaller head with uneven rows (default 20000 x 256), the standard error of mean |cos|
   from the former design (random whole rows, each against every row) vs the pair design, at
   an equal number of pairs and at equal wall time, with the exact value for reference.

Run:  python benchmarks/sampling_speed.py [--rows 262144] [--width 640] [--small-rows 20000]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from llmgeom import measure
from llmgeom.geometry import overlap, sampling


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def row_design(U: torch.Tensor, rows: int, seed: int = 0) -> tuple[float, float]:
    """The former sampler: ``rows`` random whole rows against all rows; (mean, SE) of |cos|."""
    n = U.shape[0]
    chosen = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:rows]
    means = []
    for start in range(0, rows, 256):
        idx = chosen[start : start + 256]
        S = (U[idx] @ U.T).abs_()
        S[torch.arange(idx.numel()), idx] = 0.0
        means.append(S.sum(dim=1, dtype=torch.float64) / (n - 1))
    a = torch.cat(means).numpy()
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(rows) * math.sqrt(1 - rows / n))


def default_vs_gram(rows: int, width: int, exact_max_flops: float) -> dict:
    W = torch.randn(rows, width, generator=torch.Generator().manual_seed(0))
    t_gram, _ = timed(lambda: measure(W, pairs="gram", progress=False))
    t_default, report = timed(lambda: measure(W, exact_max_flops=exact_max_flops, progress=False))
    sample = report.diagnostics["sampled"]
    low, high = sample["interval"]["mean_abs_cos"]
    print(f"[1] head {rows} x {width} float32, {torch.get_num_threads()} threads")
    print(f"    measure(pairs='gram')   {t_gram:8.2f} s")
    print(
        f"    measure() default       {t_default:8.2f} s   ratio {t_default / t_gram:.2f} x   "
        f"(pairs: {report.pairs}, timings {dict(report.diagnostics['timings'])})"
    )
    print(
        f"    {sample['pairs_sampled']:,} pairs, stopped by {sample['stopped_by']}, mean |cos| "
        f"{sample['mean_abs_cos']:.7g} [{low:.7g}, {high:.7g}] (relative half-width "
        f"{sample['relative_half_width']:.2g}); mean per-token max {sample['mean_max_abs_cos']:.4f}"
        f" from {sample['rows_sampled']} rows"
    )
    return {
        "gram_s": t_gram,
        "default_s": t_default,
        "ratio": t_default / t_gram,
        "pairs_sampled": sample["pairs_sampled"],
        "stopped_by": sample["stopped_by"],
        "mean_abs_cos": sample["mean_abs_cos"],
        "interval": [low, high],
        "timings": dict(report.diagnostics["timings"]),
    }


def designs(rows: int, width: int) -> dict:
    gen = torch.Generator().manual_seed(1)
    shared = torch.rand(rows, 1, generator=gen) * 2.0 * torch.randn(width, generator=gen)
    U, _ = overlap.normalize_rows(torch.randn(rows, width, generator=gen) + shared)
    exact = overlap.pairwise_statistics(U, progress=False)["mean_abs_cos"]
    t_pairs, pairs = timed(
        lambda: sampling.sampled_statistics(U, 2, precision=1e-3, progress=False)
    )
    n_pairs = pairs["pairs_sampled"]
    same_pairs = max(2, round(n_pairs / (rows - 1)))
    t_rows, (mean_rows, se_rows) = timed(lambda: row_design(U, same_pairs))
    per_row_s = t_rows / same_pairs
    same_time = max(2, min(rows, int(t_pairs / per_row_s)))
    _, (mean_time, se_time) = timed(lambda: row_design(U, same_time))
    se_pairs = pairs["standard_error"]["mean_abs_cos"]
    print(f"[2] uneven head {rows} x {width}: exact mean |cos| {exact:.7g}")
    print(
        f"    pairs  {n_pairs:>12,} pairs {t_pairs:7.2f} s  mean {pairs['mean_abs_cos']:.7g}  "
        f"SE {se_pairs:.3g}"
    )
    print(
        f"    rows   {same_pairs:>6} rows = {same_pairs * (rows - 1):,} pairs {t_rows:7.2f} s  "
        f"mean {mean_rows:.7g}  SE {se_rows:.3g}  ({se_rows / se_pairs:.1f} x the pairs' SE)"
    )
    print(
        f"    rows   {same_time:>6} rows in the pairs' time: mean {mean_time:.7g}  SE {se_time:.3g}"
        f"  ({se_time / se_pairs:.1f} x the pairs' SE)"
    )
    return {
        "exact": exact,
        "pairs": {"n": n_pairs, "s": t_pairs, "mean": pairs["mean_abs_cos"], "se": se_pairs},
        "rows_same_pairs": {"rows": same_pairs, "s": t_rows, "mean": mean_rows, "se": se_rows},
        "rows_same_time": {"rows": same_time, "mean": mean_time, "se": se_time},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=262144)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--small-rows", type=int, default=20000)
    parser.add_argument("--small-width", type=int, default=256)
    parser.add_argument(
        "--exact-max-flops", type=float, default=sampling.DEFAULT_EXACT_MAX_FLOPS,
        help="as measure's (lower it to make a small head sample)",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    figures = {
        "default_vs_gram": default_vs_gram(args.rows, args.width, args.exact_max_flops),
        "designs": designs(args.small_rows, args.small_width),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
