"""Fuzz targets of the torch ``.bin`` readers and of the Hub path (issue 19).

- ``torch-bin``: a local ``.bin`` through ``llmgeom.load_unembedding(path)`` and through the
  ranged reader's planner (``index_zip_checkpoint(...).plan(key)``, the bytes of its plan), against
  ``torch.load(path, weights_only=True, map_location="cpu")``; the planner reads the head's bytes
  only, so it may answer where torch.load refuses the file (``lenient``), but its plan must lie
  inside the file.
- ``hub-safetensors`` / ``hub-bin``: the fake Hub of ``tests/hub`` serves the mutated file, its
  CDN misbehaving as the input's first bytes say (:mod:`fuzz_hub_server`); the head must be the
  one the reference reader gets from the served bytes, or a typed error; sockets to loopback only,
  writes only in the input's ``HF_HOME``.

Seeds: :mod:`fuzz_torch_files` (structure-aware ``.bin`` variants) and small safetensors files.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from fuzz_harness import Outcome, PropertyViolation, Target, check, write_input
from fuzz_hub_server import MODES, Script, hub_environment, shared_hub, split_input
from fuzz_torch_files import HEAD, base_state, refresh_crcs, torch_seeds

import llmgeom
from llmgeom.sources.formats.torch_zip import index_zip_checkpoint, tensor_from_plan
from llmgeom.sources.head_key import choose_head_key

HUB_TIME_LIMIT_S = 20.0  # retries of short client timeouts, never a hang
HUB_REPO = "fuzz-org/tiny"


def same_tensor(a: torch.Tensor, b: Any) -> bool:
    """Exactly the same tensor: dtype, shape and every byte (NaN payloads included)."""
    if not isinstance(b, torch.Tensor) or a.dtype != b.dtype or a.shape != b.shape:
        return False
    raw = (t.detach().contiguous().reshape(-1).view(torch.uint8) for t in (a, b))
    return torch.equal(*raw)


def head_of(state: Any, key: str) -> Any:
    """Tensor ``key`` of what torch.load returned (a bare tensor is the head itself)."""
    if isinstance(state, torch.Tensor):
        return state
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    return state.get(key) if isinstance(state, Mapping) else None


def _same_head(ours: Any, theirs: Any) -> bool:
    key, weight = ours
    return same_tensor(weight, head_of(theirs, key))


def _cached(call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` run once: later calls give its result or raise its error again."""
    memo: list[Any] = []

    def run() -> Any:
        if not memo:
            try:
                memo.append((True, call()))
            except Exception as err:
                memo.append((False, err))
        ok, value = memo[0]
        if not ok:
            raise value
        return value

    return run


class UnstableReference(Exception):
    """torch.load gave two different results for one file: memory it left uninitialised."""


def torch_reference(path: Path) -> Any:
    """``torch.load(path, weights_only=True, map_location="cpu")``, read twice: a damaged zip
    entry can make it return uninitialised memory (then no reference: UnstableReference)."""
    first, second = (torch.load(path, weights_only=True, map_location="cpu") for _ in range(2))
    tensors = [dict(s.items() if isinstance(s, Mapping) else [("", s)]) for s in (first, second)]
    for key, value in tensors[0].items():
        if isinstance(value, torch.Tensor) and not same_tensor(value, tensors[1].get(key)):
            raise UnstableReference(f"torch.load read {key!r} differently twice")
    return first


# --------------------------------------------------------------------------- torch-bin


def _plan_head(path: Path) -> tuple[str, torch.Tensor]:
    """The head read as the Hub path reads it: planned from the zip directory and data.pkl,
    then exactly the plan's bytes."""
    data = path.read_bytes()
    with path.open("rb") as fh:
        index = index_zip_checkpoint(fh, str(path))
        key = choose_head_key(None, index.shapes, shapes=index.shapes, source=str(path)).key
        plan = index.plan(key)
    assert 0 <= plan.start <= plan.stop <= len(data), f"plan {plan.byte_range} outside the file"
    return key, tensor_from_plan(data[plan.start : plan.stop], plan)


def run_torch_bin(folder: Path, data: bytes) -> Outcome:
    path = write_input(folder, "pytorch_model.bin", data)
    reference = _cached(lambda: torch_reference(path))

    def load() -> tuple[str, torch.Tensor]:
        head = llmgeom.load_unembedding(path)
        return head.meta.tensor_name or "", head.weight

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loaded = check(load, reference, same=_same_head, allowed_dirs=[folder])
        except PropertyViolation as err:
            if "UnstableReference" not in str(err):
                raise
            # no reference: llmgeom's answer must at least be the same twice (no stray memory)
            loaded = check(load, load, same=_same_head, allowed_dirs=[folder])
            loaded = Outcome(loaded.kind, "reference unstable")
        planned = check(lambda: _plan_head(path), reference, same=_same_head, lenient=True)
    return Outcome(loaded.kind, f"{loaded.detail or '-'}; plan: {planned.kind} {planned.detail}")


def run_torch_bin_crc(folder: Path, data: bytes) -> Outcome:
    """``torch-bin`` with the zip entries' CRC-32 made right after mutating: torch.load checks
    none, zipfile (the planner's) does; so mutated ``data.pkl`` bytes reach both unpicklers."""
    return run_torch_bin(folder, refresh_crcs(data))


# --------------------------------------------------------------------------- the Hub


def _edited(data: bytes, edit: Callable[[dict], Any], *, pad: int = 0, tail: bytes = b"") -> bytes:
    """A safetensors file with its JSON header edited (``edit(header)`` in place), re-serialised
    (``pad`` spaces after it), the data as it was plus ``tail``."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    edit(header)
    raw = json.dumps(header).encode() + b" " * pad
    return len(raw).to_bytes(8, "little") + raw + data[8 + length :] + tail


def _set(key: str, field: str, value: Any) -> Callable[[dict], Any]:
    return lambda header: header[key].__setitem__(field, value)


def _safetensors_seeds() -> dict[str, bytes]:
    state = base_state()
    plain = safetensors.torch.save(state)
    head, other = HEAD, "transformer.ln_f.weight"
    edits: dict[str, Callable[[dict], Any]] = {
        "meta-not-strings": lambda h: h.__setitem__("__metadata__", {"a": 1}),
        "shape-float": _set(other, "shape", [4.0]),
        "shape-bool": _set(head, "shape", [8, True, 4]),
        "shape-negative": _set(head, "shape", [-8, -4]),
        "shape-10^15": _set(head, "shape", [10**15, 4]),
        "shape-2^64": _set(head, "shape", [2**64, 4]),
        "offsets-strings": _set(other, "data_offsets", ["0", "16"]),
        "offsets-three": _set(other, "data_offsets", [0, 16, 16]),
        "offsets-past-file": _set(other, "data_offsets", [208, 4096]),
        "offsets-overlap": lambda h: h[other].__setitem__("data_offsets", h[head]["data_offsets"]),
        "dtype-unknown": _set(head, "dtype", "F99"),
        "dtype-list": _set(head, "dtype", ["F32"]),
        "entry-not-object": lambda h: h.__setitem__(other, [1, 2]),
    }
    seeds = {
        "f32": plain,
        "f16": safetensors.torch.save({k: v.half() for k, v in state.items()}),
        "meta": safetensors.torch.save(state, metadata={"format": "pt"}),
        "header-padded": _edited(plain, lambda h: None, pad=13),
        "trailing-bytes": _edited(plain, lambda h: None, tail=bytes(8)),
        "header-length-2^63": (2**63).to_bytes(8, "little") + plain[8:],
        "header-length-past-file": len(plain).to_bytes(8, "little") + plain[8:],
    }
    return seeds | {name: _edited(plain, edit) for name, edit in edits.items()}


def _scripted(files: dict[str, bytes]) -> dict[str, bytes]:
    """Every file under every misbehaviour: on every CDN request, and on the second one only."""
    seeds = {}
    for mode in MODES:
        for when, script in (
            ("always", Script(mode, first=0, times=0, amount=5)),
            ("once", Script(mode, first=1, times=1, amount=77)),
        ):
            for name, data in files.items():
                key = mode if mode == "honest" else f"{mode}-{when}"
                seeds[f"{key}/{name}"] = script.encode() + data
    return seeds


def _hub_seeds_bin(folder: Path) -> dict[str, bytes]:
    keep = (
        "torch-save",
        "torch-save-fp16",
        "legacy-pickle",
        "bare-tensor",
        "shared-storage-offset",
        "deflate-data",
        "duplicate-data-entry",
        "local-extra-beyond-file",
        "global-os-system",
        "numel-huge",
    )
    seeds = torch_seeds()
    return _scripted({name: seeds[name] for name in keep})


def _run_hub(folder: Path, data: bytes, filename: str, reader: Callable[[Path], Any]) -> Outcome:
    script, served = split_input(data)
    hub = shared_hub()
    hub.add_commit(HUB_REPO, {filename: served})
    hub.repos[HUB_REPO].commits = {hub.repos[HUB_REPO].refs["main"]: {filename: served}}
    hub.serve(script)
    local = write_input(folder, filename, served)
    home = folder / "hf-home"
    reference = _cached(lambda: reader(local))

    def load() -> tuple[str, torch.Tensor]:
        head = llmgeom.load_unembedding(HUB_REPO, revision="main")
        return head.meta.tensor_name or "", head.weight

    with warnings.catch_warnings(), hub_environment(hub, home):
        warnings.simplefilter("ignore")
        outcome = check(
            load,
            reference,
            same=_same_head,
            allowed_dirs=[home],
            allow_loopback=True,
            time_limit_s=HUB_TIME_LIMIT_S,
            lenient=filename.endswith(".bin"),  # a ranged read of the head only
        )
    return Outcome(outcome.kind, f"{script.mode}: {outcome.detail}".rstrip(": "))


def _safetensors_state(path: Path) -> dict[str, torch.Tensor]:
    with safetensors.safe_open(str(path), framework="pt") as fh:
        return {name: fh.get_tensor(name) for name in fh.keys()}


def run_hub_safetensors(folder: Path, data: bytes) -> Outcome:
    return _run_hub(folder, data, "model.safetensors", _safetensors_state)


def run_hub_bin(folder: Path, data: bytes) -> Outcome:
    return _run_hub(folder, data, "pytorch_model.bin", torch_reference)


def _warmed_up(
    seeds: dict[str, bytes], run: Callable[[Path, bytes], Outcome], folder: Path
) -> dict[str, bytes]:
    """``seeds``, after one run of the first: the modules the readers import lazily are imported
    before the audit hook watches (the first input would otherwise report them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for codec in ("raw_unicode_escape", "unicode_escape", "latin_1", "ascii", "utf_8", "cp437"):
        codecs.lookup(codec)  # the unpicklers' string opcodes decode with these
    with contextlib.suppress(PropertyViolation):  # the first imports' report, not the parser's
        run(folder, next(iter(seeds.values())))
    return seeds


TARGETS = [
    Target("torch-bin", lambda f: _warmed_up(torch_seeds(), run_torch_bin, f), run_torch_bin),
    Target(
        "torch-bin-crc",
        lambda f: _warmed_up(torch_seeds(), run_torch_bin_crc, f),
        run_torch_bin_crc,
    ),
    Target(
        "hub-safetensors",
        lambda f: _warmed_up(_scripted(_safetensors_seeds()), run_hub_safetensors, f),
        run_hub_safetensors,
    ),
    Target("hub-bin", lambda f: _warmed_up(_hub_seeds_bin(f), run_hub_bin, f), run_hub_bin),
]
