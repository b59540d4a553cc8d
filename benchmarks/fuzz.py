"""The long fuzzing campaign of issue 19: every parser target, many mutated inputs, one report.

The suite runs each target with a small Hypothesis budget; this runs the same property
(``tests/fuzz_harness.py``: the reference reader's result or a typed llmgeom error, never another
exception, hang, memory growth or side effect) on ``--inputs`` inputs per target, drawn by
:func:`fuzz_harness.random_ops` from each seed file, and prints per target the inputs tried, the
distinct outcomes and every violation. A violating input is written to
``tests/fuzz_regressions/<target>.json`` with ``--keep`` (seed name + operations: plain data the
suite replays), so each fixed crash stays a regression test.

    python benchmarks/fuzz.py --inputs 100000            # every target
    python benchmarks/fuzz.py --targets npy --inputs 2000 --seed 1
    python benchmarks/fuzz.py --list
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from fuzz_harness import (  # noqa: E402
    PropertyViolation,
    Target,
    apply_mutations,
    random_ops,
    regression_file,
)


def all_targets() -> dict[str, Target]:
    """Every ``TARGETS`` entry of the modules ``tests/fuzz_targets_*.py``."""
    found: dict[str, Target] = {}
    for path in sorted(TESTS.glob("fuzz_targets_*.py")):
        module = importlib.import_module(path.stem)
        for target in module.TARGETS:
            found[target.name] = target
    return found


def campaign(target: Target, inputs: int, seed: int, keep: bool) -> dict:
    rng = random.Random(seed)
    outcomes: collections.Counter[str] = collections.Counter()
    violations: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix=f"llmgeom-fuzz-{target.name}-"))
    try:
        seeds = target.seeds(work / "seeds")
        names = sorted(seeds)
        t0 = time.perf_counter()
        for k in range(inputs):
            name = rng.choice(names)
            ops = random_ops(rng)
            folder = work / f"input-{k}"
            folder.mkdir()
            try:
                outcome = target.run(folder, apply_mutations(seeds[name], ops))
                outcomes[f"{outcome.kind}: {outcome.detail}".rstrip(": ")] += 1
            except PropertyViolation as err:
                outcomes[f"VIOLATION: {str(err)[:80]}"] += 1
                violations.append({"seed": name, "ops": [list(o) for o in ops], "found": str(err)})
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if keep and violations:
        path = regression_file(target.name)
        kept = json.loads(path.read_text()) if path.exists() else []
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(kept + violations[:20], indent=1) + "\n")
    return {
        "target": target.name,
        "inputs": inputs,
        "seconds": round(seconds, 1),
        "distinct_outcomes": len(outcomes),
        "outcomes": dict(outcomes.most_common()),
        "violations": len(violations),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="*", help="target names (default: all)")
    parser.add_argument("--inputs", type=int, default=1000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="save violating inputs")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--list", action="store_true", help="list the targets and stop")
    args = parser.parse_args(argv)
    targets = all_targets()
    if args.list:
        print("\n".join(targets))
        return 0
    chosen = args.targets or list(targets)
    unknown = sorted(set(chosen) - set(targets))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {sorted(targets)}")
    report = []
    for name in chosen:
        figures = campaign(targets[name], args.inputs, args.seed, args.keep)
        report.append(figures)
        print(
            f"{name}: {figures['inputs']} inputs in {figures['seconds']} s, "
            f"{figures['distinct_outcomes']} distinct outcomes, {figures['violations']} violations"
        )
        for outcome, count in figures["outcomes"].items():
            print(f"  {count:>8}  {outcome}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 1 if any(f["violations"] for f in report) else 0


if __name__ == "__main__":
    sys.exit(main())
