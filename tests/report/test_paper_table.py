"""The paper side by side (index.html and summary.csv): the reproduced values are the fit and
toy results' own numbers, the published ones those of ``llmgeom/paper/published.json``, and the
agreement rule decides both ways on crafted cases (oracle: the rule worked by hand)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from llmgeom.fits import fit_chinchilla, fit_loss, fit_overlap, write_loss_table
from llmgeom.paper.published import paper_fit, paper_implied_losses, published
from llmgeom.report import build_report
from llmgeom.report.paper_table import agreement

COMMITTED_TOY = Path(__file__).resolve().parents[2] / "results" / "toy"
Z = 1.959963984540054


def _paper_rows(summary: Path) -> dict[str, dict[str, str]]:
    with summary.open(newline="") as fh:
        return {r["quantity"]: r for r in csv.DictReader(fh) if r["record"] == "paper"}


def _number(cell: str) -> float | None:
    return float(cell) if cell else None


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """A tiny folder: a width-loss fit of the paper's implied losses (plus noise), the
    Chinchilla check and an overlap fit of a four-row table, each saved by llmgeom.fits."""
    root = tmp_path_factory.mktemp("paper-table")
    table = write_loss_table(root / "in" / "losses.csv", paper_implied_losses(0.02, seed=1))
    fit_loss(table, n_bootstrap=20).save(root / "res")
    fit_chinchilla().save(root / "res")
    overlap = root / "in" / "overlap.csv"
    rows = [f"{f}{m},{f},{m},{a / m**0.9}" for f, a in (("x", 3), ("y", 5)) for m in (64, 256)]
    overlap.write_text("model,family,m,mean_cos2\n" + "\n".join(rows) + "\n")
    fit_overlap(overlap, n_bootstrap=0).save(root / "res")
    return root / "res"


def test_reproduced_values_are_the_fits_own_numbers(fitted, tmp_path):
    result = build_report(fitted, tmp_path / "site")
    rows = _paper_rows(result.summary_csv)
    loss = json.loads((fitted / "width_loss_fit_ls.json").read_text())
    chin = json.loads((fitted / "chinchilla_fit.json").read_text())
    over = json.loads((fitted / "overlap_fit.json").read_text())
    alpha = rows["width-loss α"]
    assert float(alpha["value"]) == loss["alpha"]
    assert [float(alpha["ci_low"]), float(alpha["ci_high"])] == loss["alpha_ci_authors"]
    assert float(rows["width-loss C"]["value"]) == loss["C"]
    pub = paper_fit()
    for family, by_corpus in pub["offsets_L0"].items():
        for corpus, value in by_corpus.items():
            row = rows[f"L0[{family},{corpus}]"]
            assert float(row["value"]) == loss["offsets_L0"][family][corpus]
            assert float(row["published"]) == value
            assert row["agrees"] == "not judged (no interval)"
    k = rows["Chinchilla k"]
    assert float(k["value"]) == chin["k"]
    assert [float(k["ci_low"]), float(k["ci_high"])] == chin["k_ci95_t"]
    assert float(rows["Chinchilla α_m = k·α_N"]["value"]) == chin["alpha_m"]
    slope = rows["overlap-law slope s (mean cos² ∝ m^-s)"]
    assert float(slope["value"]) == over["slope"]
    # published intervals: the paper's ± times 1.96; figures ± 15 %
    assert float(alpha["published"]) == pub["alpha"] == 0.9098
    assert float(alpha["published_ci_high"]) == pytest.approx(0.9098 + Z * 0.03599, rel=1e-12)
    assert float(k["published_ci_low"]) == pytest.approx(2.52 - Z * 0.03, rel=1e-12)
    assert float(slope["published_ci_low"]) == pytest.approx(0.85, rel=1e-12)
    # the noise is small: the fit agrees with the paper; k is the paper's own fit of the table
    assert alpha["agrees"] == k["agrees"] == rows["Chinchilla α_m = k·α_N"]["agrees"] == "yes"
    # no toy results here: those rows say so
    toy = [r for q, r in rows.items() if q.startswith("toy")]
    assert toy and all(r["value"] == "" and r["agrees"] == "not reproduced" for r in toy)
    page = result.index_html.read_text()
    assert 'id="paper"' in page and "The paper side by side" in page
    assert f"{len(rows)} published numbers: {len(rows) - len(toy)} reproduced" in page
    assert "not reproduced" in page


@pytest.mark.parametrize(
    ("alpha", "ci", "verdict"),
    [
        # |0.96 - 0.9098| = 0.0502 <= hypot(1.96 * 0.03599, 0.02) = 0.0733
        (0.96, [0.94, 0.98], "yes"),
        # |1.05 - 0.9098| = 0.1402 > hypot(0.0705, 0.02) = 0.0733
        (1.05, [1.03, 1.07], "no"),
    ],
)
def test_the_agreement_flag_both_ways(fitted, tmp_path, alpha, ci, verdict):
    folder = tmp_path / "res"
    shutil.copytree(fitted, folder)
    path = folder / "width_loss_fit_ls.json"
    data = json.loads(path.read_text())
    data.update(alpha=alpha, alpha_ci_authors=ci)
    path.write_text(json.dumps(data))
    row = _paper_rows(build_report(folder, tmp_path / "site").summary_csv)["width-loss α"]
    hand = abs(alpha - 0.9098) <= math.hypot(Z * 0.03599, (ci[1] - ci[0]) / 2)
    assert row["agrees"] == verdict == ("yes" if hand else "no")


def test_the_rule_on_its_own():
    assert agreement(1.0, (0.85, 1.15), 1.2, None) == "no"  # 0.2 > 0.15
    assert agreement(1.0, (0.85, 1.15), 1.1, None) == "yes"
    assert agreement(1.0, None, 1.09, (0.99, 1.19)) == "yes"  # our half-width alone: 0.1
    assert agreement(1.0, None, 1.1, (1.05, 1.15)) == "no"
    assert agreement(1.0, None, 1.0, None) == "not judged (no interval)"
    assert agreement(1.0, (0.9, 1.1), None, None) == "not reproduced"


def test_the_committed_toy_results_fill_the_toy_rows(tmp_path):
    """Both committed files hold n = 1000 runs at the paper's small-run settings: a value is
    the mean over the matching runs with the 95 % t-interval over them (oracle: numpy/scipy)."""
    folder = tmp_path / "res"
    shutil.copytree(COMMITTED_TOY, folder / "toy")
    rows = _paper_rows(build_report(folder, tmp_path / "site").summary_csv)
    every = [json.loads(p.read_text()) for p in sorted(COMMITTED_TOY.glob("*.json"))]
    docs = [d for d in every if d["config"]["n"] == 1000]  # the small runs of Figs 5b and 6d
    runs = [r for d in docs for r in d["runs"]]

    def expected(values):
        x = np.array(values)
        half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
        return x.mean(), x.mean() - half, x.mean() + half

    for gamma in (1 / 9, 3 / 9):
        row = rows[f"toy weak α_m, α = 2, γ = {gamma:.3g} (Fig 5b)"]
        fits = [r["fit"]["exponent"] for r in runs if r["regime"] == "weak"
                and abs(r["gamma"] - gamma) < 1e-9 and r["alpha"] == 2.0]  # fmt: skip
        assert len(fits) >= len(docs)  # each file has such runs (quick: one per seed)
        mean, low, high = expected(fits)
        assert float(row["value"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["ci_low"]) == pytest.approx(low, rel=1e-12)
        assert float(row["ci_high"]) == pytest.approx(high, rel=1e-12)
    pub = published()["toy_overlap_strong"]
    for m, value in zip(pub["m"], pub["mean_cos2_strong"], strict=True):
        row = rows[f"toy overlap of strong rows, m = {m} (Fig 6d)"]
        ours = [w["mean_cos2_strong"] for r in runs if r["regime"] == "strong"
                for w in r["per_m"] if w["m"] == m]  # fmt: skip
        mean, low, high = expected(ours)
        assert float(row["value"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["published"]) == value
        verdict = abs(mean - value) <= math.hypot(0.15 * value, (high - low) / 2)
        assert row["agrees"] == ("yes" if verdict else "no")
    power = rows["toy strong α_m (power)"]
    strong = [r for d in every for r in d["runs"] if r["regime"] == "strong"]  # any n
    mean, _, _ = expected([r["fit"]["exponent"] for r in strong])
    assert float(power["value"]) == pytest.approx(mean, rel=1e-12)
    assert rows["toy strong α_m (linear)"]["agrees"] == "not reproduced"
