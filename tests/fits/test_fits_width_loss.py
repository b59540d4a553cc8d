"""The width-loss law C/m^α + L0(g,d): the paper's fit, SEs, bootstrap, Huber, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from llmgeom.errors import FitError
from llmgeom.fits import WidthLossLaw, authors_alpha_se
from llmgeom.paper.published import paper_fit, paper_implied_losses

PAPER = paper_fit()
ALPHA, C = PAPER["alpha"], PAPER["C"]
# noise whose fitted RMS residual is the paper's 0.072 (108 points, 18 parameters)
NOISE_FOR_RMS_072 = 0.072 * np.sqrt(108 / 90)


def _fit(table, **kw) -> WidthLossLaw:
    return WidthLossLaw(**kw).fit(
        table.m, table.loss, family=table.family, corpus=table.corpus, models=table.model
    )


def test_recovers_the_authors_fit_exactly():
    t = paper_implied_losses()
    assert len(t) == 108 and t.m[t.model.index("facebook/opt-350m")] == 1024
    law = _fit(t)
    assert law.alpha_ == pytest.approx(0.9098, rel=1e-3)
    assert law.C_ == pytest.approx(476.08, rel=1e-3)
    assert law.alpha_ == pytest.approx(ALPHA, rel=1e-8)
    assert law.C_ == pytest.approx(C, rel=1e-8)
    n_offsets = 0
    for fam, by_corpus in PAPER["offsets_L0"].items():
        for corpus, value in by_corpus.items():
            assert law.offsets_[fam][corpus] == pytest.approx(value, abs=1e-8)
            n_offsets += 1
    assert n_offsets == 16 and law.n_params_ == 18
    assert law.rms_ < 1e-9


def test_noise_of_the_papers_size_gives_the_papers_se():
    se, rms = [], []
    for seed in range(20):
        law = _fit(paper_implied_losses(NOISE_FOR_RMS_072, seed=seed))
        rms.append(law.rms_)
        if np.isfinite(law.alpha_se_):
            se.append(law.alpha_se_)
        else:  # the formula is undefined when some L <= L0: said so, not a silent number
            assert "L <= L0" in law.alpha_se_note_
            assert "undefined" in law.summary()
    assert np.mean(rms) == pytest.approx(0.072, rel=0.05)
    assert len(se) >= 8
    assert 0.02 < np.mean(se) < 0.06
    assert np.mean(se) == pytest.approx(0.036, abs=0.006)


def test_jacobian_interval_coverage_and_se_matches_spread():
    hits, alphas, ses = 0, [], []
    for seed in range(100):
        law = _fit(paper_implied_losses(0.072, seed=1000 + seed))
        lo, hi = law.alpha_ci_asymptotic_
        hits += lo <= ALPHA <= hi
        alphas.append(law.alpha_)
        ses.append(law.alpha_se_asymptotic_)
    assert hits >= 90
    assert 0.8 < np.median(ses) / np.std(alphas) < 1.25


@pytest.mark.parametrize("alpha", [0.5, 1.5])
def test_known_exponent_recovered_within_interval(alpha):
    rng = np.random.default_rng(7)
    m = np.tile([64.0, 128, 256, 512, 1024, 2048], 3)
    g = np.repeat(["a", "b", "c"], 6)
    L = (m / 64) ** -alpha + np.repeat([1.0, 1.5, 2.0], 6) + rng.normal(0, 0.005, m.size)
    law = WidthLossLaw().fit(m, L, family=g)
    lo, hi = law.alpha_ci_asymptotic_
    assert lo <= alpha <= hi
    assert law.alpha_se_asymptotic_ < 0.1


def test_bootstrap_schemes():
    t = paper_implied_losses(0.072, seed=4)
    law = _fit(t, n_bootstrap=150, random_state=1)
    lo, hi = law.alpha_ci_bootstrap_
    assert lo <= ALPHA <= hi
    assert law.bootstrap_.samples.shape == (150, 2)
    assert 1 / 1.5 < law.bootstrap_.std() / law.alpha_se_asymptotic_ < 1.5
    again = _fit(t, n_bootstrap=150, random_state=1)
    assert again.alpha_ci_bootstrap_ == law.alpha_ci_bootstrap_  # seeded
    for scheme in ("models", "residuals"):
        other = _fit(t, n_bootstrap=40, bootstrap=scheme)
        b = other.bootstrap_
        assert b.samples.shape[0] + b.n_failed == 40 and b.samples.shape[0] >= 35
        assert other.alpha_ci_bootstrap_[0] < law.alpha_ < other.alpha_ci_bootstrap_[1]
    json.dumps(law.to_dict(), allow_nan=False)


def test_authors_formula_by_hand():
    m = np.array([512.0, 1024, 2048, 4096, 8192])
    L0 = np.array([2.0, 2.0, 2.0, 2.5, 2.5])
    L = 100 * m**-0.9 * np.array([1.1, 0.9, 1.05, 0.97, 1.0]) + L0
    r = np.log(L - L0) - np.log(100 * m**-0.9)
    lm = np.log(m)
    expected = np.sqrt(np.sum(r**2) / np.sum((lm - lm.mean()) ** 2) / (5 - 3))
    assert authors_alpha_se(m, L, L0, 100, 0.9) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(FitError, match="L <= L0"):
        authors_alpha_se(m, L0 - 0.01, L0, 100, 0.9)


def test_huber_resists_an_outlier_where_least_squares_does_not():
    m = np.tile([64.0, 128, 256, 512, 1024, 2048, 4096], 2)
    g = np.repeat(["a", "b"], 7)
    L = 30 * m**-0.8 + np.repeat([1.0, 1.5], 7)
    L[13] += 0.5  # one corrupted evaluation at the largest width
    ls = WidthLossLaw().fit(m, L, family=g)
    hub = WidthLossLaw(loss="huber").fit(m, L, family=g)
    assert abs(hub.alpha_ - 0.8) < 5e-3
    assert abs(ls.alpha_ - 0.8) > 0.05
    assert hub.solution_.n_starts >= 10
    assert "Huber" in hub.summary()


@pytest.mark.parametrize(
    ("m", "L", "fam", "match"),
    [
        ([], [], None, "empty"),
        ([512, 1024, 2048, 4096], [3.0, np.nan, 2.6, 2.5], None, "NaN"),
        ([512, 1024, 2048, 4096], [3.0, 2.8, 0.0, 2.5], None, "positive"),
        ([768] * 6, [3.0, 2.9, 3.1, 3.0, 2.9, 3.0], None, "same width"),
        ([512, 1024, 2048], [3.0, 2.8, 2.7], None, "more points than parameters"),
        (
            [512, 1024, 512, 1024, 512, 1024],
            [3.0, 2.8, 3.1, 2.9, 3.2, 3.0],
            ["a", "a", "b", "b", "c", "c"],
            "width",
        ),
        ([512, 1024, 2048, 4096, 8192], [2.0, 2.5, 3.0, 3.5, 4.0], None, "not positive|edge"),
    ],
)
def test_degenerate_inputs_raise(m, L, fam, match):
    with pytest.raises(FitError, match=match):
        WidthLossLaw().fit(m, L, family=fam)


def test_bad_options():
    with pytest.raises(FitError, match="unknown loss"):
        WidthLossLaw(loss="l1").fit([1, 2, 3, 4], [4, 3, 2.5, 2.2])
    with pytest.raises(FitError, match="unknown bootstrap"):
        WidthLossLaw(bootstrap="jackknife").fit([1, 2, 3, 4], [4, 3, 2.5, 2.2])


@pytest.mark.parametrize("delta", [0.0, -1e-3, float("inf"), float("nan")])
def test_the_library_refuses_a_nonsense_huber_delta(delta):
    t = paper_implied_losses()
    with pytest.raises(FitError, match="huber_delta must be finite and > 0"):
        WidthLossLaw(loss="huber", huber_delta=delta, n_bootstrap=0).fit(
            t.m, t.loss, family=t.family, corpus=t.corpus
        )
