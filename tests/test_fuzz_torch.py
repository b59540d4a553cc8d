"""Fuzz tests of the torch ``.bin`` readers and the Hub path (issue 19): the property of
``tests/fuzz_harness.py`` on mutated structure-aware seeds (``tests/fuzz_targets_torch.py``), the
campaign's kept crashes replayed, and the crashes found pinned against torch.load / safe_open."""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import pytest
import torch
from fuzz_harness import Outcome, apply_mutations, check, mutation_ops, regressions
from fuzz_hub_server import MODES
from fuzz_targets_torch import TARGETS, run_hub_safetensors, run_torch_bin, same_tensor
from fuzz_torch_files import HEAD, archive, base_state, torch_seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmgeom
from llmgeom.errors import CorruptCheckpointError
from llmgeom.sources.formats.torch_zip import (
    ZipLayoutError,
    index_zip_checkpoint,
    storages_mappable,
)

BY_NAME = {target.name: target for target in TARGETS}
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@functools.cache
def seeds_of(name: str) -> dict[str, bytes]:
    """A target's seeds, built (and its readers warmed up) once per session."""
    return BY_NAME[name].seeds(Path(tempfile.mkdtemp(prefix=f"llmgeom-fuzz-{name}-")))


def _run(name: str, seed: str, ops) -> Outcome:
    with tempfile.TemporaryDirectory() as folder:
        return BY_NAME[name].run(Path(folder), apply_mutations(seeds_of(name)[seed], ops))


def _fuzz(name: str, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(sorted(seeds_of(name))), label="seed")
    _run(name, seed, data.draw(mutation_ops(), label="ops"))


@settings(FUZZ, max_examples=60)
@given(st.data())
def test_torch_bin_holds_the_property(data):
    _fuzz("torch-bin", data)


@settings(FUZZ, max_examples=40)
@given(st.data())
def test_torch_bin_with_right_crcs_holds_the_property(data):
    _fuzz("torch-bin-crc", data)


@settings(FUZZ, max_examples=12)
@given(st.data())
def test_hub_safetensors_holds_the_property(data):
    _fuzz("hub-safetensors", data)


@settings(FUZZ, max_examples=12)
@given(st.data())
def test_hub_bin_holds_the_property(data):
    _fuzz("hub-bin", data)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_kept_crashes_replay(name):
    for seed, ops in regressions(name):
        _run(name, seed, ops)  # raises PropertyViolation if one broke again


def test_every_torch_seed_unmutated(tmp_path):
    """Each structural variant as it is: torch.load's tensor or a typed error, and the ones that
    broke llmgeom before give what torch.load gives."""
    outcomes = {}
    for k, (name, data) in enumerate(seeds_of("torch-bin").items()):  # readers warmed up
        folder = tmp_path / str(k)
        folder.mkdir()
        outcomes[name] = run_torch_bin(folder, data)
    same = {n for n, o in outcomes.items() if o.kind == "same"}
    # deflated entries were read by the memory map as if stored: compressed bytes as weights
    assert {"torch-save", "legacy-pickle", "deflate-data", "deflate-all"} <= same
    for name in ("global-os-system", "global-subprocess", "stack-global-os-system"):
        assert outcomes[name].detail.startswith("CorruptCheckpointError; plan: both-failed Corrupt")
    # torch.load's TypeError on these was a traceback; a short entry's next bytes were weights
    for name in ("shape-2^63", "shape-not-tuple", "global-rebuild-other", "truncated-data-entry"):
        assert outcomes[name].kind == "both-failed", (name, outcomes[name])


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(torch_seeds()[name])
    return path


def test_a_deflated_storage_reads_as_torch_load_reads_it(tmp_path):
    path = _write(tmp_path, "deflate-data")
    head = llmgeom.load_unembedding(path)
    assert same_tensor(head.weight, base_state()[HEAD])
    assert same_tensor(head.weight, torch.load(path, weights_only=True)[HEAD])


def test_a_storage_shorter_than_its_tensor_is_refused(tmp_path):
    path = _write(tmp_path, "truncated-data-entry")
    with pytest.raises(CorruptCheckpointError, match="record size"):
        llmgeom.load_unembedding(path)
    with pytest.raises(ZipLayoutError, match="has 124 bytes, not 128"):
        index_zip_checkpoint(io.BytesIO(path.read_bytes())).plan(HEAD)


def test_a_plan_past_the_end_of_the_file_is_refused(tmp_path):
    data = torch_seeds()["local-extra-beyond-file"]
    with pytest.raises(ZipLayoutError, match="past the file's"):
        index_zip_checkpoint(io.BytesIO(data)).plan(HEAD)


def test_a_huge_memo_index_neither_hangs_nor_allocates():
    """``LONG_BINPUT 779,249,005`` (found by torch-bin-crc): the C unpickler grew its memo array
    to that index, 12 GB and a minute; the planner answers at once."""
    data = archive(b"\x80\x02}rmer.")
    outcome = check(
        lambda: index_zip_checkpoint(io.BytesIO(data)), time_limit_s=5, memory_bound=64 * 2**20
    )
    assert outcome == Outcome("typed-error", "ZipLayoutError")


@pytest.mark.parametrize(
    ("seed", "mappable"),
    [
        ("torch-save", True),
        ("global-torch-size", True),  # a global the planner does not read: still listed
        ("transposed-head", True),
        ("bare-tensor", True),
        ("deflate-data", False),
        ("truncated-data-entry", False),
        ("duplicate-data-entry", False),
        ("numel-huge", False),
        ("local-extra-beyond-file", False),
        ("global-os-system", False),  # torch.load refuses it, unmapped
    ],
)
def test_only_plain_storages_are_memory_mapped(seed, mappable):
    assert storages_mappable(io.BytesIO(torch_seeds()[seed])) is mappable


def test_each_misbehaviour_of_the_fake_hub_is_noticed():
    """The unmutated file under each misbehaviour from the first request on: the honest server
    and a Content-Length longer than the body sent (the client stops at the range's end) give the
    head; every other is a NetworkError, never a wrong tensor."""
    seeds = seeds_of("hub-safetensors")
    got = {}
    for mode in MODES:
        key = "honest/f32" if mode == "honest" else f"{mode}-always/f32"
        with tempfile.TemporaryDirectory() as folder:
            got[mode] = run_hub_safetensors(Path(folder), seeds[key])
    assert got.pop("honest") == Outcome("same", "honest")
    assert got.pop("length-too-long") == Outcome("same", "length-too-long")
    assert got == {mode: Outcome("typed-error", f"{mode}: NetworkError") for mode in got}


def test_a_head_repeating_its_bytes_is_refused_before_it_is_copied(tmp_path):
    """Found by torch-bin (stride-zero, one byte set): a shape of 671,088,648 x 4 over a 4-element
    storage with stride 0; copying it took 10.7 GB and minutes."""
    path = tmp_path / "pytorch_model.bin"
    torch.save({HEAD: torch.ones(4).expand(2**20, 4)}, path)
    outcome = check(lambda: llmgeom.load_unembedding(path), memory_bound=64 * 2**20)
    assert outcome == Outcome("typed-error", "CorruptCheckpointError")
