"""Chinchilla check: N ∝ d_model^k on table A9 and α_m = k·α_N with propagated error."""

from __future__ import annotations

import numpy as np
import pytest

from llmgeom.configs import config_path
from llmgeom.errors import FitError
from llmgeom.fits import ChinchillaCheck, propagate_product_error, read_size_table


def test_table_a9_gives_the_papers_k():
    c = ChinchillaCheck().fit()
    assert c.n_models_ == 50
    assert round(c.k_, 4) == 2.5226
    assert round(c.k_se_, 4) == 0.0258
    assert f"{c.k_:.2f} +/- {c.k_se_:.2f}" == "2.52 +/- 0.03"
    assert round(c.alpha_m_, 2) == 0.88
    # linear (default) reproduces the paper's 0.06; quadrature gives 0.05
    assert c.alpha_m_err_ == pytest.approx(0.35 * c.k_se_ + c.k_ * 0.02)
    assert round(c.alpha_m_err_, 2) == 0.06
    assert c.alpha_m_err_quadrature_ == pytest.approx(np.hypot(0.35 * c.k_se_, c.k_ * 0.02))
    assert round(c.alpha_m_err_quadrature_, 2) == 0.05
    assert "k = 2.52 +/- 0.03" in c.summary() and "0.88 +/- 0.06" in c.summary()


def test_direct_ols_and_custom_table():
    t = read_size_table(config_path("chinchilla_table_a9.csv"))
    x, y = np.log(t.d_model), np.log(t.params)
    slope = np.polyfit(x, y, 1)[0]
    c = ChinchillaCheck(alpha_n=0.3478, propagation="quadrature").fit(t.params, t.d_model)
    assert c.k_ == pytest.approx(slope, rel=1e-12)
    assert c.alpha_m_ == pytest.approx(slope * 0.3478)
    d = np.array([256.0, 512, 1024, 2048])
    exact = ChinchillaCheck().fit(12 * 20 * d**2, d)  # N = 12 L d^2 with fixed depth: k = 2
    assert exact.k_ == pytest.approx(2.0, abs=1e-12)


def test_propagation_rules():
    assert propagate_product_error(2.0, 0.1, 0.5, 0.05, "linear") == pytest.approx(0.15)
    assert propagate_product_error(2.0, 0.1, 0.5, 0.05, "quadrature") == pytest.approx(
        np.hypot(0.05, 0.1)
    )
    with pytest.raises(FitError, match="propagation"):
        propagate_product_error(2.0, 0.1, 0.5, 0.05, "max")


def test_degenerate():
    with pytest.raises(FitError, match="equal"):
        ChinchillaCheck().fit([1e8, 2e8, 3e8], [512, 512, 512])
    with pytest.raises(FitError, match="both"):
        ChinchillaCheck().fit([1e8, 2e8, 3e8])
    with pytest.raises(FitError, match="NaN"):
        ChinchillaCheck().fit([1e8, np.nan, 3e8], [512, 1024, 2048])
    with pytest.raises(FitError, match="at least 3"):
        ChinchillaCheck().fit([1e8, 2e8], [512, 1024])
    with pytest.raises(FitError, match="finite"):
        ChinchillaCheck(alpha_n=float("nan")).fit()


@pytest.mark.parametrize("alpha_n", [0.0, -0.35, float("nan"), float("inf")])
def test_the_library_refuses_a_nonsense_alpha_n(alpha_n):
    with pytest.raises(FitError, match="alpha_n must be a finite number > 0"):
        ChinchillaCheck(alpha_n=alpha_n).fit()
