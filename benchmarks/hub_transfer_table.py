"""Bytes transferred to get the output embedding of the paper's 27 models from the Hub.

Three ways, per model:

- **llmgeom**: the head tensor's byte range plus metadata (revision API answer, ``config.json``,
  the index of a sharded checkpoint, the 8-byte length and JSON header of the one shard that holds
  the head); for ``.bin``-only repositories (OPT) the head's byte range inside the zip archive
  plus its central directory and ``data.pkl`` (estimated as three 64 KiB blocks);
- **authors**: the whole weight file (shard) holding the head, as the authors' scripts download it;
- **whole model**: every weight file of the main branch.

By default every number is COMPUTED, not measured (this machine has no Hub access):

- head bytes = rows x cols x dtype size from ``configs/models.csv`` (exact; Pythia: float16, the
  dtype of its checkpoints, since models.csv says "read the header");
- whole model = the file sizes listed on the Hub for the single-file repositories (``KNOWN``
  below, in bytes, as listed at the time of writing), else nominal parameters x dtype size;
- the shard holding the head = the single file, or (sharded; an ESTIMATE) the size given by the
  sharding rule of ``save_pretrained`` for the published shard count: shards filled to ~99 % of
  ``max_shard_size`` (10 GB for OPT and Pythia, 4 GB for Qwen2.5) in state-dict order, so the
  head's shard is a full one when the head comes first (OPT, tied Qwen2.5) and the remainder
  when it comes last (untied Qwen2.5 ``lm_head``, Pythia ``embed_out``);
- metadata = an estimate from the number of files and tensors (a few kB to ~100 kB).

``--live`` instead asks the Hub (or ``HF_ENDPOINT``) through ``llmgeom.sources.hub`` for each
repository's real file sizes and header sizes (metadata only, no tensor data): MEASURED sizes.

``--local`` MEASURES real transfers on the tests' local fake Hub (``tests/hub/hub_server.py``, one
tiny repository per family and layout): for each, the bytes and requests the server saw for a
cold load (with the head's own bytes apart), and the requests of a second load (cache); then three
concurrent cold-cache processes loading one head, and how many times the server sent that head.

Run:  python benchmarks/hub_transfer_table.py [--live | --local] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from llmgeom.memory import format_bytes
from llmgeom.sources.registry import RegistryModel, registry_models

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}

# Single weight files as listed on the Hub (bytes, main branch, approximate to 3 digits).
KNOWN: dict[str, int] = {
    "openai-community/gpt2": 548_000_000,
    "openai-community/gpt2-medium": 1_520_000_000,
    "openai-community/gpt2-large": 3_250_000_000,
    "openai-community/gpt2-xl": 6_430_000_000,
    "facebook/opt-125m": 251_000_000,
    "facebook/opt-350m": 663_000_000,
    "facebook/opt-1.3b": 2_630_000_000,
    "facebook/opt-2.7b": 5_300_000_000,
    "EleutherAI/pythia-70m": 166_000_000,
    "EleutherAI/pythia-160m": 375_000_000,
    "EleutherAI/pythia-410m": 911_000_000,
    "EleutherAI/pythia-1b": 2_090_000_000,
    "EleutherAI/pythia-1.4b": 2_930_000_000,
    "EleutherAI/pythia-2.8b": 5_680_000_000,
    "Qwen/Qwen2.5-0.5B": 988_000_000,
    "Qwen/Qwen2.5-1.5B": 3_090_000_000,
}
# Sharded main branches: (number of shards, shard holding the head: "first" | "last").
SHARDS: dict[str, tuple[int, str]] = {
    "facebook/opt-6.7b": (2, "first"),
    "facebook/opt-13b": (3, "first"),
    "facebook/opt-30b": (7, "first"),
    "facebook/opt-66b": (14, "first"),
    "Qwen/Qwen2.5-3B": (2, "first"),
    "Qwen/Qwen2.5-7B": (4, "last"),
    "Qwen/Qwen2.5-14B": (8, "last"),
    "Qwen/Qwen2.5-32B": (17, "last"),
    "Qwen/Qwen2.5-72B": (37, "last"),
    "EleutherAI/pythia-6.9b": (2, "last"),
    "EleutherAI/pythia-12b": (3, "last"),
}
# max_shard_size the repositories were saved with (their shards are just under it).
MAX_SHARD = {"opt": 10e9, "pythia": 10e9, "qwen2.5": 4e9, "gpt2": 10e9}
TENSORS_PER_LAYER = {"opt": 16, "qwen2.5": 12, "pythia": 14, "gpt2": 12}


@dataclass
class Row:
    """One model's transfer figures (bytes)."""

    alias: str
    head: int
    llmgeom: int
    shard: int
    whole: int
    head_file: str
    provenance: str  # "computed" | "measured"
    meta: int = 0  # metadata bytes (API answer, config, index, header)


def _params(nominal: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([MB])", nominal.strip())
    if not match:
        raise ValueError(f"cannot read parameter count {nominal!r}")
    return float(match.group(1)) * (1e6 if match.group(2) == "M" else 1e9)


def _dtype_bytes(model: RegistryModel) -> int:
    return DTYPE_BYTES.get(model.storage_dtype, 2)  # Pythia: "read the header" -> float16


def computed_row(model: RegistryModel) -> Row:
    """Figures computed from models.csv, the published file sizes and the shard counts."""
    itemsize = _dtype_bytes(model)
    head = model.head_rows * model.head_cols * itemsize
    whole = KNOWN.get(model.hub_id) or round(_params(model.nominal_params) * itemsize)
    n_shards, where = SHARDS.get(model.hub_id, (1, "only"))
    shard = whole
    if n_shards > 1:  # transformers' sharding: full shards of ~max_shard_size, then the rest
        full = 0.99 * MAX_SHARD[model.family]
        rest = whole - (n_shards - 1) * full
        shard = round(full if where == "first" else min(full, max(head, rest)))
    n_tensors = TENSORS_PER_LAYER[model.family] * model.n_layers + 6
    n_files = n_shards + 8  # weights + config, tokenizer files, README, ...
    api = 400 + 180 * n_files
    config = 1_000
    index = 80 * n_tensors if n_shards > 1 else 0
    header = 8 + 110 * (n_tensors // n_shards + 1) if model.fmt == "safetensors" else 0
    meta = api + config + index + header
    file = "model.safetensors" if model.fmt == "safetensors" else "pytorch_model.bin"
    if n_shards > 1:
        number = 1 if where == "first" else n_shards
        stem, ext = file.rsplit(".", 1) if model.fmt == "safetensors" else ("pytorch_model", "bin")
        file = f"{stem}-{number:05d}-of-{n_shards:05d}.{ext}"
    zip_overhead = 0 if model.fmt == "safetensors" else 3 * 64 * 1024  # tail + data.pkl blocks
    llmgeom = meta + head + zip_overhead
    return Row(model.alias, head, llmgeom, shard, whole, file, "computed", meta)


def live_row(model: RegistryModel) -> Row:
    """Figures measured from the Hub's file listing and headers (metadata only)."""
    from llmgeom.sources.hub import locate_hub_head

    head = locate_hub_head(model.hub_id)
    loc = head.location
    shard = loc.file_size or 0
    if loc.byte_range is not None:
        head_bytes = loc.nbytes or 0
        llmgeom = head.overhead_bytes + head_bytes
    else:
        rows, cols = loc.shape if loc.shape and len(loc.shape) == 2 else model.head_shape
        head_bytes = rows * cols * DTYPE_BYTES.get(str(loc.dtype), _dtype_bytes(model))
        llmgeom = head.overhead_bytes + shard
    return Row(
        model.alias,
        head_bytes,
        llmgeom,
        shard,
        head.weight_bytes,
        loc.file,
        "measured",
        head.overhead_bytes,
    )


_CHILD = """
import sys, warnings
warnings.simplefilter("ignore")
from llmgeom.sources.hub import load_hub_unembedding
u = load_hub_unembedding(sys.argv[1])
print(u.meta.extra["hub"]["cache"])
"""


def _local_hub(home: Path) -> None:
    """Point huggingface_hub (environment and its import-time constants) at ``home``."""
    from huggingface_hub import constants

    os.environ["HF_HOME"] = str(home)
    for name, value in (
        ("HF_HOME", str(home)),
        ("HF_HUB_CACHE", str(home / "hub")),
        ("HF_ASSETS_CACHE", str(home / "assets")),
        ("HF_TOKEN_PATH", str(home / "token")),
    ):
        setattr(constants, name, value)


def local_table() -> None:
    """Measure cold and warm loads of every tiny family on the local fake Hub."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hub"))
    from hub_repos import build_repos
    from hub_server import FakeHub
    from huggingface_hub import constants

    from llmgeom.sources.hub import load_hub_unembedding

    hub = FakeHub().start()
    try:
        repos = build_repos(hub)
        os.environ.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_PROGRESS_BARS="1")
        os.environ.pop("HF_TOKEN", None)
        constants.ENDPOINT = hub.url
        constants.HUGGINGFACE_CO_URL_TEMPLATE = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        constants.HF_HUB_DISABLE_TELEMETRY = True
        names = ["gpt2", "pythia", "qwen_tied", "qwen_sharded", "opt", "opt350", "opt_sharded"]
        print(
            f"{'repo':<24} {'head B':>7} {'served B':>9} {'overhead B':>10} {'requests':>8} "
            f"{'file B':>8} {'2nd call requests':>17}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            for short in names:
                repo = repos[short]
                _local_hub(Path(tmp) / short)
                hub.reset()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    u = load_hub_unembedding(repo.repo_id)
                head = repo.head.numel() * repo.head.element_size()
                served, requests = hub.bytes_sent, hub.requests
                hub.reset()
                load_hub_unembedding(repo.repo_id)
                print(
                    f"{repo.repo_id:<24} {head:>7} {served:>9} {served - head:>10} {requests:>8} "
                    f"{len(repo.files['main'][u.meta.file]):>8} {hub.requests:>17}"
                )
            # three concurrent cold-cache processes, the head held back until all three asked
            repo = repos["gpt2"]
            home = Path(tmp) / "concurrent"
            hub.reset()

            def three_asked() -> bool:
                return sum(r.path.startswith("/api/") for r in hub.records) >= 3

            first, _ = repo.head_range()

            def head_range(method: str, path: str, rng: str | None) -> bool:
                return "/lfs/" in path and bool(rng) and int(rng[6:].split("-")[0]) >= first

            hub.add_fault(head_range, hold=three_asked, hold_s=20.0, times=None)
            env = {**os.environ, "HF_HOME": str(home)}
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", _CHILD, repo.repo_id],
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(3)
            ]
            outcomes = [p.communicate(timeout=300)[0].strip() for p in procs]
            head = repo.head.numel() * repo.head.element_size()
            sent = sum(r.sent for r in hub.records if head_range(r.method, r.path, r.range))
            print(
                f"\n3 concurrent cold-cache processes, {repo.repo_id}: the head ({head} B) was "
                f"sent {sent / head:g} times; cache outcomes {outcomes}"
            )
    finally:
        hub.stop()


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.1f}x" if b else "-"


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="ask the Hub (metadata only)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--local", action="store_true", help="measure on the local fake Hub")
    args = parser.parse_args()
    if args.local:
        local_table()
        return
    rows = [live_row(m) if args.live else computed_row(m) for m in registry_models()]
    header = (
        "model",
        "head",
        "metadata",
        "llmgeom",
        "authors (shard)",
        "whole model",
        "shard/llmgeom",
        "whole/llmgeom",
        "file holding the head",
    )
    table = [
        (
            r.alias,
            *(format_bytes(b) for b in (r.head, r.meta, r.llmgeom, r.shard, r.whole)),
            _ratio(r.shard, r.llmgeom),
            _ratio(r.whole, r.llmgeom),
            r.head_file,
        )
        for r in rows
    ]
    fields = ("head", "meta", "llmgeom", "shard", "whole")
    total = [sum(getattr(r, f) for r in rows) for f in fields]
    table.append(
        (
            f"TOTAL ({len(rows)})",
            *(format_bytes(t) for t in total),
            _ratio(total[3], total[2]),
            _ratio(total[4], total[2]),
            "",
        )
    )
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for line in table:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=True)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for line in table:
            print("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)))
    kind = (
        "MEASURED from the Hub's listings and headers"
        if args.live
        else ("COMPUTED from models.csv, published file sizes and shard counts (not measured)")
    )
    print(f"\nAll sizes {kind}; 1 MB = 10^6 bytes.")


if __name__ == "__main__":
    main()
