"""What a certified interval for the raw rows' ``‖W‖₂²`` would cost, against the second product
that ``measure`` builds on a flat-topped head, in ONE run (issue 18 §7: the option left to the
issue's author; nothing in llmgeom uses it).

``WᵀW = Σ_i s_i² u_i u_iᵀ`` (``s_i`` the row norms, ``u_i`` the unit rows). With the rows sorted by
norm and cut into chunks ``b`` of ``--chunk-rows``, the chunk Gram matrices ``P_b = U_bᵀ U_b``
(together exactly ``UᵀU``, the matrix measure builds anyway) give, in the Loewner order,

    Σ_b min_b(s²) P_b  ≤  WᵀW  ≤  Σ_b max_b(s²) P_b  =: A_up,

so ``λ₁(WᵀW) ≤ λ₁(A_up)``: a rigorous upper bound from ``m × m`` work only. A rigorous lower bound
is any Rayleigh quotient of ``WᵀW``: here at the top eigenvector of ``Σ_b mean_b(s²) P_b``, one
pass over the rows. The script prints the interval's width relative to ``λ₁`` (from the second
product, as measure computes it) and the time of each route. What it does not time: the sorted
gather that a fused pass would avoid by writing the unit rows in norm order.

Run:  python benchmarks/raw_norm_bounds.py [--rows 152064] [--width 2048] [--chunk-rows 16384]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from llmgeom.geometry import gram
from llmgeom.geometry.normalize import normalize_rows


def bounds(U: torch.Tensor, s2: torch.Tensor, chunk_rows: int) -> tuple[float, float]:
    """``(lower, upper)`` bounds of ``λ₁(Uᵀ diag(s2) U)`` (see the module)."""
    m = U.shape[1]
    order = torch.argsort(s2)
    upper_sum = torch.zeros(m, m, dtype=torch.float64)
    middle_sum = torch.zeros(m, m, dtype=torch.float64)
    for start in range(0, U.shape[0], chunk_rows):
        rows = order[start : start + chunk_rows]
        P = gram.gram_matrix(U.index_select(0, rows))
        weights = s2[rows]
        upper_sum += float(weights.max()) * P
        middle_sum += float(weights.mean()) * P
    upper = float(torch.linalg.eigvalsh(upper_sum)[-1])
    middle = middle_sum.numpy()
    vectors = np.linalg.eigh(middle)[1]  # the top eigenvector: the Rayleigh quotient's vector
    v = torch.from_numpy(vectors[:, -1].copy()).to(U.dtype)
    projections = (U @ v).double()
    lower = float((s2 * projections * projections).sum() / float((v.double() ** 2).sum()))
    return lower, upper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=152064)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--chunk-rows", type=int, default=16384)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    W = (torch.randn(args.rows, args.width, generator=generator) * 0.02).to(torch.bfloat16)
    U, norms = normalize_rows(W)
    del W
    s2 = norms * norms
    start = time.perf_counter()
    exact = gram.top_eigenvalue(gram.raw_gram_matrix(U, norms))
    product_s = time.perf_counter() - start
    start = time.perf_counter()
    lower, upper = bounds(U, s2, args.chunk_rows)
    bounds_s = time.perf_counter() - start
    start = time.perf_counter()
    G = gram.gram_matrix(U)
    plain_s = time.perf_counter() - start
    del G
    print(f"head {args.rows} x {args.width} bfloat16 (random), chunks of {args.chunk_rows} rows")
    print(f"  lambda_1(W^T W) by the second product: {exact:.10g} ({product_s:.2f} s)")
    print(f"  certified interval: [{lower:.10g}, {upper:.10g}]  width {(upper - lower) / exact:.2e}"
          f" of lambda_1 (lower {(exact - lower) / exact:.1e} below, upper "
          f"{(upper - exact) / exact:.1e} above)")  # fmt: skip
    extra = bounds_s - plain_s
    print(f"  the bounds' pass {bounds_s:.2f} s, a plain U^T U pass {plain_s:.2f} s: "
          f"{extra:.2f} s more, against {product_s:.2f} s for W^T W")  # fmt: skip
    print(json.dumps({"shape": [args.rows, args.width], "chunk_rows": args.chunk_rows,
                      "exact": exact, "lower": lower, "upper": upper, "product_s": product_s,
                      "bounds_s": bounds_s, "plain_gram_s": plain_s}))  # fmt: skip


if __name__ == "__main__":
    main()
