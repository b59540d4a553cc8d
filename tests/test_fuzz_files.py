"""Fuzz tests of the weight-file parsers other than torch ``.bin`` (issue 19): ``.npy`` heads,
counts ``.npz``, safetensors (local reader and the Hub's header parser) and GGUF.

Each example is a structured input (a valid base with edits of its structure:
``fuzz_files_structures``) with byte mutations on top, run through the targets of
``fuzz_targets_files`` (llmgeom's result equals the reference reader's, bit for bit, or llmgeom
raises a typed error; never another exception, a hang, memory growth or a side effect). Every
input that once broke a parser is replayed from ``tests/fuzz_regressions/<target>.json``.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_harness import apply_mutations, mutation_ops, regressions
from fuzz_targets_files import GGUF_TIME_LIMIT_S, STRUCTURES, TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgeom.errors import ConfigError, CorruptCheckpointError

# what broken inputs make numpy and zipfile say on the way (not errors): overflowing shapes,
# Python 2 headers, a duplicated zip member
pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

_BY_NAME = {t.name: t for t in TARGETS}
_SEEDS: dict[str, dict[str, bytes]] = {}


def _seeds(target: str) -> dict[str, bytes]:
    """The target's seeds, built once per module (in a folder of their own)."""
    if target not in _SEEDS:
        folder = Path(tempfile.mkdtemp(prefix=f"llmgeom-fuzz-seeds-{target}-"))
        _SEEDS[target] = _BY_NAME[target].seeds(folder)
    return _SEEDS[target]


def _input(target: str, seed: str, ops) -> bytes:
    """A seed (a campaign's, or any structured name) with byte operations applied."""
    seeds = _seeds(target)
    data = seeds[seed] if seed in seeds else STRUCTURES[target].build(seed)
    return apply_mutations(data, ops)


def _run(target: str, data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        return _BY_NAME[target].run(Path(folder), data)


_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_OPS = st.one_of(st.just([]), mutation_ops())


@pytest.mark.parametrize("target", sorted(_BY_NAME))
@_SETTINGS
@given(data=st.data())
def test_mutated_files_give_the_reference_result_or_a_typed_error(target, data):
    seed = data.draw(STRUCTURES[target].strategy(), label="structured input")
    ops = data.draw(_OPS, label="byte operations")
    _run(target, _input(target, seed, ops))


@pytest.mark.parametrize("target", sorted(_BY_NAME))
def test_inputs_that_once_broke_a_parser_replay(target):
    kept = regressions(target)
    assert kept, f"no regression inputs kept for {target}"
    for seed, ops in kept:
        _run(target, _input(target, seed, ops))


def test_every_base_is_a_valid_file_its_reference_reader_reads():
    """The structured builders write what the formats' own writers write: each base reads back
    with the reference reader, and llmgeom gives the same tensor (not a typed error)."""
    # 1-D, complex, float128 (no torch dtype), F64 (gguf cannot dequantise)
    refused = {"f32-1d", "c64", "f128", "align64-f64"}
    for target, structure in STRUCTURES.items():
        for base in structure.bases:
            outcome = _run(target, structure.build(base))
            wanted = ("typed-error", "both-failed") if base in refused else ("same",)
            assert outcome.kind in wanted, (target, base, outcome)


def test_npy_edits_build_what_numpy_writes_and_reads():
    array = np.arange(24, dtype=np.float32).reshape(6, 4)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=(1, 0))
    assert STRUCTURES["npy"].build("f32 ; descr='<f4'")[:10] == buffer.getvalue()[:10]
    edited = STRUCTURES["npy"].build("f32 ; shape=(4, 6)")
    assert np.load(io.BytesIO(edited)).shape == (4, 6)


def test_a_npy_header_with_braces_is_named_not_formatted(tmp_path):
    """The issue's ``KeyError: 'descr'``: numpy's message quotes the header, braces included."""
    from llmgeom import load_unembedding

    path = tmp_path / "head.npy"
    path.write_bytes(STRUCTURES["npy"].build("f32 ; hlen=119"))
    with pytest.raises(CorruptCheckpointError, match=r"corrupt \.npy header"):
        load_unembedding(path)


def test_a_big_endian_npy_head_is_read_in_the_machine_byte_order(tmp_path):
    from llmgeom import load_unembedding

    array = np.arange(12, dtype=">f4").reshape(3, 4) + 1
    np.save(tmp_path / "head.npy", array)
    weight = load_unembedding(tmp_path / "head.npy").weight
    assert weight.dtype.is_floating_point and weight.numpy().tolist() == array.tolist()


def test_counts_announcing_1e15_entries_are_refused_before_allocating(tmp_path):
    from llmgeom.geometry.weights import load_counts

    path = tmp_path / "counts.npz"
    path.write_bytes(STRUCTURES["counts-npz"].build("i64 ; npy:shape=(1000000000000000,)"))
    with pytest.raises(ConfigError, match="announces 8000000000000000 bytes"):
        load_counts(path)


def test_a_safetensors_header_of_1e15_elements_allocates_nothing():
    from llmgeom.sources.formats.safetensors_format import parse_header

    header = b'{"w": {"dtype": "F32", "shape": [1000000000000000], "data_offsets": [0, 4]}}'
    with pytest.raises(CorruptCheckpointError, match="expected 4000000000000000"):
        parse_header(header)


def test_a_gguf_array_of_2_63_scalars_is_refused_quickly(tmp_path):
    import time

    from llmgeom import load_unembedding

    path = tmp_path / "model.gguf"
    path.write_bytes(STRUCTURES["gguf"].build("untied ; kv0.type=9"))
    start = time.perf_counter()
    with pytest.raises(CorruptCheckpointError, match="runs past the end of the file"):
        load_unembedding(path)
    assert time.perf_counter() - start < GGUF_TIME_LIMIT_S


@pytest.mark.parametrize(
    ("header", "kind"),
    [  # repeated keys, as safe_open reads them: the last tensor name counts, each must parse
        ('{"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "w": '
         '{"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}', "same"),
        ('{"w": {"dtype": "U8", "shape": [2]}, "w": '
         '{"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}', "both-failed"),
        ('{"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2], "dtype": "I8"}}',
         "both-failed"),
        ('{"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "__metadata__": {}, '
         '"__metadata__": {}}', "both-failed"),
    ],
)  # fmt: skip
def test_repeated_safetensors_keys_are_read_as_safe_open_reads_them(header, kind):
    import struct

    from llmgeom.errors import LlmgeomError

    raw = header.encode()
    data = struct.pack("<Q", len(raw)) + raw + b"\x01\x02"
    with tempfile.TemporaryDirectory() as folder:
        outcome = _BY_NAME["safetensors"].run(Path(folder), data)
    inner = outcome.detail.split(" / inner ")[1].split()[0]  # the Hub's header parser
    assert inner == kind  # (the public entry refuses the 1-D tensor as a head: a typed error)
    if kind == "same":
        return
    from llmgeom.sources.formats.safetensors_format import parse_header

    with pytest.raises(LlmgeomError):
        parse_header(raw)
