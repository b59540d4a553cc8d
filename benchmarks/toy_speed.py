"""Benchmark the toy-model trainer (issue 17 §4), in ONE run, on the same settings:

1. batched: every configuration (γ) of one data group stacked per width and trained with one
   shared sparse batch per step (``llmgeom.toy.training``'s step: ``index_add`` gather of the
   active rows of ``W``, ``bmm`` for the dense products, the dial and Adam on the stack);
2. per-run loop: the same sparse step, one configuration at a time (a stack of one, its own
   batch per step), as separate runs would train;
3. the authors' dense step (exp-10.py): a dense ``[batch, n]`` sample, ``ReLU(x W Wᵀ + b)``,
   autograd on ``MSELoss``, the dial and ``torch.optim.Adam``, one configuration at a time.

It prints runs × steps per second of each and the two ratios the issue asks for: batched vs
the per-run loop, and the per-run sparse step vs the authors' dense step (plus batched vs
dense). Times are this process's CPU time (``time.process_time``, one torch thread), which a
shared machine disturbs far less than wall time; quote the ratios, not absolute rates. Sampling
is included in every timing (each trainer draws its own data). Defaults take ~1 min alone.

Run:  python benchmarks/toy_speed.py [--n 1000] [--batch 2048] [--m 10,39,100] [--configs 10]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from llmgeom.toy.data import FeatureSampler, frequencies
from llmgeom.toy.model import loss_and_grads
from llmgeom.toy.optim import Adam, apply_dial
from llmgeom.toy.training import init_params

LR = 1e-2


def sparse_steps(p: torch.Tensor, widths: list[int], gammas: list[float], batch: int, steps: int):
    """``steps`` steps of the library's sparse step on one stack of ``len(gammas)`` configs per
    width; returns the seconds of the timed steps (one untimed warm-up step first)."""
    n = p.numel()
    sampler = FeatureSampler(p, batch, torch.Generator().manual_seed(0))
    gamma = torch.tensor(gammas)
    stacks = []
    for m in widths:
        params = [init_params(n, m, k) for k in range(len(gammas))]
        W = torch.stack([w for w, _ in params])
        b = torch.stack([bb for _, bb in params])
        stacks.append((W, b, Adam(), Adam()))

    def step() -> None:
        x = sampler.sample()
        for W, b, adam_w, adam_b in stacks:
            _, gW, gb = loss_and_grads(W, b, x, need_loss=False)
            apply_dial(W, gamma, LR)
            adam_w.step(W, gW, LR)
            adam_b.step(b, gb, LR)

    step()
    start = time.process_time()
    for _ in range(steps):
        step()
    return time.process_time() - start


def dense_steps(p: torch.Tensor, widths: list[int], gamma: float, batch: int, steps: int):
    """``steps`` of the authors' dense autograd step for one config per width; seconds timed."""
    n = p.numel()
    gen = torch.Generator().manual_seed(0)
    models = []
    for m in widths:
        W0, b0 = init_params(n, m, 0)
        W, b = W0.requires_grad_(), b0.requires_grad_()
        models.append((W, b, torch.optim.Adam([W, b], lr=LR)))
    p32 = p.float()

    def step() -> None:
        for W, b, opt in models:
            x = (torch.rand(batch, n, generator=gen) < p32) * torch.rand(batch, n, generator=gen)
            x = 2.0 * x
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(torch.relu(x @ W @ W.T + b), x)
            loss.backward()
            with torch.no_grad():
                if gamma >= 0:
                    W.mul_(1 - LR * gamma)
                else:
                    norms = W.norm(dim=1, keepdim=True) + 1e-8
                    W.sub_(LR * gamma * W * (1 / norms - 1))
            opt.step()

    step()
    start = time.process_time()
    for _ in range(steps):
        step()
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--m", default="10,39,100", help="widths, comma-separated")
    ap.add_argument("--configs", type=int, default=10, help="γ values stacked (linspace(-1, 1))")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per trainer")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", type=Path, default=None, help="write the numbers as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.m.split(",")]
    k = args.configs
    gammas = [-1.0 + 2.0 * i / (k - 1) for i in range(k)] if k > 1 else [-1.0]
    p = frequencies(args.n, "power", args.alpha)
    runs = k * len(widths)  # trained models per step of the whole group

    t_batched = sparse_steps(p, widths, gammas, args.batch, args.steps)
    t_loop = sum(sparse_steps(p, widths, [g], args.batch, args.steps) for g in gammas)
    t_dense = sum(dense_steps(p, widths, g, args.batch, args.steps) for g in gammas)
    rate = {
        name: runs * args.steps / t
        for name, t in (
            ("batched", t_batched),
            ("per_run_loop", t_loop),
            ("authors_dense", t_dense),
        )
    }
    out = {
        "settings": {
            "n": args.n,
            "batch": args.batch,
            "widths": widths,
            "configs": k,
            "alpha": args.alpha,
            "steps": args.steps,
            "threads": torch.get_num_threads(),
        },
        "runs_x_steps_per_s": rate,
        "ratio_batched_vs_per_run_loop": rate["batched"] / rate["per_run_loop"],
        "ratio_sparse_vs_authors_dense_step": rate["per_run_loop"] / rate["authors_dense"],
        "ratio_batched_vs_authors_dense_step": rate["batched"] / rate["authors_dense"],
    }
    s = out["settings"]
    print(
        f"toy step, n={s['n']} batch={s['batch']} widths={widths} × {k} configs (γ), "
        f"α={s['alpha']}, {s['steps']} timed steps, {s['threads']} thread(s)"
    )
    for name, r in rate.items():
        print(f"  {name:14s} {r:9.1f} runs×steps/s")
    for label, key in (
        ("batched vs per-run loop", "ratio_batched_vs_per_run_loop"),
        ("sparse vs authors' dense (per run)", "ratio_sparse_vs_authors_dense_step"),
        ("batched vs authors' dense", "ratio_batched_vs_authors_dense_step"),
    ):
        print(f"  {label + ':':36s} {out[key]:.2f} x")
    if args.save:
        args.save.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
