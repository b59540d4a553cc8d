"""The toy model's report figures (Fig 1b/1d/4a, 3, 5a, 5b/6e, 6a–d, 7) on crafted toy results:
drawn from the values in the JSON when present (oracle: the crafted values, plain loops), listed
as missing with the reason when absent, and drawn from the committed ``results/toy`` files as far
as their data goes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from llmgeom.report import build_report, gather
from llmgeom.report.figures import (
    Context,
    toy_alpha_m_families,
    toy_alpha_m_vs_alpha,
    toy_density,
    toy_loss_vs_unlearned,
    toy_overlap_vs_width,
    toy_phi_phase,
    toy_phi_vs_gamma,
    toy_row_norms,
)

COMMITTED_TOY = Path(__file__).resolve().parents[2] / "results" / "toy"
N = 64
WIDTHS = (4, 8, 16)
EDGES = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
NEW_FIGURES = {
    "toy_alpha_m_families": "no strong-regime toy runs with a fitted α_m",
    "toy_phi_vs_gamma": "no toy runs with φ at two or more γ (same family, α and E)",
    "toy_phi_phase": "no toy runs with φ at a width they all share",
    "toy_loss_vs_unlearned": "no toy widths with a positive loss of unlearned features",
    "toy_alpha_m_vs_alpha": (
        "no weak- or strong-regime toy runs (power frequencies) with a fitted α_m"
    ),
    "toy_row_norms": "no strong-regime toy runs with row norms (row_norms or norm_hist_counts)",
    "toy_overlap_vs_width": "no strong-regime toy runs with the overlap of strong rows",
    "toy_density": "no toy runs at two or more activation densities E (same family, α and γ)",
}


def _run(gamma, alpha, family="power", density=1.0, exponent=1.0, row_norms=None):
    strong = gamma < 0
    per_m = []
    for k, m in enumerate(WIDTHS):
        row = {
            "m": m,
            "loss": 2.0 * m**-exponent,
            "phi": 1.0 if strong else m / N,
            "unlearned_prediction": 0.0 if strong else 1.5 * m**-exponent,
            "mean_cos2_strong": 1.2 / m if strong else None,
            "norm_hist_counts": [0, 1, 2, 3, 50, 8] if strong else [N - m, 0, 0, 0, m, 0],
        }
        if row_norms is not None:
            row["row_norms"] = row_norms[k]
        per_m.append(row)
    fit = {
        "exponent": exponent,
        "exponent_se": 0.05,
        "exponent_ci95": [exponent - 0.1, exponent + 0.1],
        "prefactor": 2.0,
        "m_used": list(WIDTHS),
    }
    return {
        "gamma": gamma,
        "alpha": alpha,
        "family": family,
        "density": density,
        "seed": 0,
        "regime": "strong" if strong else "weak",
        "fit": fit,
        "per_m": per_m,
    }


def _write(folder: Path, name: str, runs: list[dict], edges=EDGES) -> Path:
    doc = {
        "schema": "llmgeom.toy.result/2",
        "name": name,
        "config": {"n": N, "m": list(WIDTHS)},
        "norm_hist_edges": edges,
        "runs": runs,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"toy-{name}.json"
    path.write_text(json.dumps(doc))
    return path


NORMS = [list(np.random.default_rng(m).uniform(0.0, 1.5, N)) for m in WIDTHS]
FULL_RUNS = [
    _run(-1.0, 1.0, exponent=1.05, row_norms=NORMS),
    _run(-1.0, 1.0, family="exp", exponent=0.98),
    _run(-1.0, 1.0, family="linear", exponent=0.9),
    _run(-1.0, 1.0, density=2.0, exponent=1.1),
    _run(0.5, 1.5, exponent=0.55),
    _run(0.5, 2.0, exponent=1.02),
    _run(0.25, 2.0, exponent=0.97),
]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy-figures")
    _write(root / "toy", "crafted", FULL_RUNS)
    return root


def test_every_toy_figure_is_drawn_from_the_json(crafted, tmp_path):
    result = build_report(crafted, tmp_path / "site")
    assert set(NEW_FIGURES) <= set(result.figures)
    ctx = Context.build(gather(crafted))

    families = toy_alpha_m_families(ctx).data
    strong = [r for r in FULL_RUNS if r["gamma"] < 0]
    assert sorted((p["family"], p["alpha_m"]) for p in families["points"]) == sorted(
        (r["family"], r["fit"]["exponent"]) for r in strong
    )
    assert families["llm_alpha"] is None  # no losses in the folder

    versus = toy_alpha_m_vs_alpha(ctx).data["points"]
    assert sorted((p["regime"], p["alpha"], p["gamma"], p["alpha_m"]) for p in versus) == sorted(
        (r["regime"], r["alpha"], r["gamma"], r["fit"]["exponent"])
        for r in FULL_RUNS
        if r["family"] == "power"
    )

    phi = toy_phi_vs_gamma(ctx).data
    assert phi["group"] == ["power", 2.0, 1.0]  # the group with two values of γ
    for line in phi["lines"]:
        assert line["gamma"] == [0.25, 0.5] and line["phi"] == [line["m"] / N] * 2

    phase = toy_phi_phase(ctx).data
    assert phase["m"] == min(WIDTHS)
    expected = {(-1.0, 1.0): 1.0, (0.5, 1.5): 4 / N, (0.5, 2.0): 4 / N, (0.25, 2.0): 4 / N}
    assert {(c["gamma"], c["alpha"]): c["phi"] for c in phase["cells"]} == expected

    unlearned = toy_loss_vs_unlearned(ctx).data["points"]
    assert len(unlearned) == 3 * len(WIDTHS)  # the weak runs; strong ones learn every feature
    assert all(p["loss"] / p["unlearned"] == pytest.approx(2.0 / 1.5) for p in unlearned)

    norms = toy_row_norms(ctx).data
    assert [w["source"] for w in norms["widths"]] == ["row_norms"] * len(WIDTHS)
    for width, values in zip(norms["widths"], NORMS, strict=True):
        counts = [0] * (len(EDGES) - 1)
        for v in values:  # plain loop: bins closed on the left, the last also on the right
            k = next(i for i in range(len(EDGES) - 1) if v < EDGES[i + 1] or i == len(EDGES) - 2)
            counts[k] += 1
        assert width["counts"] == counts and width["edges"] == EDGES

    series = toy_overlap_vs_width(ctx).data["series"]
    assert len(series) == len(strong)
    assert all(s["mean_cos2_strong"] == [1.2 / m for m in WIDTHS] for s in series)

    density = toy_density(ctx).data
    assert density["loss_group"] == ["power", 1.0, -1.0]
    assert sorted((p["density"], p["alpha_m"]) for p in density["points"]) == [
        (1.0, 1.05),
        (2.0, 1.1),
    ]
    page = result.index_html.read_text()
    for fid in NEW_FIGURES:
        assert f'id="img-{fid}"' in page


def test_stored_histograms_when_the_row_norms_are_absent(tmp_path):
    _write(tmp_path / "res", "hist", [_run(-1.0, 1.0)])
    widths = toy_row_norms(Context.build(gather(tmp_path / "res"))).data["widths"]
    assert [w["source"] for w in widths] == ["histogram"] * len(WIDTHS)
    assert all(w["counts"] == [0, 1, 2, 3, 50, 8] and w["edges"] == EDGES for w in widths)


def test_absent_data_lists_each_toy_figure_missing(tmp_path):
    run = {"gamma": 0.5, "alpha": 2.0, "family": "power", "regime": "weak", "fit": {},
           "per_m": [{"m": 3, "loss": 0.5}, {"m": 5, "loss": 0.4}]}  # fmt: skip
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "toy-bare.json").write_text(
        json.dumps({"schema": "llmgeom.toy.result/2", "config": {}, "runs": [run]})
    )
    result = build_report(folder, tmp_path / "site")
    assert {fid: result.why_missing.get(fid) for fid in NEW_FIGURES} == NEW_FIGURES
    assert "toy_loss_vs_width" in result.figures  # the one figure this run allows
    page = result.index_html.read_text()
    for fid in NEW_FIGURES:
        assert f"<code>{fid}</code>" in page and f'id="img-{fid}"' not in page


def test_the_committed_results_draw_what_their_data_allows(tmp_path):
    folder = tmp_path / "res"
    shutil.copytree(COMMITTED_TOY, folder / "toy")
    result = build_report(folder, tmp_path / "site")
    docs = [json.loads(p.read_text()) for p in sorted(COMMITTED_TOY.glob("*.json"))]
    densities = {r.get("density", 1.0) for d in docs for r in d["runs"]}
    allowed = set(NEW_FIGURES) - ({"toy_density"} if len(densities) < 2 else set())
    assert allowed <= set(result.figures)
    assert {"toy_loss_vs_width", "toy_phase_diagram"} <= set(result.figures)
    if len(densities) < 2:
        assert result.why_missing["toy_density"] == NEW_FIGURES["toy_density"]
    strong = [r for d in docs for r in d["runs"] if r["regime"] == "strong"]
    series = toy_overlap_vs_width(Context.build(gather(folder))).data["series"]
    assert [s["mean_cos2_strong"] for s in series] == [
        [w["mean_cos2_strong"] for w in r["per_m"] if w.get("mean_cos2_strong") is not None]
        for r in strong
    ]
