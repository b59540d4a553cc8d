"""Peak memory of reading the head of a local GPT-2-shaped checkpoint: llmgeom vs a plain read.

Two readers of the same ``model.safetensors`` (``wte.weight`` [50257, 768] plus ``wpe`` and one
layer's worth of other tensors), in bf16 and in f32, each in a fresh subprocess:

* ``llmgeom``: ``llmgeom.load_unembedding(directory)``, the whole public path (locate the head,
  read it, checksum it, wrap it as an ``Unembedding``);
* ``llmgeom-warm``: the same after one earlier load in the process, so that the imports done
  on first use (transformers' model classes, ~130 MiB, for the meta-device skeleton that names
  the head) and the cached skeleton are part of the baseline: the memory of the read itself;
* ``byte-range``: a small copy of the reader llmgeom used before it moved to
  ``safetensors.safe_open`` (commit 066b173): parse the header by hand, ``readinto`` one
  ``bytearray`` of exactly the head's bytes, ``torch.frombuffer`` (the least memory any reader
  can use: the head's stored bytes, once).

Peak memory is the process's resident high-water mark (``VmHWM``; reset to the current RSS just
before the read through ``/proc/self/clear_refs``, else ``ru_maxrss``) minus the resident size
just before the read (the interpreter plus imports). It counts file pages mapped by ``mmap``
(``safe_open``) as well as heap copies. The budget checked is 2x the head's float32 size.

Run:  python benchmarks/local_read_memory.py [--rows 50257] [--width 768] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 2**20


def _rss_bytes() -> int:
    """The current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize()


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_bytes(reset: bool) -> int:
    if reset:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _byte_range_read(directory: Path):
    """The pre-safe_open reader: hand-parsed header, one bytearray of the head's bytes."""
    import torch

    path = directory / "model.safetensors"
    with path.open("rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
        info = header["wte.weight"]
        begin, end = info["data_offsets"]
        buffer = bytearray(end - begin)
        fh.seek(8 + length + begin)
        fh.readinto(buffer)
    dtype = {"F32": torch.float32, "BF16": torch.bfloat16}[info["dtype"]]
    return torch.frombuffer(buffer, dtype=dtype).reshape(info["shape"])


def child(method: str, directory: Path) -> None:
    """Measure one read in this (fresh) process and print a JSON line."""
    import torch  # noqa: F401  (imports are part of the baseline)

    import llmgeom
    from llmgeom.sources import load_unembedding

    del llmgeom
    if method == "llmgeom-warm":  # transformers imported and the head located once already
        load_unembedding(directory)
    before = _rss_bytes()
    reset = _reset_peak()
    if method.startswith("llmgeom"):
        weight = load_unembedding(directory).weight
    else:
        weight = _byte_range_read(directory)
    peak = _peak_bytes(reset)
    nbytes = weight.numel() * weight.element_size()
    print(json.dumps({"extra": peak - before, "nbytes": nbytes, "reset": reset}))


def write_checkpoint(directory: Path, dtype_name: str, rows: int, width: int) -> None:
    """A GPT-2-shaped safetensors checkpoint: the tied head plus wpe and one layer."""
    import safetensors.torch
    import torch

    dtype = getattr(torch, dtype_name)
    g = torch.Generator().manual_seed(0)
    tensors = {
        "wte.weight": torch.randn(rows, width, generator=g).to(dtype),
        "wpe.weight": torch.randn(1024, width, generator=g).to(dtype),
        "h.0.attn.c_attn.weight": torch.randn(width, 3 * width, generator=g).to(dtype),
        "h.0.mlp.c_fc.weight": torch.randn(width, 4 * width, generator=g).to(dtype),
        "h.0.mlp.c_proj.weight": torch.randn(4 * width, width, generator=g).to(dtype),
    }
    directory.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(tensors, str(directory / "model.safetensors"))
    config = {"model_type": "gpt2", "vocab_size": rows, "n_embd": width, "n_layer": 1}
    (directory / "config.json").write_text(json.dumps(config))


def measure(method: str, directory: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50257)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=3, help="runs per reader; the least is kept")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    f32_head = args.rows * args.width * 4
    print(f"head [{args.rows}, {args.width}]; float32 size {f32_head / MIB:.1f} MiB")
    print(f"{'dtype':>8} {'reader':>12} {'peak extra MiB':>15} {'x f32 head':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for dtype_name in ("bfloat16", "float32"):
            directory = Path(tmp) / dtype_name
            write_checkpoint(directory, dtype_name, args.rows, args.width)
            results = {}
            for method in ("byte-range", "llmgeom", "llmgeom-warm"):
                runs = [measure(method, directory) for _ in range(args.repeat)]
                results[method] = min(r["extra"] for r in runs)
                ratio = results[method] / f32_head
                print(f"{dtype_name:>8} {method:>12} {results[method] / MIB:15.1f} {ratio:11.2f}")
            warm = results["llmgeom-warm"]
            print(
                f"{dtype_name:>8} llmgeom-warm / byte-range = "
                f"{warm / max(results['byte-range'], 1):.2f}; "
                f"budget 2 x f32 head {'met' if warm <= 2 * f32_head else 'EXCEEDED'}"
            )


if __name__ == "__main__":
    main()
