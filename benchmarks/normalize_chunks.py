"""Benchmark the row pass's chunk size, in ONE run: norms, float32 unit rows and their row sums
(``normalize_rows_with_sums``, what ``measure`` runs before the Gram step) in cache-sized chunks
(:func:`llmgeom.geometry.normalize.pass_chunk_rows`, the default) against the former 1024-row
chunks, on random bfloat16 heads of a few widths. The rows are the same to the bit either way
(``tests/test_gram_fast_path.py``); only the time differs. Best of ``--repeats``, alternating.

Run:  python benchmarks/normalize_chunks.py [--rows 152064] [--widths 768,2048,8192] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from llmgeom.geometry.normalize import CHUNK_ROWS, normalize_rows_with_sums, pass_chunk_rows


def best_time(W: torch.Tensor, chunk_rows: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        normalize_rows_with_sums(W, chunk_rows=chunk_rows)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=152064)
    parser.add_argument("--widths", default="768,2048,8192")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.rows} bfloat16 rows, {torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"{'width':>6} {'chunk rows':>10} {'time':>8} {'1024 rows':>10} {'time':>8} {'ratio':>6}")
    results = []
    for m in (int(w) for w in args.widths.split(",")):
        generator = torch.Generator().manual_seed(0)
        W = (torch.randn(args.rows, m, generator=generator) * 0.02).to(torch.bfloat16)
        rows = pass_chunk_rows(m)
        new = old = float("inf")
        for _ in range(args.repeats):  # alternate, so that drift hits both alike
            new = min(new, best_time(W, rows, 1))
            old = min(old, best_time(W, CHUNK_ROWS, 1))
        print(f"{m:>6} {rows:>10} {new:>7.2f}s {CHUNK_ROWS:>10} {old:>7.2f}s {old / new:>5.2f}x")
        results.append({"m": m, "chunk_rows": rows, "s": new, "s_1024_rows": old})
        del W
    print(json.dumps({"rows": args.rows, "results": results}))


if __name__ == "__main__":
    main()
