"""Benchmark ``llmgeom sweep`` on Ray against the local executor, in ONE run.

The same toy sweep (``--runs`` toy configurations, a γ × α grid of small runs, each unit ~1 s on
one thread) is run twice from scratch as a user would run it, each a fresh ``llmgeom sweep``
process: ``--executor local --jobs J`` (J worker processes) and ``--executor ray --jobs J`` (a
local Ray instance with J CPUs, started and shut down by the command). Prints both wall times,
the ratio ray/local, the mean time per unit inside the workers, and checks that both wrote the
same values (timings and dates aside).

The machine may be shared: ``--repeat N`` runs N pairs, alternating which executor goes first,
and prints the median ratio.

Run:  python benchmarks/sweep_ray_vs_local.py [--runs 24] [--jobs 2] [--steps 300] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOLATILE = {"created", "timings", "seconds", "started", "finished", "updated"}

GAMMAS = [-1.0, -0.5, -0.25, 0.25, 0.5, 1.0]
ALPHAS = [0.5, 1.0, 1.5, 2.0, 0.0, 2.5]


def write_config(folder: Path, runs: int, steps: int) -> Path:
    """A sweep of one toy experiment with ``runs`` runs (one unit each)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        'out = "res"',
        "[[toy]]",
        'name = "bench"',
        "n = 200",
        "m = [5, 10, 20]",
        f"steps = {steps}",
        "batch = 128",
        "warmup = 10",
        "eval_samples = 1024",
    ]
    grid = [(g, a) for a in ALPHAS for g in GAMMAS][:runs]
    if len(grid) < runs:
        raise SystemExit(f"at most {len(ALPHAS) * len(GAMMAS)} runs")
    for gamma, alpha in grid:
        lines += ["[[toy.runs]]", f"gamma = {gamma}", f"alpha = {alpha}"]
    path = folder / "sweep.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_sweep(config: Path, executor: str, jobs: int) -> float:
    """Wall seconds of ``llmgeom sweep CONFIG --executor E --jobs J`` (a fresh process)."""
    argv = [sys.executable, "-m", "llmgeom", "sweep", str(config), "--executor", executor]
    argv += ["--jobs", str(jobs), "--no-progress"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        output = done.stdout + done.stderr
        raise SystemExit(f"{executor} sweep failed ({done.returncode}):\n{output}")
    return wall


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def results(out: Path) -> dict[str, object]:
    """The toy JSON records under ``out``, without their volatile fields."""
    return {
        p.name: _strip(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(out.glob("toy-*.json"))
    }


def unit_seconds(out: Path) -> list[float]:
    """Seconds of each unit as recorded in the sweep's status file."""
    status = json.loads((out / "sweep-status.json").read_text(encoding="utf-8"))
    return [float(u["seconds"]) for u in status["units"] if u.get("seconds") is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24, help="toy configurations (default 24)")
    parser.add_argument("--jobs", type=int, default=2, help="workers / Ray CPUs (default 2)")
    parser.add_argument(
        "--steps", type=int, default=300, help="training steps per run (default 300)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs of sweeps, order alternating (default 1)"
    )
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        raise SystemExit("this benchmark needs Ray: pip install 'llmgeom[ray]'") from None

    print(f"toy sweep: {args.runs} units (n=200, m=5,10,20, {args.steps} steps, 1 thread each)")
    print(f"ray {ray.__version__}, {args.jobs} workers / CPUs, {os.cpu_count()} CPUs here")
    ratios = []
    for i in range(args.repeat):
        order = ("local", "ray") if i % 2 == 0 else ("ray", "local")
        wall: dict[str, float] = {}
        per_unit: dict[str, float] = {}
        found: dict[str, dict[str, object]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for executor in order:
                config = write_config(Path(tmp) / executor, args.runs, args.steps)
                wall[executor] = run_sweep(config, executor, args.jobs)
                seconds = unit_seconds(config.parent / "res")
                per_unit[executor] = sum(seconds) / len(seconds)
                found[executor] = results(config.parent / "res")
        same = found["local"] == found["ray"] and len(found["local"]) == args.runs
        ratios.append(wall["ray"] / wall["local"])
        print(f"run {i + 1} ({order[0]} first):")
        for executor in ("local", "ray"):
            print(f"  {executor:5} executor (--jobs {args.jobs}): {wall[executor]:7.2f} s wall, "
                  f"{per_unit[executor]:.2f} s per unit in its worker")  # fmt: skip
        print(f"  ratio ray/local: {ratios[-1]:.2f}; identical values: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)
    if len(ratios) > 1:
        print(f"median ratio ray/local over {len(ratios)} runs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
