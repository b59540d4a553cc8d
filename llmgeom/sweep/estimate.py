"""What a plan will download and cost, roughly: the heads, checkpoints, tokenizers and corpus text
it fetches (each once) and its compute time on a CPU and on one GPU at the rates below
(``reproduce`` and ``sweep --dry-run`` print it before starting, said to be rough).

Example:
    >>> from llmgeom.sweep.config import parse_config
    >>> from llmgeom.sweep.plan import expand_units
    >>> cfg = parse_config('models = ["gpt2"]\\n[measure]\\npairs = "gram"')
    >>> estimate(expand_units(cfg), cfg).lines()[0]   # the head: 50257 x 768 float32
    'download (rough): 154.4 MB (heads 154.4 MB)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import SweepConfig
from .model_sizes import head_bytes, parse_params, registry_entry, weight_bytes
from .model_specs import ModelSpec
from .toy_specs import ToySpec
from .units import Unit

# rough rates for the estimate: said to be rough wherever they are printed
CPU_FLOPS = 5e10  # a few CPU cores, float32 matmul
GPU_FLOPS = 5e13  # one recent GPU, half precision
TOKENIZER_BYTES = 5_000_000  # tokenizer files of one model
TEXT_BYTES_PER_TOKEN = 4.5  # English text, BPE tokenizers
TOY_MODEL_STEP_S = 8e-3  # one toy model, one step at n = 1000, batch 2048 (toy-phase.toml)


@dataclass(frozen=True)
class Estimate:
    """Rough download size and compute time of a set of units (rates in the module)."""

    download_bytes: dict[str, int]
    cpu_seconds: float
    gpu_seconds: float
    unknown: tuple[str, ...]  # units whose size is not known (local or unregistered models)
    by_kind: dict[str, tuple[float, float]] = field(default_factory=dict)  # kind -> (cpu, gpu) s

    @property
    def total_bytes(self) -> int:
        """Every download together."""
        return sum(self.download_bytes.values())

    def lines(self) -> list[str]:
        """The estimate as the command prints it."""
        parts = ", ".join(f"{k} {_size(v)}" for k, v in self.download_bytes.items() if v)
        out = [
            f"download (rough): {_size(self.total_bytes)}" + (f" ({parts})" if parts else ""),
            f"compute (rough): {_duration(self.cpu_seconds)} on a CPU "
            f"(~{CPU_FLOPS / 1e9:g} GFLOP/s), {_duration(self.gpu_seconds)} on one GPU "
            f"(~{GPU_FLOPS / 1e12:g} TFLOP/s)",
        ]
        if len(self.by_kind) > 1:
            kinds = ", ".join(
                f"{kind} {_duration(cpu)} / {_duration(gpu)}"
                for kind, (cpu, gpu) in self.by_kind.items()
            )
            out.append(f"  of which (CPU / GPU): {kinds}")
        if self.unknown:
            out.append(
                f"not counted (size unknown): {len(self.unknown)} unit(s), e.g. {self.unknown[0]}"
            )
        return out


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _duration(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _unit_cost(unit: Unit, config: SweepConfig) -> tuple[dict[str, float], float, float, bool]:
    """(bytes by kind, cpu s, gpu s, known) of one unit."""
    p = unit.params
    if unit.kind == "measure":
        model = ModelSpec(
            p["source"], p["source"], p["revision"], local=Path(p["source"]).is_absolute()
        )
        entry = registry_entry(model)
        if entry is None:
            return {}, 0.0, 0.0, False
        n, m = entry.head_shape
        gram = 2.0 * n * m * m
        budget = float(p["options"].get("time_budget") or 60.0)
        pairs = p["options"].get("pairs")
        exact = n * n * m  # half of the 2 n^2 m flops of the all-pairs products
        cpu = gram / CPU_FLOPS + (0.0 if pairs == "gram" else min(exact / CPU_FLOPS, budget))
        if pairs == "exact":
            cpu = gram / CPU_FLOPS + exact / CPU_FLOPS
        gpu = (gram + (0 if pairs == "gram" else exact)) / GPU_FLOPS
        return {"heads": head_bytes(model)}, cpu, gpu, True
    if unit.kind == "loss":
        model = ModelSpec(
            p["source"], p["model_name"], p["revision"], local=Path(p["source"]).is_absolute()
        )
        entry = registry_entry(model)
        options = p["options"]
        tokens = (options["samples"] or 1000) * (options["max_length"] or 2048)
        text = {"corpora": tokens * TEXT_BYTES_PER_TOKEN} if p["corpus"].startswith("hf:") else {}
        params = parse_params(entry.nominal_params) if entry else None
        if not params:
            return text, 0.0, 0.0, False
        flops = 2.0 * params * tokens
        return {"models": weight_bytes(model), **text}, flops / CPU_FLOPS, flops / GPU_FLOPS, True
    if unit.kind == "freq":
        tokens = p["options"]["tokens"] or 1_000_000  # 0: the whole corpus, size unknown
        text_bytes = tokens * TEXT_BYTES_PER_TOKEN if p["corpus"].startswith("hf:") else 0
        local = Path(p["tokenizer"]).is_absolute()
        download = {"tokenizers": 0 if local else TOKENIZER_BYTES, "corpora": text_bytes}
        return download, tokens / 5e5, 0.0, True
    if unit.kind == "toy":
        spec = ToySpec("x", p["source"], p["table"])
        cfg = spec.load()
        runs = cfg.runs if p["run_index"] is None else (cfg.runs[p["run_index"]],)
        models = sum(len(r.seeds) for r in runs) * len(cfg.m)
        scale = cfg.n * cfg.batch / (1000 * 2048)
        cpu = cfg.steps * models * TOY_MODEL_STEP_S * scale
        return {}, cpu, cpu / 50.0, True
    return {}, 0.0, 0.0, False  # pragma: no cover


#: The downloads shared between units: one per model (loss units of one model on several
#: corpora), per corpus and per tokenizer, keyed by these unit parameters.
_DOWNLOADED_ONCE = {
    "models": ("source", "revision"),
    "corpora": ("corpus",),
    "tokenizers": ("tokenizer",),
}


def estimate(units: list[Unit], config: SweepConfig) -> Estimate:
    """A rough estimate of what running ``units`` downloads and costs (models counted once).

    Example:
        >>> from llmgeom.sweep.config import parse_config
        >>> from llmgeom.sweep.plan import expand_units
        >>> cfg = parse_config('models = ["gpt2"]\\n[measure]\\npairs = "gram"')
        >>> e = estimate(expand_units(cfg), cfg)
        >>> e.download_bytes["heads"]   # 50257 x 768 float32
        154389504
    """
    totals: dict[str, int] = {}
    cpu = gpu = 0.0
    by_kind: dict[str, tuple[float, float]] = {}
    unknown = []
    counted: set[tuple] = set()
    for unit in units:
        parts, c, g, known = _unit_cost(unit, config)
        for part, names in _DOWNLOADED_ONCE.items():
            if part in parts:
                key = (part, *(unit.params[name] for name in names))
                if key in counted:
                    del parts[part]
                counted.add(key)
        for k, v in parts.items():
            totals[k] = totals.get(k, 0) + int(v)
        cpu += c
        gpu += g
        k_cpu, k_gpu = by_kind.get(unit.kind, (0.0, 0.0))
        by_kind[unit.kind] = (k_cpu + c, k_gpu + g)
        if not known:
            unknown.append(unit.id)
    return Estimate(totals, cpu, gpu, tuple(unknown), by_kind)


__all__ = ["Estimate", "estimate"]
