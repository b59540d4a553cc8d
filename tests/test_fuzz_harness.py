"""The fuzzing property's own checks (tests/fuzz_harness.py) catch what they promise to catch."""

from __future__ import annotations

import subprocess
import time

import pytest
from fuzz_harness import (
    Outcome,
    PropertyViolation,
    apply_mutations,
    check,
    mutation_ops,
    random_ops,
)
from hypothesis import given

from llmgeom.errors import CorruptCheckpointError


def test_a_typed_error_and_the_reference_result_pass():
    def bad():
        raise CorruptCheckpointError("truncated")

    assert check(bad, lambda: 1) == Outcome("typed-error", "CorruptCheckpointError")
    assert check(lambda: 2, lambda: 2, same=lambda a, b: a == b) == Outcome("same")


def test_an_untyped_error_a_mismatch_and_a_lenient_result_are_told_apart():
    with pytest.raises(PropertyViolation, match="untyped KeyError"):
        check(lambda: {}["descr"], lambda: 1)
    with pytest.raises(PropertyViolation, match="differs"):
        check(lambda: 2, lambda: 3, same=lambda a, b: a == b)

    def broken_reference():
        raise ValueError("no")

    with pytest.raises(PropertyViolation, match="reference reader failed"):
        check(lambda: 2, broken_reference)
    assert check(lambda: 2, broken_reference, lenient=True).kind == "same"


def test_a_hang_is_cut_by_the_time_limit():
    def spin():
        while True:
            time.sleep(0.01)

    with pytest.raises(PropertyViolation, match="no answer within"):
        check(spin, time_limit_s=0.2)


def test_side_effects_are_recorded(tmp_path):
    with pytest.raises(PropertyViolation, match=r"subprocess\.Popen"):
        check(lambda: subprocess.run(["true"], check=False))
    outside = tmp_path / "outside.txt"
    with pytest.raises(PropertyViolation, match="open for writing"):
        check(lambda: outside.write_text("x"))
    inside = tmp_path / "out"
    inside.mkdir()
    assert check(lambda: (inside / "ok.txt").write_text("x"), allowed_dirs=[inside]).kind == "same"
    with pytest.raises(PropertyViolation, match="exec"):
        check(lambda: exec("x = 1", {}))


def test_memory_growth_beyond_the_bound_is_caught():
    def hog():
        block = bytearray(64 * 2**20)
        block[::4096] = b"\x01" * len(block[::4096])  # touch every page
        return len(block)

    with pytest.raises(PropertyViolation, match="peak memory grew"):
        check(hog, memory_bound=8 * 2**20)


@given(mutation_ops())
def test_mutations_are_plain_data_that_replay(ops):
    data = bytes(range(256)) * 4
    assert apply_mutations(data, ops) == apply_mutations(data, list(ops))


def test_random_ops_use_the_same_operations():
    import random

    ops = random_ops(random.Random(0), max_ops=5)
    assert 1 <= len(ops) <= 5
    assert isinstance(apply_mutations(b"\x00" * 100, ops), bytes)


def test_a_folder_removed_inside_the_allowed_ones_is_no_side_effect(tmp_path):
    import shutil

    inside = tmp_path / "out"
    (inside / "sub").mkdir(parents=True)
    (inside / "sub" / "f.txt").write_text("x")  # rmtree removes it relative to a folder's fd
    assert check(lambda: shutil.rmtree(inside / "sub"), allowed_dirs=[inside]).kind == "same"
    (tmp_path / "other").mkdir()
    with pytest.raises(PropertyViolation, match="rmtree"):
        check(lambda: shutil.rmtree(tmp_path / "other"), allowed_dirs=[inside])
