"""Range requests to locate the head of an OPT-shaped ``.bin``: llmgeom's planner vs torch.load.

Builds, in memory, a ``torch.save`` archive with the state-dict names and shapes of OPT-125m
(196 tensors, float16, 250 MB) in the layout torch < 2.6 wrote (no ``.format_version``: every
OPT checkpoint on the Hub), then counts the reads a
:class:`~llmgeom.sources.formats.range_file.RangeFile` (64 KiB blocks, as on the Hub) makes for:

* ``llmgeom``: :func:`~llmgeom.sources.formats.torch_zip.index_zip_checkpoint` + ``plan`` (central
  directory, ``data.pkl``, the head's local header);
* ``torch.load meta``: ``torch.load(f, map_location="meta", weights_only=True)``, which reads
  every storage's local header on such archives.

Run:  python benchmarks/bin_plan_requests.py [--layers 12] [--width 768]
"""

from __future__ import annotations

import argparse
import io
import zipfile

import torch

from llmgeom.sources.formats.range_file import RangeFile
from llmgeom.sources.formats.torch_zip import index_zip_checkpoint

HEAD = "decoder.embed_tokens.weight"


def opt_state(layers: int, width: int, vocab: int = 50272) -> dict[str, torch.Tensor]:
    """Zero tensors with OPT's names and shapes (float16)."""
    shapes = {HEAD: (vocab, width), "decoder.embed_positions.weight": (2050, width)}
    for i in range(layers):
        p = f"decoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            shapes |= {p + f"self_attn.{proj}.weight": (width, width)}
            shapes |= {p + f"self_attn.{proj}.bias": (width,)}
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            shapes |= {p + f"{norm}.weight": (width,), p + f"{norm}.bias": (width,)}
        shapes |= {p + "fc1.weight": (4 * width, width), p + "fc1.bias": (4 * width,)}
        shapes |= {p + "fc2.weight": (width, 4 * width), p + "fc2.bias": (width,)}
    shapes |= {
        "decoder.final_layer_norm.weight": (width,),
        "decoder.final_layer_norm.bias": (width,),
    }
    return {name: torch.zeros(shape, dtype=torch.float16) for name, shape in shapes.items()}


def old_layout(state: dict[str, torch.Tensor]) -> bytes:
    """``torch.save`` bytes re-packed without ``.format_version`` (what torch < 2.6 wrote)."""
    buffer, out = io.BytesIO(), io.BytesIO()
    torch.save(state, buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("/.format_version"):
                dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    args = parser.parse_args()
    state = opt_state(args.layers, args.width)
    data = old_layout(state)
    head_bytes = state[HEAD].numel() * 2
    print(f"{len(state)} tensors, {len(data) / 1e6:.1f} MB archive, head {head_bytes / 1e6:.1f} MB")

    ours = RangeFile(len(data), lambda a, b: data[a:b])
    plan = index_zip_checkpoint(ours, "opt").plan(HEAD)
    assert data[plan.start : plan.stop] == state[HEAD].numpy().tobytes()
    theirs = RangeFile(len(data), lambda a, b: data[a:b])
    torch.load(theirs, map_location="meta", weights_only=True)

    print(f"{'method':<18}{'requests':>10}{'bytes read':>14}")
    for label, reader in (("llmgeom", ours), ("torch.load meta", theirs)):
        print(f"{label:<18}{reader.calls:>10}{reader.bytes_fetched:>14}")
    print(
        f"torch.load meta / llmgeom: {theirs.calls / ours.calls:.0f}x the requests, "
        f"{theirs.bytes_fetched / ours.bytes_fetched:.0f}x the bytes (before the head itself)"
    )


if __name__ == "__main__":
    main()
