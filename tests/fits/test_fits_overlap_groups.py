"""Overlap-law inputs: a folder's JSON files of other kinds are skipped and counted, and a model
of unknown family is a group of its own (never pooled with other unknown models)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from records import write_measured_record

from llmgeom.cli import main
from llmgeom.errors import FitError
from llmgeom.fits import OverlapLaw, read_overlap_inputs

# family "a": three widths on a line of slope 0.7; two models of unknown family far off it
KNOWN = {"a1": (256, 0.05), "a2": (512, 0.031), "a3": (1024, 0.017)}
UNKNOWN = {"x": (300, 0.2), "y": (2000, 0.0009)}


def _table(tmp_path):
    lines = ["model,family,m,mean_cos2"]
    lines += [f"{n},a,{m},{v}" for n, (m, v) in KNOWN.items()]
    lines += [f"{n},,{m},{v}" for n, (m, v) in UNKNOWN.items()]
    path = tmp_path / "overlaps.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_model_of_unknown_family_is_its_own_group(tmp_path):
    table = read_overlap_inputs([_table(tmp_path)])
    assert table.family == ["a", "a", "a", "unknown:x", "unknown:y"]
    assert any("2 model(s) of unknown family (x, y)" in note for note in table.notes)
    law = OverlapLaw(n_bootstrap=0).fit(table.head_width, table.mean_cos2, family=table.family)
    # a group of one adds nothing to the slope: it is family a's own least-squares slope
    m, y = np.array([v[0] for v in KNOWN.values()]), np.array([v[1] for v in KNOWN.values()])
    slope_a = -np.polyfit(np.log(m), np.log(y), 1)[0]
    assert law.slope_ == pytest.approx(slope_a, rel=1e-12)
    pooled = OverlapLaw(n_bootstrap=0).fit(
        table.head_width, table.mean_cos2, family=["a"] * 3 + ["other"] * 2
    )
    assert abs(pooled.slope_ - slope_a) > 0.1  # pooling the two unknowns would move it


def test_a_folder_skips_and_counts_json_of_other_kinds(tmp_path, capsys):
    folder = tmp_path / "res"
    folder.mkdir()
    for name, (m, v) in KNOWN.items():
        write_measured_record(folder / f"{name}.raw.json", name, "a", m, m, v)
    (folder / "sweep-status.json").write_text(json.dumps({"schema": "x", "units": []}))
    (folder / "m.c.loss.json").write_text(json.dumps({"schema": "llmgeom.loss/1"}))
    table = read_overlap_inputs([folder])
    assert table.model == ["a1", "a2", "a3"]
    assert table.notes == [
        f"{folder}: skipped 2 JSON file(s) that are not measurements "
        "(m.c.loss.json, sweep-status.json)"
    ]
    out = tmp_path / "fits"
    assert main(["fit", "overlap", str(folder), "--bootstrap", "0", "--out", str(out)]) == 0
    assert "note: " in capsys.readouterr().out
    # a file named on the command line is still checked, and an empty folder still refused
    with pytest.raises(FitError, match="not an llmgeom measurement"):
        read_overlap_inputs([folder / "sweep-status.json"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "sweep-status.json").write_text("{}")
    with pytest.raises(FitError, match=r"no measurement files \(1 JSON file\(s\) of other"):
        read_overlap_inputs([other])
