""":class:`MeasureResult`: the typed face of a measurement record. The attributes are checked
against the JSON files themselves and against plain numpy computations; loading a record and
writing it back gives the same JSON exactly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.errors import ConfigError
from llmgeom.geometry.result import MeasureResult
from llmgeom.records import Estimate, to_pandas
from llmgeom.records.measurement import migrate_record

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v0_1"
MEASUREMENTS = sorted(
    p for p in GOLDEN.rglob("*.json") if json.loads(p.read_text())["schema"].startswith("llmgeom.m")
)


@pytest.mark.parametrize("path", MEASUREMENTS, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_a_record_loads_and_writes_back_exactly(path):
    written = json.loads(path.read_text())  # llmgeom.measurement/1: migrated on loading
    r = MeasureResult.load(path)
    assert r.to_dict() == migrate_record(written) and MeasureResult.from_dict(written) == r
    assert MeasureResult.from_dict(r.to_dict()).to_dict() == r.to_dict()
    stats = written["stats"]
    assert (r.mean_cos2, r.m, r.n_rows_used) == (
        stats["mean_cos2"],
        stats["m"],
        stats["n_rows_used"],
    )
    assert r.m_times_mean_cos2 == stats["m_times_mean_cos2"]
    assert (r.participation_ratio, r.top_eigen_fraction) == (  # /1 named it effective_dim
        stats["effective_dim"], stats["top_eigen_fraction"],
    )  # fmt: skip
    assert r.pairs == written["variant"]["pairs"] and r.variant == written["variant"]["name"]
    assert r.reference.frame_bound_mean_cos2 == written["reference"]["frame_bound_mean_cos2"]
    assert r.row_norms.quantiles["0.5"] == written["row_norms"]["quantiles"]["0.5"]
    if r.pairs == "exact":
        assert r.mean_abs_cos == Estimate(stats["mean_abs_cos"])
        assert r.max_abs_cos == stats["max_abs_cos"]
        assert r.diagnostics["mean_cos2_blocked"] == stats["mean_cos2_blocked"]
        assert r.diagnostics["n_pairs"] == stats["pairs"]
    else:
        assert r.mean_abs_cos is None and r.max_abs_cos is None
    if "weighted" in written:
        assert r.weighted is not None
        assert r.weighted.weighted_mean_cos2 == written["weighted"]["weighted_mean_cos2"]
        assert (
            r.weighted.weighted_mean_abs_cos.value == written["weighted"]["weighted_mean_abs_cos"]
        )
    else:
        assert r.weighted is None


def test_exact_statistics_equal_a_numpy_computation():
    W = np.random.default_rng(0).standard_normal((60, 5))
    r = llmgeom.measure(W, pairs="exact", progress=False)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = (U @ U.T)[np.triu_indices(60, 1)]
    assert r.mean_cos2 == pytest.approx(np.mean(C**2), rel=1e-6)
    assert r.mean_abs_cos.value == pytest.approx(np.mean(np.abs(C)), rel=1e-5)
    assert r.std_abs_cos.value == pytest.approx(np.std(np.abs(C)), rel=1e-4)
    assert r.max_abs_cos == pytest.approx(np.max(np.abs(C)), rel=1e-6)
    assert r.mean_abs_cos.method == "exact" and r.mean_abs_cos.se is None
    assert r.reference.random_mean_cos2 == 1 / 5 and r.m_times_mean_cos2 == 5 * r.mean_cos2
    assert set(r.arrays) >= {"max_abs_cos_per_row", "partner_per_row"}
    assert "arrays" not in json.dumps(r.to_dict())


def test_a_sampled_estimate_carries_its_interval():
    W = torch.randn(3000, 8, generator=torch.Generator().manual_seed(0))
    r = llmgeom.measure(W, pairs="sample", sample_rows=40, progress=False)
    sampled = r.to_dict()["stats"]["sampled"]
    for key in ("mean_abs_cos", "std_abs_cos", "mean_max_abs_cos"):
        e = getattr(r, key)
        assert e.method == "sample" and e.value == sampled[key]
        assert e.se == sampled["standard_error"][key]
        assert list(e.ci95) == sampled["interval"][key]
    assert r.max_abs_cos is None and r.diagnostics["sampled"]["rows_sampled"] == 40


def test_frozen_read_only_and_short():
    r = llmgeom.measure(torch.randn(50, 4), pairs="exact", progress=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.mean_cos2 = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.diagnostics["block_rows"] = 1  # type: ignore[index]
    assert len(repr(r)) < 150 and repr(r).startswith("MeasureResult(name=")
    html = r._repr_html_()
    assert "<caption>MeasureResult</caption>" in html and "mean_cos2" in html


def test_another_kind_of_file_is_refused(tmp_path):
    fit = next(GOLDEN.glob("fit-chinchilla/*.json"))
    with pytest.raises(ConfigError, match="not an llmgeom measurement"):
        MeasureResult.load(fit)


def test_a_folder_of_measurements_as_a_table():
    table = to_pandas(GOLDEN / "zoo")
    assert len(table) == 6
    for row in table.to_dict("records"):
        stats = json.loads(Path(row["path"]).read_text())["stats"]
        assert (row["mean_cos2"], row["m"], row["pairs"]) == (
            stats["mean_cos2"],
            stats["m"],
            "gram",
        )
    weighted = to_pandas(GOLDEN / "measure-weighted")
    record = json.loads(next((GOLDEN / "measure-weighted").glob("*.json")).read_text())
    assert weighted["weighted_mean_cos2"][0] == record["weighted"]["weighted_mean_cos2"]
