"""``memory_budget`` of ``llmgeom tokens`` (issue 19, "Also"): declared once with ``measure``'s,
refused before anything is allocated when the steps cannot fit, the nearest-neighbour pass's
blocks shrunk to what it leaves, with the same table."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch

import llmgeom.text.token_table as token_table_module
from llmgeom.cli import main
from llmgeom.errors import ConfigError, InsufficientMemoryError
from llmgeom.geometry.overlap import block_rows_for
from llmgeom.options import MeasureOptions
from llmgeom.options.tokens import TokensOptions
from llmgeom.text.token_memory import token_working_set
from llmgeom.text.token_table import token_table


def _field(cls, name):
    return next(f for f in fields(cls) if f.name == name)


def test_the_option_is_measure_s_declared_once():
    ours, theirs = _field(TokensOptions, "memory_budget"), _field(MeasureOptions, "memory_budget")
    assert ours.default is theirs.default is None
    assert dict(ours.metadata) == dict(theirs.metadata)  # flag, help, metavar, parser
    assert TokensOptions(memory_budget="2MiB").memory_budget == 2 * 2**20
    with pytest.raises(ConfigError, match="memory_budget must be a positive size"):
        TokensOptions(memory_budget=0)
    with pytest.raises(ConfigError, match="cannot read 'lots' as a size"):
        TokensOptions(memory_budget="lots")


def test_the_working_set_counts_each_part_as_the_steps_allocate_it():
    n, m = 300, 8
    ws = token_working_set(n, m, weighted=True, copy=True)
    assert ws.copy == n * m * np.dtype(np.float32).itemsize  # the normalised float32 copy
    assert ws.grams == 2 * m * m * np.dtype(np.float64).itemsize  # UᵀU and Uᵀ diag(p) U
    assert ws.min_block == n * np.dtype(np.float32).itemsize  # one row of products
    assert token_working_set(n, m, weighted=False, copy=False).copy == 0  # normalised in place
    assert token_working_set(n, m, weighted=False, copy=True).grams == m * m * 8


def test_a_budget_the_steps_cannot_fit_is_refused_before_allocating(monkeypatch):
    def no_allocation(*args, **kwargs):
        raise AssertionError("the rows were normalised before the budget was checked")

    monkeypatch.setattr(token_table_module, "_normalized", no_allocation)
    W = torch.randn(300, 8)
    with pytest.raises(InsufficientMemoryError, match=r"memory_budget=1\.0 kB is too small") as e:
        token_table(W, memory_budget="1kB", progress=False)
    assert e.value.parameters == ("memory_budget",)


def test_the_nearest_pass_s_blocks_shrink_to_the_budget_with_the_same_table(monkeypatch):
    torch.manual_seed(0)
    W = torch.randn(300, 8)
    plain = token_table(W, progress=False)
    ws = token_working_set(300, 8, weighted=False, copy=True)
    budgets = []
    real = token_table_module.nearest_neighbours

    def spy(U, budget_bytes=None, progress=False):
        budgets.append(budget_bytes)
        return real(U, budget_bytes, progress)

    monkeypatch.setattr(token_table_module, "nearest_neighbours", spy)
    tight = token_table(W, memory_budget=ws.minimum, progress=False)
    assert budgets == [ws.minimum - ws.copy - ws.grams - ws.per_row]
    assert 1 <= block_rows_for(300, budgets[0]) < 300  # blocks of a few rows, not all 300
    for column in ("nearest_id", "nearest_abs_cos", "interference"):
        np.testing.assert_array_equal(tight.table[column], plain.table[column])


def test_the_command_line_names_the_flag(tmp_path, capsys):
    head = tmp_path / "head.npy"
    np.save(head, np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32))
    code = main(["tokens", str(head), "--memory-budget", "1kB", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err
    assert "--memory-budget" in err and "too small" in err, err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
