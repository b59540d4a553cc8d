"""Benchmark the overlap engine on a GPT-2-size matrix (50257 x 768, float32), in ONE run.

Prints three comparisons (ratios measured in the same process, so machine noise mostly
cancels):

1. exact mean cos² by the Gram identity vs a re-implementation of the authors' blocked
   all-pairs method (8192-row blocks, sums of |cos| and cos² over the upper triangle);
2. the exact blocked pairwise pass (|cos| moments, histogram, per-token max and partner) as
   achieved GFLOP/s vs a plain matmul of the same shapes into a preallocated buffer;
3. peak resident memory of ``llmgeom measure`` on a GPT-2-size safetensors file (subprocess)
   minus the interpreter-plus-imports baseline, vs the head's float32 size;
4. the predicted time of the exact pass (printed by ``measure``) vs the measured time, and the
   pair sampler at its default precision: its cost and its 95 % intervals against the exact
   values (``benchmarks/sampling_speed.py`` compares the default ``measure`` with ``gram``).

Run:  python benchmarks/overlap_speed.py [--rows 50257] [--width 768] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from llmgeom.geometry import overlap, sampling


def authors_blocked_mean(U: torch.Tensor, block: int = 8192) -> tuple[float, float]:
    """Mean |cos| and mean cos² over pairs i<j, the authors' way: all block pairs, masked."""
    n = U.shape[0]
    sum_abs = sum_sq = 0.0
    for i in range(0, n, block):
        for j in range(i, n, block):
            S = U[i : i + block] @ U[j : j + block].T
            if i == j:
                S = torch.triu(S, diagonal=1)
            sum_abs += float(S.abs().sum(dtype=torch.float64))
            sum_sq += float(S.square().sum(dtype=torch.float64))
    pairs = n * (n - 1) / 2
    return sum_abs / pairs, sum_sq / pairs


def timed(fn, repeat: int = 1):
    """(best wall time over ``repeat`` runs, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def plain_matmul_rate(U: torch.Tensor, rows: int, repeat: int = 3) -> float:
    """GFLOP/s of ``U[:rows] @ U.T`` into a preallocated buffer (the pass's matmul shape)."""
    out = torch.empty(rows, U.shape[0], dtype=U.dtype)
    A = U[:rows]
    torch.matmul(A, U.T, out=out)
    seconds, _ = timed(lambda: torch.matmul(A, U.T, out=out), repeat)
    return 2.0 * rows * U.shape[0] * U.shape[1] / seconds / 1e9


def peak_memory(rows: int, width: int) -> dict:
    """Peak RSS of `llmgeom measure` on a GPT-2-like safetensors file, minus the baseline."""
    import safetensors.torch

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        gen = torch.Generator().manual_seed(0)
        safetensors.torch.save_file(
            {
                "wte.weight": torch.randn(rows, width, generator=gen),
                "wpe.weight": torch.randn(1024, width, generator=gen),
            },
            str(path),
        )
        # VmHWM (peak RSS of this process image); ru_maxrss would inherit the parent's peak
        hwm = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
        code_base = f"import llmgeom.geometry.measurement, llmgeom.cli.measure; {hwm}"
        base_kb = int(
            subprocess.run(
                [sys.executable, "-c", code_base], check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        code_run = (
            "import sys; from llmgeom.cli import main; "
            f"rc = main(['measure', {str(path)!r}, '--out', {tmp!r}, '--no-progress', '--pairs', "
            "'exact', "
            f"'--tensor', 'wte.weight']); {hwm}; sys.exit(rc)"
        )
        run = subprocess.run(
            [sys.executable, "-c", code_run], check=True, capture_output=True, text=True
        )
        peak_kb = int(run.stdout.split()[-1])
    head = rows * width * 4
    extra = (peak_kb - base_kb) * 1024
    return {
        "head_float32_bytes": head,
        "baseline_rss_bytes": base_kb * 1024,
        "peak_rss_bytes": peak_kb * 1024,
        "peak_minus_baseline_bytes": extra,
        "ratio_to_head": extra / head,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50257)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    torch.manual_seed(0)
    W = torch.randn(args.rows, args.width) + 0.05  # a small shared direction, like real heads
    U, _ = overlap.normalize_rows(W)
    print(
        f"matrix {args.rows} x {args.width} float32, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )

    t_gram, gram = timed(lambda: overlap.gram_mean_cos2(U), repeat=3)
    t_auth, (auth_abs, auth_sq) = timed(lambda: authors_blocked_mean(U))
    print(f"[1] Gram mean cos^2     {t_gram:8.3f} s   value {gram:.9g}")
    print(f"    authors' blocked    {t_auth:8.3f} s   value {auth_sq:.9g}")
    print(f"    speed-up            {t_auth / t_gram:8.1f} x")
    print(f"    rel. diff of the two mean cos^2: {abs(gram / auth_sq - 1):.2e}")

    budget = overlap.default_budget(torch.device("cpu"))
    t_pass, exact = timed(
        lambda: overlap.pairwise_statistics(U, budget_bytes=budget, progress=False)
    )
    pass_rate = exact["matmul_flops"] / t_pass / 1e9
    t_hist, _ = timed(
        lambda: overlap.pairwise_statistics(
            U, budget_bytes=budget, bins=overlap.DEFAULT_BINS, progress=False
        )
    )
    hist_rate = exact["matmul_flops"] / t_hist / 1e9
    mm_rate = plain_matmul_rate(U, exact["block_rows"])
    print(
        f"[2] exact pairwise pass {t_pass:8.3f} s   {pass_rate:7.1f} GFLOP/s "
        f"(block {exact['block_rows']} rows: |cos| moments, per-token max and partner)"
    )
    print(f"    with histogram      {t_hist:8.3f} s   {hist_rate:7.1f} GFLOP/s (--bins 200)")
    print(f"    plain matmul        {mm_rate:7.1f} GFLOP/s")
    print(
        f"    pass / matmul       {pass_rate / mm_rate:8.1%}   "
        f"(with histogram {hist_rate / mm_rate:.1%})"
    )
    rel = abs(exact["mean_abs_cos"] / auth_abs - 1)
    print(f"    rel. diff of mean |cos|, pass vs authors': {rel:.2e}")
    figures = {
        "gram_s": t_gram,
        "authors_s": t_auth,
        "speedup": t_auth / t_gram,
        "pass_s": t_pass,
        "pass_gflops": pass_rate,
        "matmul_gflops": mm_rate,
        "pass_over_matmul": pass_rate / mm_rate,
        "pass_with_histogram_s": t_hist,
        "pass_with_histogram_over_matmul": hist_rate / mm_rate,
    }
    est = sampling.estimate_exact_pass(U, budget)
    print(
        f"[4] predicted exact pass {est['seconds']:8.3f} s   measured {t_pass:.3f} s   "
        f"ratio {est['seconds'] / t_pass:.2f}"
    )
    t_sample, sample = timed(
        lambda: sampling.sampled_statistics(U, mean_cos2=gram, budget_bytes=budget, progress=False)
    )
    n_rows = sample["rows_sampled"]
    print(
        f"    pair sampler        {t_sample:8.3f} s = {t_sample / t_pass:.1%} of the exact pass "
        f"({sample['pairs_sampled']:,} pairs, stopped by {sample['stopped_by']}; "
        f"{n_rows} whole rows for the per-token maxima)"
    )
    for key in ("mean_abs_cos", "std_abs_cos", "mean_max_abs_cos"):
        low, high = sample["interval"][key]
        inside = "inside" if low <= exact[key] <= high else "OUTSIDE"
        print(f"    {key:18s} exact {exact[key]:.7g}   95% CI [{low:.7g}, {high:.7g}] {inside}")
    figures |= {
        "predicted_pass_s": est["seconds"],
        "predicted_over_measured": est["seconds"] / t_pass,
        "sample_rows": n_rows,
        "sample_s": t_sample,
        "sample_over_pass": t_sample / t_pass,
    }
    if not args.skip_memory:
        mem = peak_memory(args.rows, args.width)
        figures["memory"] = mem
        mb = {k: v / 1e6 for k, v in mem.items() if k.endswith("bytes")}
        print(
            f"[3] measure from file: peak RSS {mb['peak_rss_bytes']:.0f} MB, interpreter + "
            f"imports {mb['baseline_rss_bytes']:.0f} MB -> extra "
            f"{mb['peak_minus_baseline_bytes']:.0f} MB = {mem['ratio_to_head']:.2f} x the head's "
            f"float32 size ({mb['head_float32_bytes']:.0f} MB)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
