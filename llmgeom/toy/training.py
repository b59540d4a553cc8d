"""Batched training of many toy-model configurations that share data.

Runs of an experiment with identical frequencies form a *data group*: one sparse batch per step is
drawn for the whole group. Inside a group, the configurations (γ, init seed) of equal width ``m``
are stacked into ``[K, n, m]`` tensors and updated together with ``bmm``; each width is its own
stack, so no work is spent on padding. Seeds are derived with SHA-256 from the experiment seed, so
the same configuration gives bit-identical results on CPU; the initialisation of ``W`` and ``b``
depends only on (seed, n, m), not on γ (common random numbers across the dial).

Example:
    >>> from llmgeom.toy.config import ToyConfig, ToyRun
    >>> cfg = ToyConfig(n=60, m=(4, 8, 16), steps=20, batch=64, warmup=2, eval_samples=256,
    ...                 runs=(ToyRun(gamma=-1.0),))
    >>> result = train(cfg, progress=False)
    >>> [t.m for t in result.models]
    [4, 8, 16]
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from ..devices import resolve_device
from .config import ToyConfig, ToyRun
from .data import FeatureSampler, frequencies
from .model import batch_loss, loss_and_grads
from .optim import Adam, apply_dial, lr_factor


def derive_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any printable parts (independent of ``PYTHONHASHSEED``).

    Example:
        >>> derive_seed("init", 0, 1000, 10) == derive_seed("init", 0, 1000, 10)
        True
    """
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def init_params(n: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's initialisation ``W ~ N(0, 1/m)`` (``[n, m]``) and ``b ~ N(0, 1)`` on CPU.

    Example:
        >>> W, b = init_params(1000, 10, seed=0)
        >>> W.shape, round(float(W.var()), 1), b.shape
        (torch.Size([1000, 10]), 0.1, torch.Size([1000]))
    """
    g = torch.Generator().manual_seed(derive_seed("init", seed, n, m))
    W = torch.randn(n, m, generator=g) / math.sqrt(m)
    b = torch.randn(n, generator=g)
    return W, b


@dataclass
class TrainedModel:
    """One trained configuration: its run, seed and width, final parameters and losses."""

    run_index: int
    seed: int
    m: int
    W: torch.Tensor
    b: torch.Tensor
    eval_loss: float
    eval_loss_se: float
    curve_steps: list[int]
    curve_loss: list[float]


@dataclass
class TrainResult:
    """Everything :func:`train` produced, on CPU, plus timings in seconds."""

    config: ToyConfig
    device: str
    threads: int
    models: list[TrainedModel]
    frequencies: dict[tuple, torch.Tensor]
    timings: dict[str, Any] = field(default_factory=dict)

    def model(self, run_index: int, m: int, seed: int | None = None) -> TrainedModel:
        """The trained model of a run at width ``m`` (first seed by default)."""
        for t in self.models:
            if t.run_index == run_index and t.m == m and (seed is None or t.seed == seed):
                return t
        raise KeyError((run_index, m, seed))


@dataclass
class _Stack:
    m: int
    W: torch.Tensor
    b: torch.Tensor
    gamma: torch.Tensor
    members: list[tuple[int, int]]  # (run index, seed) per stacked configuration
    adam_w: Adam = field(default_factory=Adam)
    adam_b: Adam = field(default_factory=Adam)
    curve: list[torch.Tensor] = field(default_factory=list)


def _build_stacks(
    config: ToyConfig, runs: list[tuple[int, ToyRun]], device: torch.device
) -> list[_Stack]:
    by_index = dict(runs)
    stacks = []
    for m in config.m:
        members = [(i, s) for i, run in runs for s in run.seeds]
        params = [init_params(config.n, m, s) for _, s in members]
        W = torch.stack([w for w, _ in params]).to(device)
        b = torch.stack([bb for _, bb in params]).to(device)
        gamma = torch.tensor([by_index[i].gamma for i, _ in members], dtype=torch.float32)
        stacks.append(_Stack(m, W, b, gamma.to(device), members))
    return stacks


def train(config: ToyConfig, progress: bool = True) -> TrainResult:
    """Train every (run, seed, width) of ``config`` and evaluate on fresh data.

    Example:
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=0.5, alpha=2.0),))
        >>> r = train(cfg, progress=False)
        >>> r.model(0, 5).W.shape
        torch.Size([40, 5])
    """
    device = resolve_device(config.device)
    groups: dict[tuple, list[tuple[int, ToyRun]]] = {}
    for i, run in enumerate(config.runs):
        groups.setdefault(run.data_key, []).append((i, run))
    t_start = time.perf_counter()
    bar = tqdm(
        total=config.steps * len(groups),
        desc=f"toy {config.name}",
        unit="step",
        disable=not progress,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    models: list[TrainedModel] = []
    freqs: dict[tuple, torch.Tensor] = {}
    group_timings: list[dict[str, Any]] = []
    # Weight decay drives dropped rows and their Adam moments toward 1e-38 and below; subnormal
    # floats are ~10x slower on x86 CPUs, so flush them to zero while training.
    with torch_cpu_settings(config.threads, flush_denormal=device.type == "cpu"):
        threads = torch.get_num_threads()
        _train_all(config, groups, device, bar, models, freqs, group_timings)
    models.sort(key=lambda t: (t.run_index, t.seed, t.m))
    timings = {"wall_s": time.perf_counter() - t_start, "groups": group_timings}
    return TrainResult(config, str(device), threads, models, freqs, timings)


def denormals_flushed() -> bool:
    """Whether torch flushes subnormal floats to zero on this thread (``set_flush_denormal``).

    torch has no getter: half the smallest normal double is a subnormal, so it comes out as
    exactly 0 only while flushing is on (a one-element product runs on the calling thread, the
    thread whose setting ``set_flush_denormal`` changes).

    Example:
        >>> import torch
        >>> before = denormals_flushed()
        >>> with torch_cpu_settings(None, flush_denormal=True):
        ...     denormals_flushed() == torch.set_flush_denormal(True)  # True where supported
        True
        >>> denormals_flushed() == before
        True
    """
    return bool(torch.tensor(2.0**-1022, dtype=torch.float64).mul(0.5) == 0)


@contextmanager
def torch_cpu_settings(threads: int | None, flush_denormal: bool) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` (unless None) and, if ``flush_denormal``,
    subnormal floats flushed to zero (where the CPU supports it), both for the block only: the
    previous thread count and flush-denormal state (read by :func:`denormals_flushed`) come back
    on the way out, whatever happens inside.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with torch_cpu_settings(1, flush_denormal=False):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    previous_threads = torch.get_num_threads()
    previous_flush = denormals_flushed()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if flush_denormal:
            torch.set_flush_denormal(True)
        yield
    finally:
        if flush_denormal:
            torch.set_flush_denormal(previous_flush)
        if threads is not None:
            torch.set_num_threads(previous_threads)


def _train_all(
    config: ToyConfig,
    groups: dict[tuple, list[tuple[int, ToyRun]]],
    device: torch.device,
    bar: tqdm,
    models: list[TrainedModel],
    freqs: dict[tuple, torch.Tensor],
    group_timings: list[dict[str, Any]],
) -> None:
    with torch.no_grad(), bar:
        for key, runs in groups.items():
            family, alpha, density, decay = key
            p = frequencies(config.n, family, alpha, density, decay)
            freqs[key] = p
            label = f"{family} α={alpha:g} E={density:g}"
            bar.set_postfix_str(label)
            t0 = time.perf_counter()
            stacks = _train_group(config, runs, p, device, bar, label)
            t1 = time.perf_counter()
            models.extend(_evaluate_group(config, stacks, p, device, key))
            t2 = time.perf_counter()
            group_timings.append(
                {
                    "group": label,
                    "configs": sum(s.W.shape[0] for s in stacks),
                    "train_s": t1 - t0,
                    "eval_s": t2 - t1,
                    "ms_per_step": 1e3 * (t1 - t0) / config.steps,
                }
            )


def _train_group(
    config: ToyConfig,
    runs: list[tuple[int, ToyRun]],
    p: torch.Tensor,
    device: torch.device,
    bar: tqdm,
    label: str,
) -> list[_Stack]:
    stacks = _build_stacks(config, runs, device)
    key = runs[0][1].data_key
    gen = torch.Generator(device=device).manual_seed(derive_seed("data", config.seed, key))
    sampler = FeatureSampler(p, config.batch, gen)
    warmup = config.warmup_steps
    for step in range(config.steps):
        x = sampler.sample()
        f = lr_factor(step, config.steps, warmup, config.final_lr_fraction)
        log = (step + 1) % config.log_every == 0 or step == config.steps - 1
        for st in stacks:
            loss, gW, gb = loss_and_grads(st.W, st.b, x, log, config.loss_scale)
            lr_w = config.lr_w(st.m) * f
            apply_dial(st.W, st.gamma, lr_w)
            st.adam_w.step(st.W, gW, lr_w)
            st.adam_b.step(st.b, gb, config.lr_b(st.m) * f)
            if loss is not None:  # computed on the steps that log
                st.curve.append((loss / config.batch).cpu())
        if log:
            widest = stacks[-1].curve[-1]
            bar.set_postfix_str(f"{label} loss(m={stacks[-1].m})={float(widest[0]):.4g}")
        bar.update(1)
    return stacks


def _evaluate_group(
    config: ToyConfig, stacks: list[_Stack], p: torch.Tensor, device: torch.device, key: tuple
) -> list[TrainedModel]:
    gen = torch.Generator(device=device).manual_seed(derive_seed("eval", config.seed, key))
    sampler = FeatureSampler(p, config.batch, gen)
    n_batches = max(2, math.ceil(config.eval_samples / config.batch))
    per_batch = [torch.zeros(n_batches, st.W.shape[0], dtype=torch.float64) for st in stacks]
    for i in range(n_batches):
        x = sampler.sample()
        for st, acc in zip(stacks, per_batch, strict=True):
            acc[i] = (batch_loss(st.W, st.b, x) / config.batch).cpu()
    steps = [min((k + 1) * config.log_every, config.steps) for k in range(len(stacks[0].curve))]
    out = []
    for st, acc in zip(stacks, per_batch, strict=True):
        curve = torch.stack(st.curve).double() if st.curve else torch.zeros(0, st.W.shape[0])
        for k, (run_index, seed) in enumerate(st.members):
            col = acc[:, k]
            out.append(
                TrainedModel(
                    run_index=run_index,
                    seed=seed,
                    m=st.m,
                    W=st.W[k].cpu().clone(),
                    b=st.b[k].cpu().clone(),
                    eval_loss=float(col.mean()),
                    eval_loss_se=float(col.std() / math.sqrt(n_batches)),
                    curve_steps=steps,
                    curve_loss=curve[:, k].tolist(),
                )
            )
    return out
