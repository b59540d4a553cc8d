"""The toy model's typed result: headline values, exact round trips, the previous version's file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmgeom.toy import ToyConfig, ToyResult, ToyRun, run_experiment, run_toy

GOLDEN_TOY = Path(__file__).resolve().parents[1] / "golden" / "v0_1" / "toy" / "toy-golden.json"


@pytest.fixture(scope="module")
def result() -> ToyResult:
    cfg = ToyConfig(
        n=40, m=(3, 5, 8, 13), steps=40, batch=64, warmup=4, eval_samples=512, name="typed",
        runs=(ToyRun(gamma=-1.0, alpha=1.0), ToyRun(gamma=0.5, alpha=1.5, seeds=(0, 1))),
    )  # fmt: skip
    return run_toy(cfg)


def test_headline_values_are_the_documents(result):
    doc = result.to_dict()
    assert [r.gamma for r in result.runs] == [r["gamma"] for r in doc["runs"]] == [-1.0, 0.5, 0.5]
    assert [r.seed for r in result.runs] == [0, 0, 1]
    for run, raw in zip(result.runs, doc["runs"], strict=True):
        assert run.regime == raw["regime"]
        assert [w.m for w in run.widths] == [3, 5, 8, 13]
        assert [w.loss for w in run.widths] == [r["loss"] for r in raw["per_m"]]
        assert [w.phi for w in run.widths] == [r["phi"] for r in raw["per_m"]]


def test_alpha_m_is_the_least_squares_slope_of_log_loss_on_log_width(result):
    for run in result.runs:
        m = np.log([w.m for w in run.widths])
        loss = np.log([w.loss for w in run.widths])
        slope = np.polyfit(m, loss, 1)[0]  # numpy's own fit: loss = A m^-alpha_m
        assert run.alpha_m == pytest.approx(-slope, rel=1e-9, abs=1e-12)


def test_round_trips_exactly(result, tmp_path):
    again = ToyResult.from_dict(result.to_dict())
    assert again == result and again.to_dict() == result.to_dict()
    paths = result.save(tmp_path, plots=False)
    assert [p.name for p in paths] == ["toy-typed.json"]
    assert json.loads(paths[0].read_text()) == result.to_dict()
    loaded = ToyResult.load(paths[0])
    assert loaded == result and loaded.config == result.config
    assert loaded.runs == result.runs


def test_save_writes_what_run_experiment_writes(result, tmp_path):
    written = result.save(tmp_path / "a")
    _, paths = run_experiment(result.config, tmp_path / "b", progress=False)
    assert [p.name for p in written] == [p.name for p in paths] == [
        "toy-typed.json", "toy-typed_loss.png", "toy-typed_phi.png",
    ]  # fmt: skip
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written[1:])


def test_the_previous_versions_file_loads_and_round_trips():
    doc = json.loads(GOLDEN_TOY.read_text())
    loaded = ToyResult.load(GOLDEN_TOY)
    assert loaded.to_dict() == doc
    assert loaded.config.n == doc["config"]["n"] and loaded.config.m == tuple(doc["config"]["m"])
    assert [w.m for w in loaded.runs[0].widths] == [r["m"] for r in doc["runs"][0]["per_m"]]


def test_short_repr_and_html(result):
    text = repr(result)
    assert text.startswith("ToyResult(name='typed', n=40") and len(text) < 200
    assert "<table>" in result._repr_html_() and "γ=0.5" in result._repr_html_()


def test_summary_is_what_the_cli_prints(result):
    from llmgeom.toy.report import format_summary

    assert result.summary() == format_summary(result.to_dict())


def test_seed_groups_are_mean_and_spread_over_seeds(result):
    doc = result.to_dict()
    assert [g.seeds for g in result.seed_groups] == [(0,), (0, 1)]
    assert doc["seed_summary"][1]["seeds"] == [0, 1]
    for group in result.seed_groups:
        members = [
            r for r in result.runs if (r.gamma, r.alpha) == (group.gamma, group.alpha)
        ]  # independent: numpy over the typed runs' own fits
        fits = np.array([r.alpha_m for r in members])
        assert group.alpha_m_mean == pytest.approx(float(np.mean(fits)), rel=1e-12)
        assert group.alpha_m_fit_se == pytest.approx(
            float(np.mean([r.alpha_m_se for r in members])), rel=1e-12
        )
        if len(members) > 1:
            assert group.alpha_m_spread == pytest.approx(float(np.std(fits, ddof=1)), rel=1e-12)
        else:
            assert group.alpha_m_spread is None
    assert "α_m over seeds" in result.summary()


def test_row_norms_are_the_trained_rows_norms():
    from llmgeom.toy.report import summarize
    from llmgeom.toy.training import train

    cfg = ToyConfig(n=40, m=(3, 5, 8), steps=20, batch=64, warmup=2, eval_samples=256,
                    runs=(ToyRun(gamma=-1.0),))  # fmt: skip
    trained = train(cfg, progress=False)
    doc = summarize(trained)
    for row in doc["runs"][0]["per_m"]:
        W = trained.model(0, row["m"]).W.double().numpy()
        assert len(row["row_norms"]) == cfg.n
        norms = np.sqrt((W**2).sum(1))
        np.testing.assert_allclose(row["row_norms"], norms, rtol=0, atol=5e-4)  # 3 decimals
        assert row["phi"] == pytest.approx(np.mean(norms > 0.5))  # φ: the rows of norm > 1/2
    typed = ToyResult.from_dict(doc)
    assert typed.runs[0].widths[0].row_norms == tuple(doc["runs"][0]["per_m"][0]["row_norms"])


def test_a_file_without_seed_summary_or_row_norms_loads_and_round_trips():
    doc = json.loads(GOLDEN_TOY.read_text())
    assert "seed_summary" not in doc and "row_norms" not in doc["runs"][0]["per_m"][0]
    loaded = ToyResult.load(GOLDEN_TOY)
    assert loaded.to_dict() == doc  # nothing added on the way
    assert [g.alpha_m_mean for g in loaded.seed_groups] == [r.alpha_m for r in loaded.runs]
    assert all(g.alpha_m_spread is None for g in loaded.seed_groups)
    assert loaded.runs[0].widths[0].row_norms is None
