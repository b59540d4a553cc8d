"""A user's own zoo, as a new user would run it: six ``.npy`` matrices of two families, a sweep
config whose ``[[models]]`` give ``source``, ``name`` and ``family``, run twice into one folder
(``pairs = "exact"``, then ``"gram"``), then ``llmgeom fit overlap`` and ``llmgeom report`` on
that folder. The labels reach the records, the file names and the fit; the sweep's status file
is skipped and counted; each model is fitted once. Oracle: mean cos² of each matrix from a
plain numpy Gram matrix and the per-family OLS slope (numpy lstsq on family dummies and −ln m).
The ``[[models]]`` labels reach the loss records and ``losses.csv`` as well.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sweep_helpers import write_zoo

from llmgeom.cli import main

N_ROWS = 300
# family -> (widths, strength of a direction shared by all rows): the families differ in offset
# and in widths, so that one pooled group and one offset per family give different slopes
FAMILIES = {"alpha": ((16, 32, 64), 0.6), "beta": ((32, 64, 128), 2.0)}


def _matrix(family: str, width: int) -> np.ndarray:
    rng = np.random.default_rng(width + 1000 * len(family))
    shared = rng.standard_normal(width)
    shared /= np.linalg.norm(shared)
    rows = rng.standard_normal((N_ROWS, width))
    return rows + FAMILIES[family][1] * np.sqrt(width) ** 0.5 * shared


def _mean_cos2(W: np.ndarray) -> float:
    """Mean cos² over the pairs i < j, from the full n x n Gram matrix of unit rows."""
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = U @ U.T
    upper = np.triu_indices(W.shape[0], 1)
    return float(np.mean(C[upper] ** 2))


def _ols_slope(m: np.ndarray, y: np.ndarray, groups: list[str]) -> float:
    """s of ln y = a_group − s ln m by least squares (one dummy column per group)."""
    names = sorted(set(groups))
    X = np.zeros((len(y), len(names) + 1))
    X[np.arange(len(y)), [names.index(g) for g in groups]] = 1.0
    X[:, -1] = -np.log(m)
    beta, *_ = np.linalg.lstsq(X, np.log(y), rcond=None)
    return float(beta[-1])


def _config(folder, pairs: str) -> str:
    lines = ['out = "res"']
    for family, (widths, _) in FAMILIES.items():
        for width in widths:
            lines += [
                "[[models]]",
                f'source = "mats/{family}-m{width}.npy"',
                f'name = "my-{family}-{width}"',
                f'family = "{family}"',
            ]
    lines += ["[measure]", f'pairs = "{pairs}"']
    path = folder / f"sweep-{pairs}.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("user-zoo")
    (root / "mats").mkdir()
    truth = {}
    for family, (widths, _) in FAMILIES.items():
        for width in widths:
            W = _matrix(family, width).astype(np.float32)
            np.save(root / "mats" / f"{family}-m{width}.npy", W)
            truth[f"my-{family}-{width}"] = (family, width, _mean_cos2(W.astype(np.float64)))
    return root, truth


def test_a_swept_zoo_keeps_its_labels_and_fits_per_family(zoo, tmp_path, capsys):
    root, truth = zoo
    for pairs in ("exact", "gram"):
        assert main(["sweep", _config(root, pairs), "--no-progress"]) == 0
    res = root / "res"
    # the labels reach the records and the file names; each model once (the runs are merged)
    records = sorted(res.glob("*.raw.json"))
    assert sorted(p.name for p in records) == sorted(f"{name}.raw.json" for name in truth)
    for path in records:
        model = json.loads(path.read_text())["model"]
        family, width, mean_cos2 = truth[model["name"]]
        assert (model["family"], model["head_width"]) == (family, width)
        record = json.loads(path.read_text())
        assert record["stats"]["mean_cos2"] == pytest.approx(mean_cos2, rel=1e-5)
        assert record["stats"]["abs_cos_method"] == "exact"  # the gram run kept the exact pass
    capsys.readouterr()

    fits = tmp_path / "fits"
    assert main(["fit", "overlap", str(res), "--bootstrap", "0", "--out", str(fits)]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 JSON file(s) that are not measurements (sweep-status.json)" in printed
    fit = json.loads((fits / "overlap_fit.json").read_text())
    names = sorted(truth)
    m = np.array([truth[n][1] for n in names], dtype=float)
    y = np.array([truth[n][2] for n in names])
    per_family = _ols_slope(m, y, [truth[n][0] for n in names])
    pooled = _ols_slope(m, y, ["all"] * len(names))  # what one group "other" gave
    assert fit["families"] == ["alpha", "beta"] and fit["n_models"] == 6
    assert sorted(p["model"] for p in fit["points"]) == names
    assert fit["slope"] == pytest.approx(per_family, abs=1e-5)
    assert abs(pooled - per_family) > 0.05  # the oracle tells the two apart

    report = tmp_path / "report"
    assert main(["report", str(res), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "found 6 measurements" in printed and "corrupt" not in printed
    summary = (report / "summary.csv").read_text()
    assert all(name in summary for name in names)


def test_models_labels_reach_the_loss_records_and_table(tmp_path):
    zoo = write_zoo(tmp_path)
    config = tmp_path / "labels.toml"
    config.write_text(
        'out = "res"\n'
        f'[[models]]\nsource = "{zoo["w8"]}"\nname = "my-gpt"\nfamily = "mine"\n'
        f'[[models]]\nsource = "{zoo["w16"]}"\n'
        f'[loss]\ncorpora = ["{zoo["txt"]}"]\nmax_length = 16\n'
    )
    assert main(["sweep", str(config), "--no-progress"]) == 0
    res = tmp_path / "res"
    assert sorted(p.name for p in res.glob("*.loss.json")) == [
        "my-gpt.a.loss.json",
        "w16.a.loss.json",
    ]
    record = json.loads((res / "my-gpt.a.loss.json").read_text())
    assert (record["model"]["label"], record["model"]["family"]) == ("my-gpt", "mine")
    plain = json.loads((res / "w16.a.loss.json").read_text())
    assert "label" not in plain["model"] and plain["model"]["family"] == "gpt2"
    with (res / "losses.csv").open(newline="") as fh:
        rows = {r["model"]: r["family"] for r in csv.DictReader(fh)}
    assert rows == {"my-gpt": "mine", "w16": "gpt2"}
    from llmgeom.report.gather import gather, loss_model

    assert sorted(loss_model(i.data) for i in gather(res).losses) == ["my-gpt", "w16"]
