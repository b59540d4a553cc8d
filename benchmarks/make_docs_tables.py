"""Write the documentation's benchmark page, ``docs/benchmarks/index.md``, from ``benchmarks/``.

Two kinds of benchmark feed it:

- **computed** ones are cheap and deterministic (byte and request counts, no clock): this script
  runs them every time and puts their output on the page;
- **timed** ones depend on the machine and take minutes: their output is saved once, with the
  machine it ran on, in ``benchmarks/saved/NAME.json``, and the page shows the saved run.
  ``--rerun NAME`` runs one now, saves its output and rewrites the page.

Run:  python benchmarks/make_docs_tables.py             # rewrite the page
      python benchmarks/make_docs_tables.py --check     # fail if the committed page is stale
      python benchmarks/make_docs_tables.py --rerun loss_speed --machine "8-core laptop"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "benchmarks" / "saved"
PAGE = ROOT / "docs" / "benchmarks" / "index.md"


@dataclass(frozen=True)
class Benchmark:
    """A script of ``benchmarks/`` with its arguments, and what its output shows."""

    name: str
    script: str
    args: tuple[str, ...]
    title: str
    what: str
    markdown: bool = False  # the script prints a markdown table (else: text in a code block)

    @property
    def command(self) -> str:
        return " ".join(["python", f"benchmarks/{self.script}", *self.args])


COMPUTED = (
    Benchmark(
        "hub_transfer",
        "hub_transfer_table.py",
        ("--markdown",),
        "Bytes transferred for the paper's 27 heads",
        "What llmgeom downloads to get each model's output embedding from the Hub (the head's "
        "byte range plus metadata) against the authors' approach (the whole weight file that "
        "holds the head) and the whole model. Computed from `configs/models.csv` and the "
        "published file sizes, not measured; `--live` asks the Hub instead.",
        markdown=True,
    ),
    Benchmark(
        "bin_plan_requests",
        "bin_plan_requests.py",
        (),
        "Locating the head inside a PyTorch `.bin` archive",
        "Range requests (64 KiB blocks, as on the Hub) to locate the head of an OPT-125m-shaped "
        "`.bin` archive in the layout every OPT checkpoint on the Hub has, before reading the "
        "head itself: llmgeom's planner against `torch.load(map_location='meta')`.",
    ),
)

TIMED = (
    Benchmark(
        "overlap_speed",
        "overlap_speed.py",
        (),
        "The overlap engine on a GPT-2-size head",
        "On a random 50257 × 768 float32 matrix, in one run (so that machine noise mostly "
        "cancels): mean cos² by the Gram identity against the authors' blocked all-pairs "
        "method; the exact pairwise pass against a plain matmul of the same shapes; the peak "
        "memory of `llmgeom measure` on a safetensors file of that size.",
    ),
    Benchmark(
        "sampling_speed",
        "sampling_speed.py",
        (),
        "The default `measure` on a head too large for the exact pass",
        "On a random 262144 × 640 float32 head (Gemma-3's shape), in one run: the default "
        "`measure` (mean and std of |cos| from random pairs until the 95 % interval is within "
        '1e-3 of the mean) against `pairs="gram"` (the Gram statistics only); then, on a '
        "smaller head with uneven rows, the interval of mean |cos| from random pairs against the "
        "former design (random whole rows, each against every row), at equal work.",
    ),
    Benchmark(
        "token_interference_speed",
        "token_interference_speed.py",
        (),
        "Every token's interference against the Gram step",
        "On a random 50257 × 768 float32 head of unit rows, in one run: the Gram step alone "
        "(`UᵀU`, what `measure` needs for mean cos²) against every token's mean cos² with all "
        "the others (`llmgeom tokens`: the same `G` plus one `u_iᵀ G u_i` per row), and with "
        "the frequency-weighted one as well (`UᵀU` and `Uᵀ diag(p) U` in one pass).",
    ),
    Benchmark(
        "gram_speed",
        "gram_speed.py",
        ("--phases",),
        "`measure --pairs gram` against the limit of its Gram step",
        "On a random 152064 × 2048 bfloat16 head in a safetensors file (Qwen2's shape), in one "
        "run: the limit (reading the file, normalising the rows, one float32 `XᵀX` with its "
        'Frobenius norm) against `llmgeom.measure(FILE, pairs="gram")`, which also hashes '
        "the tensor, checks the rows, takes every eigenvalue of `ŴᵀŴ` (its `UᵀU` is one "
        "triangle of the product) and the raw rows' `‖W‖₂²` for the stable rank. The top of a "
        "random head's spectrum is flat (the two largest eigenvalues 4e-4 apart): none of the "
        "iterations tried certifies `‖W‖₂²` in fewer passes than a second product costs "
        "([why](../explanation/statistics.md)), so `WᵀW` is built; the `phases` line times "
        "each part alone, and the last ratio leaves that route out.",
    ),
    Benchmark(
        "gram_speed_shared",
        "gram_speed.py",
        ("--phases", "--shared", "1"),
        "`measure --pairs gram` against the limit: a head with a shared direction",
        "As above, with a direction shared by all rows added (as trained heads typically "
        "have: their mean row is far from zero): the top eigenvalue of `WᵀW` stands out and a "
        "few Lanczos passes over the rows give `‖W‖₂²`, no second product.",
    ),
    Benchmark(
        "gram_speed_8192",
        "gram_speed.py",
        ("--phases", "--width", "8192", "--repeats", "1"),
        "`measure --pairs gram` against the limit: 152064 × 8192",
        "As the first, at the widest head the issue names (5 GB of float32 unit rows), one run "
        "of each: `eigvalsh` of the 8192 × 8192 Gram matrix and the second product for "
        "`‖W‖₂²` are what measure adds to the limit.",
    ),
    Benchmark(
        "normalize_chunks",
        "normalize_chunks.py",
        (),
        "The row pass in cache-sized chunks",
        "Norms, float32 unit rows and their row sums (the pass `measure` makes before the Gram "
        "step) on random 152064-row bfloat16 heads, in one run: chunks of 2^18 numbers (the "
        "default) against the former 1024-row chunks. The rows come out the same to the bit.",
    ),
    Benchmark(
        "local_read_memory",
        "local_read_memory.py",
        (),
        "Peak memory of reading a head from a local checkpoint",
        "Peak resident memory beyond the interpreter and imports, reading a GPT-2-size head "
        "from a local safetensors file: llmgeom (`llmgeom-warm`: after transformers was "
        "imported once, the read itself) against a plain byte-range read.",
    ),
    Benchmark(
        "loss_speed",
        "loss_speed.py",
        (),
        "`llmgeom loss` against the bare model forward",
        "A GPT-2-small-size model (random initialisation) on a small corpus: llmgeom end to "
        "end (reading, tokenising, batching, padding, forward, float64 accumulation) against the "
        "bare forward on the same pre-tokenised batches. On a shared machine the CPU-time "
        "ratio is the one to read.",
    ),
    Benchmark(
        "sweep_ray_vs_local",
        "sweep_ray_vs_local.py",
        ("--repeat", "4"),
        "Sweeps: Ray against the local executor",
        "A sweep of 24 small toy runs with `--jobs 2`, once per executor, alternating which "
        "goes first. On one machine Ray costs a fixed few seconds per command (starting and "
        "stopping its instance); the units run at the same speed.",
    ),
    Benchmark(
        "hub_local",
        "hub_transfer_table.py",
        ("--local",),
        "Transfers measured on a local stand-in of the Hub",
        "Bytes and requests a local HTTP server speaking the Hub's protocol saw for a cold load "
        "of each tiny test repository (requests count redirect hops: a ranged read is a 302 "
        "from the Hub plus a 206 from the CDN), the requests of a second load (from the cache), "
        "and three concurrent cold-cache processes loading one head.",
    ),
)


def run(bench: Benchmark) -> str:
    """The benchmark's standard output (it must succeed)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / bench.script), *bench.args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{bench.command} failed:\n{done.stderr[-2000:]}")
    return done.stdout.rstrip()


def section(bench: Benchmark, output: str, note: str) -> list[str]:
    """A page section: title, what is compared, how it was made, the output."""
    body = [output] if bench.markdown else ["```text", output, "```"]
    return [f"## {bench.title}", "", bench.what, "", note, "", *body, ""]


def render() -> str:
    """The whole page."""
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/make_docs_tables.py: edit that script, not this page. -->",
        "",
        "Every performance claim of llmgeom comes from a script in `benchmarks/` that compares",
        "two methods in one run and prints the ratio; none is a timed test. This page is",
        "written by `python benchmarks/make_docs_tables.py`: it runs the computed benchmarks",
        "(byte and request counts, no clock) each time, and shows the saved output of the timed",
        "ones (`benchmarks/saved/`), which `--rerun NAME` refreshes on your machine.",
        "",
    ]
    for bench in COMPUTED:
        note = f"Computed by `{bench.command}` when this page was written."
        lines += section(bench, run(bench), note)
    for bench in TIMED:
        saved = json.loads((SAVED / f"{bench.name}.json").read_text(encoding="utf-8"))
        note = (
            f"Measured by `{saved['command']}` on {saved['machine']}; "
            f"`python benchmarks/make_docs_tables.py --rerun {bench.name}` measures it again."
        )
        shown = Benchmark(**{**bench.__dict__, "markdown": saved.get("markdown", False)})
        lines += section(shown, saved["output"], note)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    parser.add_argument("--rerun", choices=[b.name for b in TIMED], help="run a timed one now")
    parser.add_argument("--machine", default="this machine", help="with --rerun: where it ran")
    args = parser.parse_args()
    if args.rerun:
        bench = next(b for b in TIMED if b.name == args.rerun)
        record = {"command": bench.command, "machine": args.machine, "output": run(bench)}
        SAVED.mkdir(parents=True, exist_ok=True)
        (SAVED / f"{bench.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    page = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != page:
            raise SystemExit(f"{PAGE.relative_to(ROOT)} is stale: run {__file__}")
        return
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
