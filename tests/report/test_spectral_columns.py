"""The spectral numbers of a measurement in ``summary.csv`` and :func:`llmgeom.to_pandas`: the
record's own numbers, read back from the JSON files with ``json`` and the CSV with ``csv``; blank
for a record of the previous version (``/1``, written before the spectrum), whose participation
ratio (``/1``: ``stats.effective_dim``) is still there."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

import llmgeom
from llmgeom.records.measurement import write_record
from llmgeom.report.gather import gather
from llmgeom.report.summary import summary_rows, write_summary

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v0_1"
#: The spectral columns and where each is in a version 2 record.
SPECTRAL = {
    "participation_ratio": ("stats", "participation_ratio"),
    "entropy_effective_rank": ("spectrum", "entropy_effective_rank"),
    "stable_rank_raw": ("spectrum", "stable_rank_raw"),
    "n_above_marchenko_pastur_edge": ("spectrum", "n_above_marchenko_pastur_edge"),
    "packing_efficiency": ("spectrum", "packing_efficiency"),
    "interference_top_1": ("spectrum", "interference_top_k", "1"),
}


def _at(record: dict, where: tuple[str, ...]):
    for key in where:
        record = record[key]
    return record


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A new record (a head with one shared direction: an eigenvalue above the edge) and a
    ``/1`` record of the previous version."""
    root = tmp_path_factory.mktemp("spectral")
    g = torch.Generator().manual_seed(3)
    W = torch.randn(300, 12, generator=g, dtype=torch.float64)
    W[:, 0] += 3.0
    write_record(llmgeom.measure(W, name="new", pairs="gram", progress=False).to_dict(), root)
    shutil.copy(GOLDEN / "zoo" / "gpt2-w8.raw.json", root / "old.json")
    return root


def _records(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}


def test_summary_csv_holds_the_records_spectral_numbers(folder, tmp_path):
    path = write_summary(tmp_path / "summary.csv", summary_rows(gather(folder)))
    with path.open(newline="") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh)}
    records = _records(folder)
    assert set(rows) == set(records)
    old = records.pop("old.json")
    ((name, record),) = records.items()
    assert record["spectrum"]["n_above_marchenko_pastur_edge"] >= 1  # not a column of zeros
    for column, where in SPECTRAL.items():
        assert float(rows[name][column]) == _at(record, where), column
    assert float(rows["old.json"]["participation_ratio"]) == old["stats"]["effective_dim"]
    assert all(rows["old.json"][column] == "" for column in list(SPECTRAL)[1:])


def test_to_pandas_has_the_same_columns_and_numbers(folder):
    table = llmgeom.to_pandas(folder)
    records = _records(folder)
    for row in table.to_dict("records"):
        record = records[Path(row["path"]).name]
        if record["schema"].endswith("/1"):
            assert row["participation_ratio"] == record["stats"]["effective_dim"]
            assert all(math.isnan(row[column]) for column in list(SPECTRAL)[1:])
        else:
            assert {c: row[c] for c in SPECTRAL} == {c: _at(record, w) for c, w in SPECTRAL.items()}
    only_old = llmgeom.to_pandas([folder / "old.json"])
    assert set(SPECTRAL) <= set(only_old.columns)  # the columns, empty, even without a spectrum
