"""The overlap-vs-width law: OLS with family offsets, intervals, the s = 1 test, inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from records import write_measured_record
from scipy import stats

from llmgeom.errors import FitError
from llmgeom.fits import OverlapLaw, fit_power_law, read_overlap_inputs
from llmgeom.sources.registry import registry_models

OFFSETS = {"opt": 3.0, "qwen2.5": 4.0, "gpt2": 3.5, "pythia": 2.5}


def _synthetic(slope: float, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = registry_models()
    m = np.array([float(r.head_cols) for r in rows])
    fam = [r.family for r in rows]
    a = np.array([OFFSETS[f] for f in fam])
    rng = np.random.default_rng(seed)
    return m, np.exp(a - slope * np.log(m) + rng.normal(0, noise, m.size)), fam


def test_recovers_known_slope_within_intervals():
    m, y, fam = _synthetic(0.8, 0.15, seed=3)
    law = OverlapLaw(n_bootstrap=300, random_state=0).fit(m, y, family=fam)
    assert law.slope_ci_[0] <= 0.8 <= law.slope_ci_[1]
    assert law.slope_ci_bootstrap_[0] <= 0.8 <= law.slope_ci_bootstrap_[1]
    assert law.dof_ == 27 - 5
    assert set(law.intercepts_) == set(OFFSETS)
    # the s = 1 test must reject a true slope of 0.8 measured this precisely
    assert law.p_slope_eq_1_ < 0.05
    # the bootstrap spread agrees with the OLS standard error to within a factor 1.5
    assert 1 / 1.5 < law.bootstrap_.std() / law.slope_se_ < 1.5


def test_coverage_of_t_interval_over_repeated_draws():
    hits = 0
    for seed in range(100):
        m, y, fam = _synthetic(1.0, 0.3, seed=100 + seed)
        law = OverlapLaw(n_bootstrap=0).fit(m, y, family=fam)
        hits += law.slope_ci_[0] <= 1.0 <= law.slope_ci_[1]
    assert hits >= 90


def test_single_family_equals_plain_power_law():
    m, y, fam = _synthetic(1.1, 0.2, seed=5)
    sel = np.array(fam) == "pythia"
    law = OverlapLaw(n_bootstrap=0).fit(m[sel], y[sel])
    ref = fit_power_law(m[sel], y[sel])
    assert law.slope_ == pytest.approx(ref.exponent, rel=1e-12)
    assert law.slope_se_ == pytest.approx(ref.exponent_se, rel=1e-10)
    assert law.r2_ == pytest.approx(ref.r2, rel=1e-10)
    t = (law.slope_ - 1) / law.slope_se_
    assert law.p_slope_eq_1_ == pytest.approx(2 * stats.t.sf(abs(t), sel.sum() - 2))


def test_exact_law_ratios_and_per_family():
    m, y, fam = _synthetic(1.0, 0.0, seed=0)
    law = OverlapLaw(n_bootstrap=0).fit(m, y, family=fam, models=[f"x{i}" for i in range(27)])
    assert law.slope_ == pytest.approx(1.0, abs=1e-10)
    assert law.r2_ == pytest.approx(1.0)
    assert law.per_family_["gpt2"]["slope"] == pytest.approx(1.0, abs=1e-10)
    # ratio to the random value 1/m is e^a exactly
    assert law.m_times_mean_cos2_["x0"] == pytest.approx(np.exp(OFFSETS["opt"]))
    assert law.predict(1000.0, "opt") == pytest.approx(np.exp(3.0) / 1000)
    d = law.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["points"][0]["m_times_mean_cos2"] == pytest.approx(np.exp(3.0))


@pytest.mark.parametrize(
    ("m", "y", "fam", "match"),
    [
        ([], [], None, "empty"),
        ([512, 1024, np.nan], [0.1, 0.05, 0.02], None, "NaN"),
        ([512, 1024, 2048], [0.1, 0.0, 0.02], None, "positive"),
        ([768, 768, 768, 768], [0.1, 0.2, 0.1, 0.3], None, "same width"),
        ([512, 1024], [0.1, 0.05], None, "degree of freedom"),
        ([512, 1024, 768], [0.1, 0.05, 0.1], ["a", "b", "c"], "parameters"),
        ([512, 512, 1024, 1024], [0.1, 0.2, 0.1, 0.3], ["a", "a", "b", "b"], "identifiable"),
    ],
)
def test_degenerate_inputs_raise(m, y, fam, match):
    with pytest.raises(FitError, match=match):
        OverlapLaw(n_bootstrap=0).fit(m, y, family=fam)


def test_reads_measurement_files_and_width_choice(tmp_path):
    write_measured_record(tmp_path / "a.json", "facebook/opt-350m", "opt", 512, 1024, 0.02)
    write_measured_record(tmp_path / "b.json", "facebook/opt-125m", "opt", 768, 768, 0.015)
    (tmp_path / "t.csv").write_text("model,family,m,mean_cos2,d_model\nopt-1.3b,opt,2048,0.006,\n")
    t = read_overlap_inputs([tmp_path / "a.json", tmp_path / "b.json", tmp_path / "t.csv"])
    assert t.model[:2] == ["facebook/opt-350m", "facebook/opt-125m"]
    assert t.head_width.tolist() == [512, 768, 2048]
    with pytest.raises(FitError, match="d_model"):
        t.widths("d_model")
    t2 = read_overlap_inputs([tmp_path / "a.json", tmp_path / "b.json"])
    assert t2.widths("d_model").tolist() == [1024, 768]


def test_input_errors(tmp_path):
    write_measured_record(tmp_path / "a.json", "m1", "opt", 512, 512, 0.02)
    write_measured_record(tmp_path / "b.json", "m1", "opt", 768, 768, 0.02)
    with pytest.raises(FitError, match="appears twice"):
        read_overlap_inputs([tmp_path / "a.json", tmp_path / "b.json"])
    write_measured_record(tmp_path / "b.json", "m2", "opt", 768, 768, 0.02, center=True)
    with pytest.raises(FitError, match=r"2 analysis settings.*center=False.*center=True"):
        read_overlap_inputs([tmp_path])
    (tmp_path / "c.json").write_text('{"schema": "other"}')
    with pytest.raises(FitError, match="not an llmgeom measurement"):
        read_overlap_inputs([tmp_path / "c.json"])
    (tmp_path / "d.csv").write_text("model,m\nx,3\n")
    with pytest.raises(FitError, match="missing column"):
        read_overlap_inputs([tmp_path / "d.csv"])
    (tmp_path / "e.csv").write_text("model,family,m,mean_cos2\nx,f,wide,0.1\n")
    with pytest.raises(FitError, match="not a number"):
        read_overlap_inputs([tmp_path / "e.csv"])
    with pytest.raises(FitError, match="no input"):
        read_overlap_inputs([])


def test_a_bad_width_is_named_with_a_plain_number(tmp_path):
    (tmp_path / "t.csv").write_text("model,family,m,mean_cos2\na,f,-1,0.1\nb,f,8,0.1\n")
    table = read_overlap_inputs([tmp_path / "t.csv"])
    with pytest.raises(FitError, match=r"first at position 0: -1\)") as info:
        OverlapLaw(n_bootstrap=0).fit(table.head_width, table.mean_cos2, family=table.family)
    assert "np.float64" not in str(info.value)
