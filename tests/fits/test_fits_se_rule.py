"""``se_rule``: the authors' SE of α where some loss lies at or below its fitted offset.

The oracle is a plain numpy transcription of paper.md §4's formula with the authors' notebook's
``nan_to_num`` of ``ln(L − L0)``, evaluated on the numbers the fit wrote into its JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from llmgeom.cli import main
from llmgeom.errors import ConfigError, FitError
from llmgeom.fits import WidthLossFit, authors_alpha_se, fit_loss, write_loss_table
from llmgeom.fits.tables import LossTable
from llmgeom.paper.published import paper_implied_losses

WIDTHS = [64.0, 128, 256, 512, 1024, 2048, 4096, 65536]


def authors_se_numpy(m, L, L0, C, alpha):
    """sqrt(Σ [nan_to_num(ln(L − L0)) − ln(C m^−α)]² / Σ (ln m − mean ln m)² / (n − 3))."""
    m, L, L0 = (np.asarray(x, dtype=float) for x in (m, L, L0))
    with np.errstate(invalid="ignore", divide="ignore"):
        log_gap = np.nan_to_num(np.log(L - L0))
    r = log_gap - np.log(C * m**-alpha)
    lm = np.log(m)
    return float(np.sqrt(np.sum(r**2) / np.sum((lm - lm.mean()) ** 2) / (len(m) - 3)))


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Two corpora on eight widths; the widest point of corpus ``a`` is pushed 0.05 below the
    law, where C/m^α is 0.002: after the fit it lies below its offset."""
    m = np.array(WIDTHS * 2)
    corpus = ["a"] * 8 + ["b"] * 8
    noise = np.array([0.004, -0.003, 0.002, -0.004, 0.003, -0.002, 0.001, -0.05] + [0.0] * 8)
    noise[8:] = [0.003, -0.002, 0.001, -0.003, 0.002, -0.001, 0.002, -0.002]
    loss = 50 * m**-0.9 + np.where(np.array(corpus) == "a", 2.0, 2.4) + noise
    rows = LossTable([f"f{w:g}" for w in m], ["f"] * 16, corpus, m, loss)
    return write_loss_table(tmp_path_factory.mktemp("se") / "losses.csv", rows)


def test_the_formula_with_nan_to_num_on_one_point_below_its_offset():
    m = np.array([512.0, 1024, 2048, 4096, 8192])
    L0 = np.array([2.0, 2.0, 2.0, 2.5, 2.5])
    L = 100 * m**-0.9 * np.array([1.1, 0.9, 1.05, 0.97, 1.0]) + L0
    L[3] = L0[3] - 0.01  # one L < L0
    expected = authors_se_numpy(m, L, L0, 100, 0.9)
    assert np.isfinite(expected)
    got = authors_alpha_se(m, L, L0, 100, 0.9, rule="authors")
    assert got == pytest.approx(expected, rel=1e-12)
    with pytest.raises(FitError, match="1 of 5 points have L <= L0"):
        authors_alpha_se(m, L, L0, 100, 0.9)  # strict, the default
    L[3] = L0[3]  # L = L0: ln 0 = -inf, nan_to_num: the most negative float, the SE overflows
    assert authors_alpha_se(m, L, L0, 100, 0.9, rule="authors") == np.inf


def test_fit_loss_offers_the_authors_rule(table, tmp_path):
    strict = fit_loss(table, n_bootstrap=0)
    authors = fit_loss(table, n_bootstrap=0, se_rule="authors")
    d = authors.to_dict()
    points = d["points"]
    L0 = [d["offsets_L0"][p["family"]][p["corpus"]] for p in points]
    below = [p["loss"] <= off for p, off in zip(points, L0, strict=True)]
    assert sum(below) == 1  # the crafted case holds: one point at or below its offset
    expected = authors_se_numpy(
        [p["m"] for p in points], [p["loss"] for p in points], L0, d["C"], d["alpha"]
    )
    assert authors.alpha_se_authors == pytest.approx(expected, rel=1e-12)
    assert (authors.se_rule, d["se_rule"], strict.se_rule) == ("authors", "authors", "strict")
    assert (
        np.isnan(strict.alpha_se_authors) and "L <= L0" in strict.to_dict()["alpha_se_authors_note"]
    )
    assert "1 of 16 points have L <= L0" in d["alpha_se_authors_note"]
    assert "nan_to_num" in authors.summary() and "undefined" in strict.summary()
    # only the SE differs: the fit itself is the same
    assert (authors.alpha, authors.C, authors.offsets_L0) == (
        strict.alpha,
        strict.C,
        strict.offsets_L0,
    )
    json_path, _ = authors.save(tmp_path)
    assert (
        WidthLossFit.load(json_path) == authors
        and WidthLossFit.load(json_path).law.se_rule == "authors"
    )


def test_the_rules_agree_where_every_loss_is_above_its_offset(tmp_path):
    t = write_loss_table(tmp_path / "l.csv", paper_implied_losses())
    strict, authors = fit_loss(t, n_bootstrap=0), fit_loss(t, n_bootstrap=0, se_rule="authors")
    assert authors.alpha_se_authors == strict.alpha_se_authors
    assert authors.to_dict()["alpha_se_authors_note"] is None


def test_the_cli_flag_and_a_bad_value(table, tmp_path, capsys):
    out = tmp_path / "fits"
    assert (
        main(
            [
                "fit",
                "loss",
                str(table),
                "--se-rule",
                "authors",
                "--bootstrap",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    written = json.loads((out / "width_loss_fit_ls.json").read_text())
    assert written["se_rule"] == "authors"
    assert (
        written["alpha_se_authors"]
        == fit_loss(table, n_bootstrap=0, se_rule="authors").alpha_se_authors
    )
    assert "nan_to_num" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="se_rule"):
        fit_loss(table, n_bootstrap=0, se_rule="loose")  # type: ignore[arg-type]
