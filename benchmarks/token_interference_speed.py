"""Benchmark every token's interference (``llmgeom tokens``) against the Gram step, in ONE run.

On a random float32 head (default 50257 x 768, GPT-2's shape; ``--rows 151936 --width 1024``
for the issue's 150k x 1k head), already normalised to unit rows:

1. the Gram step alone: ``G = UᵀU`` (float32 chunk products, float64 accumulation), which
   ``measure`` needs for mean cos²;
2. every token's interference: the same ``G`` plus one ``u_iᵀ G u_i`` per row
   (:func:`llmgeom.geometry.token_interference.token_interference`);
3. with counts, the plain and frequency-weighted interference together (``UᵀU`` and
   ``Uᵀ diag(p) U`` in one pass, then two quadratic forms per row).

Each is the best of ``--repeats`` runs; the ratios to the Gram step are what the note quotes
(per-token work is a second product of the Gram step's size, so about 2x).

Run:  python benchmarks/token_interference_speed.py [--rows 50257] [--width 768] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from llmgeom.geometry.gram import gram_matrix, scaled_gram_matrices
from llmgeom.geometry.normalize import normalize_rows
from llmgeom.geometry.token_interference import token_interference, weighted_token_interference


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50257)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    W = torch.randn(args.rows, args.width, generator=generator) + 0.1
    U, _ = normalize_rows(W, out=W)
    counts = torch.rand(args.rows, generator=generator).pow(-1.0)  # a heavy tail, as Zipf's

    def weighted() -> None:
        p = counts / counts.sum()
        G, G_p = scaled_gram_matrices(U, p.sqrt())
        token_interference(U, G)
        weighted_token_interference(U, p, G_p)

    gram_s = best_time(lambda: gram_matrix(U), args.repeats)
    tokens_s = best_time(lambda: token_interference(U, gram_matrix(U)), args.repeats)
    weighted_s = best_time(weighted, args.repeats)
    out = {
        "shape": [args.rows, args.width],
        "threads": torch.get_num_threads(),
        "gram_step_s": round(gram_s, 3),
        "per_token_interference_s": round(tokens_s, 3),
        "per_token_with_weighted_s": round(weighted_s, 3),
        "ratio_per_token_to_gram": round(tokens_s / gram_s, 2),
        "ratio_with_weighted_to_gram": round(weighted_s / gram_s, 2),
    }
    print(f"head {args.rows} x {args.width}, float32, {out['threads']} threads")
    print(f"  Gram step alone (U^T U)                   {gram_s:8.3f} s")
    print(f"  every token's interference (G + u^T G u)  {tokens_s:8.3f} s")
    print(f"  ... and the frequency-weighted one        {weighted_s:8.3f} s")
    print(f"  ratio per-token / Gram step: {out['ratio_per_token_to_gram']}x")
    print(f"  ratio with weighted / Gram step: {out['ratio_with_weighted_to_gram']}x")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
