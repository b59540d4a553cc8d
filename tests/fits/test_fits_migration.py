"""Fit results of the former version (``/1``, tests/golden/v0_1) load in today's format
(``/2``): the renamed keys hold the numbers the old keys held (the json module as the oracle),
every other key is unchanged, and the typed results read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmgeom.fits import ChinchillaFit, OverlapFit, WidthLossFit, load_fit
from llmgeom.fits.migration import migrate_fit
from llmgeom.records.schema import check_schema

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v0_1"


def test_the_overlap_points_ratio_is_m_times_mean_cos2():
    path = GOLDEN / "fit-overlap" / "overlap_fit.json"
    old = json.loads(path.read_text())
    new = load_fit(path)
    assert (old["schema"], new["schema"]) == ("llmgeom.fit.overlap/1", "llmgeom.fit.overlap/2")
    assert len(new["points"]) == len(old["points"]) > 0
    for was, now in zip(old["points"], new["points"], strict=True):
        assert now["m_times_mean_cos2"] == was["ratio_to_random"]
        assert now["m_times_mean_cos2"] == pytest.approx(was["m"] * was["mean_cos2"], rel=1e-12)
        assert "ratio_to_random" not in now
        assert {k: v for k, v in now.items() if k != "m_times_mean_cos2"} == {
            k: v for k, v in was.items() if k != "ratio_to_random"
        }
    assert {k: v for k, v in new.items() if k not in ("schema", "points")} == {
        k: v for k, v in old.items() if k not in ("schema", "points")
    }
    r = OverlapFit.load(path)
    assert r.to_dict() == new and r.slope == old["slope"]
    assert r.law.m_times_mean_cos2_ == {p["model"]: p["ratio_to_random"] for p in old["points"]}


def test_the_chinchilla_alpha_n_keeps_its_value():
    path = GOLDEN / "fit-chinchilla" / "chinchilla_fit.json"
    old = json.loads(path.read_text())
    new = load_fit(path)
    assert new["schema"] == "llmgeom.fit.chinchilla/2"
    assert (new["alpha_n"], new["alpha_n_se"]) == (old["alpha_N"], old["alpha_N_se"])
    assert "alpha_N" not in new and "alpha_N_se" not in new
    assert new["law"] == old["law"].replace("alpha_N", "alpha_n")
    same = set(old) - {"schema", "alpha_N", "alpha_N_se", "law"}
    assert {k: new[k] for k in same} == {k: old[k] for k in same}
    r = ChinchillaFit.load(path)
    assert (r.alpha_n, r.alpha_n_se, r.k) == (old["alpha_N"], old["alpha_N_se"], old["k"])
    assert ChinchillaFit.from_dict(old) == r  # from_dict migrates too


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("fit-*/*.json")), ids=lambda p: p.name)
def test_every_migrated_fit_is_valid_against_todays_schema(path):
    new = migrate_fit(json.loads(path.read_text()))
    assert check_schema(new, new["schema"], str(path), "fit") is new
    assert new["schema"].endswith("/2")


def test_todays_results_and_other_documents_pass_unchanged():
    doc = {"schema": "llmgeom.fit.overlap/2", "points": [{"ratio_to_random": 1.0}]}
    assert migrate_fit(doc) == doc and migrate_fit(doc) is not doc
    assert migrate_fit({"schema": "other/1", "alpha_N": 1}) == {"schema": "other/1", "alpha_N": 1}


@pytest.mark.parametrize("name", ["width_loss_fit_ls.json", "width_loss_fit_huber.json"])
def test_a_width_loss_result_says_it_was_made_by_the_strict_rule(name):
    path = GOLDEN / "fit-loss" / name
    old = json.loads(path.read_text())
    new = load_fit(path)
    assert (old["schema"], new["schema"]) == (
        "llmgeom.fit.width_loss/1",
        "llmgeom.fit.width_loss/2",
    )
    assert new["se_rule"] == "strict" and "se_rule" not in old  # the only rule of /1
    assert new["column"] == "loss" and "column" not in old  # the only column of /1
    assert {k: v for k, v in new.items() if k not in ("schema", "se_rule", "column")} == {
        k: v for k, v in old.items() if k != "schema"
    }
    r = WidthLossFit.load(path)
    assert (r.se_rule, r.alpha_se_authors, r.alpha) == (
        "strict",
        old["alpha_se_authors"],
        old["alpha"],
    )
    assert r.law.se_rule == "strict"


def test_a_folder_of_former_measurements_is_read_as_the_files_named_one_by_one(tmp_path):
    """``fit overlap FOLDER`` skipped ``/1`` measurement records as "other kinds" of JSON while
    the same files named directly were migrated and fitted."""
    from llmgeom.fits.overlap_inputs import read_overlap_inputs

    files = sorted((GOLDEN / "zoo").glob("*.json"))
    for f in files:
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "status.json").write_text('{"schema": "llmgeom.sweep-status/1"}')
    assert {json.loads(f.read_text())["schema"] for f in files} == {"llmgeom.measurement/1"}
    by_file = read_overlap_inputs(files)
    by_folder = read_overlap_inputs([tmp_path])
    assert by_folder.mean_cos2.tolist() == by_file.mean_cos2.tolist()
    assert by_folder.mean_cos2.tolist() == [
        json.loads(f.read_text())["stats"]["mean_cos2"] for f in files
    ]
    assert any("status.json" in note for note in by_folder.notes)
