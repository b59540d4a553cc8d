"""The typed-result base and :func:`llmgeom.records.to_pandas`: one row per result, the
columns read back against the JSON files themselves (the json module as the oracle)."""

from __future__ import annotations

import json
import sys

import pytest

from llmgeom.errors import ConfigError
from llmgeom.fits import (
    ChinchillaFit,
    fit_chinchilla,
    fit_loss,
    paper_implied_losses,
    write_loss_table,
)
from llmgeom.records import Estimate, to_pandas


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    fit_chinchilla().save(root)
    table = write_loss_table(root / "inputs" / "losses.csv", paper_implied_losses())
    fit_loss(table, n_bootstrap=0).save(root / "fits")
    (root / "notes.json").write_text('{"what": "not a result"}')
    (root / "broken.json").write_text("{")
    return root


def test_one_row_per_result_with_the_values_in_the_files(folder):
    table = to_pandas(folder)
    assert sorted(table["schema"]) == ["llmgeom.fit.chinchilla/1", "llmgeom.fit.width_loss/1"]
    for row in table.to_dict("records"):
        written = json.loads(open(row["path"]).read())
        assert row["schema"] == written["schema"]
        if written["schema"] == "llmgeom.fit.chinchilla/1":
            assert (row["k"], row["alpha_m"], row["n_models"]) == (
                written["k"], written["alpha_m"], written["n_models"],
            )  # fmt: skip
        else:
            assert (row["alpha"], row["C"], row["n_points"]) == (
                written["alpha"], written["C"], written["n_points"],
            )  # fmt: skip


def test_named_files_must_be_results(folder):
    table = to_pandas([folder / "chinchilla_fit.json"])
    assert len(table) == 1 and table["k"][0] == ChinchillaFit.load(folder / "chinchilla_fit.json").k
    with pytest.raises(ConfigError, match=r"notes\.json: not an llmgeom result"):
        to_pandas([folder / "notes.json"])


def test_without_pandas_the_error_names_the_extra(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install llmgeom\[pandas\]"):
        to_pandas(folder)


def test_a_typed_result_is_frozen_and_round_trips(folder):
    r = ChinchillaFit.load(folder / "chinchilla_fit.json")
    with pytest.raises(AttributeError):
        r.k = 1.0  # type: ignore[misc]
    assert ChinchillaFit.from_dict(r.to_dict()) == r
    assert r.to_dict() == json.loads((folder / "chinchilla_fit.json").read_text())
    assert len(repr(r)) < 120 and "<table>" in r._repr_html_()


def test_estimate_text():
    assert Estimate(0.25).text() == "0.25 (exact)"
    e = Estimate(0.25, se=0.01, ci95=(0.2304, 0.2696), method="sample")
    assert e.text(3) == "0.25 ± 0.01, 95% CI [0.23, 0.27], sample" and float(e) == 0.25
