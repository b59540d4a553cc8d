"""The measure → fit seam: records written by ``llmgeom measure`` on a mixed zoo fit together.

Real zoos differ in vocabulary size, zero padding rows (OPT) and pair mode from model to model;
only the analysis settings (rows rule, centring) must agree.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_models
import torch

from llmgeom.cli import main

ZOO = (  # name, builder, vocabulary, width, pair mode
    ("opt-a", tiny_models.opt, 300, 8, "gram"),
    ("opt-b", tiny_models.opt, 340, 16, "exact"),
    ("opt-c", tiny_models.opt, 380, 32, "sample"),
    ("pythia-a", tiny_models.pythia, 420, 8, "exact"),
    ("pythia-b", tiny_models.pythia, 460, 16, "gram"),
    ("pythia-c", tiny_models.pythia, 500, 32, "auto"),
)


def direct_mean_cos2(W: np.ndarray) -> float:
    """Mean cos² over pairs i<j of the non-zero rows, the O(n²) float64 way."""
    W = np.asarray(W, dtype=np.float64)
    W = W[np.linalg.norm(W, axis=1) > 0]
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = U @ U.T
    return float(np.mean(C[np.triu_indices(len(W), 1)] ** 2))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    heads = {}
    for name, build, vocab, width, _ in ZOO:
        torch.manual_seed(vocab)
        model = build(vocab, width)
        model.save_pretrained(root / name)
        heads[name] = model.get_output_embeddings().weight.detach().numpy().copy()
    return root, heads


def test_a_mixed_zoo_measured_by_llmgeom_fits_together(zoo, tmp_path, capsys):
    root, heads = zoo
    results = tmp_path / "results"
    for name, _, _, _, pairs in ZOO:
        argv = ["measure", str(root / name), "--out", str(results), "--pairs", pairs]
        assert main([*argv, "--no-progress", "--device", "cpu"]) == 0
    capsys.readouterr()
    records = {p.name.split(".")[0]: json.loads(p.read_text()) for p in results.glob("*.json")}
    assert sorted(records) == sorted(z[0] for z in ZOO)
    vocab = {r["variant"]["n_rows_total"] for r in records.values()}
    assert vocab == {z[2] for z in ZOO}  # six vocabulary sizes
    assert records["opt-a"]["variant"]["n_zero_rows_excluded"] == 1  # OPT's padding row
    assert {r["variant"]["pairs"] for r in records.values()} == {"gram", "exact", "sample"}
    for name, record in records.items():  # oracle: transformers' head, plain O(n²) numpy
        assert record["model"]["family"] == name.split("-")[0]
        expected = direct_mean_cos2(heads[name])
        assert record["stats"]["mean_cos2"] == pytest.approx(expected, rel=1e-6)

    out = tmp_path / "fits"
    assert main(["fit", "overlap", str(results), "--bootstrap", "50", "--out", str(out)]) == 0
    fit = json.loads((out / "overlap_fit.json").read_text())
    points = {p["model"]: p for p in fit["points"]}
    assert len(points) == 6
    for name, record in records.items():
        assert points[str(root / name)]["mean_cos2"] == record["stats"]["mean_cos2"]
    # random initialisation: mean cos² ≈ 1/m, so the fitted slope is close to 1
    assert fit["slope"] == pytest.approx(1.0, abs=0.15)


def test_different_analysis_settings_are_refused_with_the_reason(zoo, tmp_path, capsys):
    root, _ = zoo
    results = tmp_path / "results"
    for name, extra in (("opt-a", []), ("opt-b", ["--center"])):
        argv = ["measure", str(root / name), "--out", str(results), "--pairs", "gram", *extra]
        assert main([*argv, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["fit", "overlap", str(results), "--out", str(tmp_path / "fits")]) == 1
    err = capsys.readouterr().err
    assert "center=False" in err and "center=True" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "fits").exists()
