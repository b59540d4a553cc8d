"""Frequency-weighted interference (``measure --weights``) against direct O(n²) float64 loops."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from checkpoints import SPECS, write_checkpoint

from llmgeom.cli import main
from llmgeom.geometry import sampling
from llmgeom.geometry.measurement import measure
from llmgeom.geometry.overlap import normalize_rows
from llmgeom.geometry.sampling import weighted_sampled_abs
from llmgeom.records.measurement import load_record


def direct(W: np.ndarray, counts: np.ndarray, center: bool = False) -> dict[str, float]:
    """Weighted means over i≠j by a plain double loop in float64 (the oracle)."""
    W = np.asarray(W, dtype=np.float64)
    if center:
        W = W - W.mean(axis=0)
    keep = np.linalg.norm(W, axis=1) > 0
    W, c = W[keep], np.asarray(counts, dtype=np.float64)[keep]
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    p = c / c.sum()
    num2 = num1 = num_signed = den = 0.0
    for i in range(len(U)):
        for j in range(len(U)):
            if i != j:
                cos = float(U[i] @ U[j])
                w = p[i] * p[j]
                num2 += w * cos * cos
                num1 += w * abs(cos)
                num_signed += w * cos
                den += w
    return {
        "weighted_mean_cos2": num2 / den,
        "weighted_mean_abs_cos": num1 / den,
        "weighted_mean_cos": num_signed / den,
        "effective_tokens": 1.0 / float(np.sum(p * p)),
    }


def random_case(seed: int, n: int = 50, m: int = 6):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, m)).astype(np.float32)
    W[: n // 5] += 2.0 * rng.standard_normal(m).astype(np.float32)  # shared direction: cos > 0
    counts = rng.zipf(1.7, n).astype(np.int64)
    counts[rng.choice(n, n // 4, replace=False)] = 0  # tokens that never occur
    return W, counts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_weighted_statistics_equal_the_direct_double_loop(seed):
    W, counts = random_case(seed)
    # a tiny block budget: 7 rows per block, so diagonal blocks and their triangles are crossed
    report = measure(
        W, weights=counts, pairs="exact", memory_budget=7 * 50 * 4, progress=False, device="cpu"
    )
    got, want = report.to_dict()["weighted"], direct(W, counts)
    assert report.diagnostics["block_rows"] == 7
    for key in ("weighted_mean_cos2", "weighted_mean_abs_cos", "effective_tokens"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert got["weighted_mean_cos"] == pytest.approx(want["weighted_mean_cos"], rel=1e-5, abs=1e-9)
    assert got["abs_cos_method"] == "exact"
    assert got["rows_with_count"] == int(np.count_nonzero(counts))
    assert got["m_times_weighted_mean_cos2"] == pytest.approx(6 * want["weighted_mean_cos2"])


def test_uniform_weights_reproduce_the_unweighted_means():
    W, _ = random_case(3, n=80)
    report = measure(W, weights=np.ones(80, dtype=np.int64), pairs="exact", progress=False)
    w, s = report.to_dict()["weighted"], report.to_dict()["stats"]
    assert w["weighted_mean_cos2"] == pytest.approx(s["mean_cos2"], rel=1e-6)
    assert w["weighted_mean_abs_cos"] == pytest.approx(s["mean_abs_cos"], rel=1e-6)
    assert w["weighted_mean_cos"] == pytest.approx(s["mean_cos"], rel=1e-6)
    assert w["effective_tokens"] == pytest.approx(80.0)
    # sampled: pairs drawn by weight; the estimate within 4 standard errors of the exact value
    sampled = measure(W, weights=np.full(80, 5), pairs="sample", precision=0.01, progress=False)
    block = sampled.to_dict()["weighted"]
    assert block["abs_cos_method"] == "sample" and block["stopped_by"] == "precision"
    assert 0.95 * 2**17 < block["pairs_drawn_by_weight"] <= 2**17  # draws with i = j dropped
    se = block["weighted_mean_abs_cos_se"]
    assert 0 < se < 0.01 * s["mean_abs_cos"]
    assert abs(block["weighted_mean_abs_cos"] - s["mean_abs_cos"]) < 4 * se
    low, high = block["weighted_mean_abs_cos_interval"]
    assert high - low == pytest.approx(2 * 1.95996 * se, rel=1e-4)  # t(0.975, > 10^5 dof)
    assert high - low <= 2 * 0.01 * block["weighted_mean_abs_cos"]


def test_analytic_truths():
    counts = np.array([5, 1, 7, 2, 9])
    ortho = measure(torch.eye(5), weights=counts, pairs="exact", progress=False).to_dict()[
        "weighted"
    ]
    assert ortho["weighted_mean_cos2"] == 0.0 and ortho["weighted_mean_abs_cos"] == 0.0
    assert ortho["effective_tokens"] == pytest.approx(1 / np.sum((counts / counts.sum()) ** 2))
    # rows 0 and 3 point the same way (different lengths); all the weight is on them
    W = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    W[3] = 2.5 * W[0]
    dup = measure(W, weights=[4, 0, 0, 4, 0, 0], pairs="exact", progress=False).to_dict()[
        "weighted"
    ]
    assert dup["weighted_mean_cos2"] == pytest.approx(1.0, rel=1e-6)
    assert dup["weighted_mean_abs_cos"] == pytest.approx(1.0, rel=1e-6)
    assert dup["weighted_mean_cos"] == pytest.approx(1.0, rel=1e-6)
    assert dup["effective_tokens"] == pytest.approx(2.0)
    assert (dup["rows_with_count"], dup["rows_without_count"]) == (2, 4)


def test_short_counts_are_padded_and_excluded_rows_take_their_counts_along():
    W, counts = random_case(4, n=40)
    W[7] = 0.0  # a zero row: excluded, its count goes with it
    short = counts[:30].copy()
    short[7] = 11
    report = measure(W, weights=short, pairs="exact", progress=False)
    got = report.to_dict()["weighted"]
    padded = np.concatenate([short, np.zeros(10, dtype=np.int64)])
    want = direct(W, padded)
    assert got["weighted_mean_cos2"] == pytest.approx(want["weighted_mean_cos2"], rel=1e-6)
    assert got["weighted_mean_abs_cos"] == pytest.approx(want["weighted_mean_abs_cos"], rel=1e-6)
    assert (got["counts_length"], got["rows_padded"], got["rows_used"]) == (30, 10, 39)
    assert got["rows_without_count"] == 39 - int(np.count_nonzero(np.delete(padded, 7)))
    assert got["count_mass_excluded"] == pytest.approx(11 / short.sum())
    assert "(10 padded: beyond the counts)" in report.summary()


def test_center_uses_the_centred_directions():
    W, counts = random_case(5, n=40)
    got = measure(W, weights=counts, center=True, pairs="exact", progress=False).to_dict()[
        "weighted"
    ]
    want = direct(W, counts, center=True)
    assert got["weighted_mean_cos2"] == pytest.approx(want["weighted_mean_cos2"], rel=1e-5)
    assert got["weighted_mean_abs_cos"] == pytest.approx(want["weighted_mean_abs_cos"], rel=1e-5)


def test_sampled_weighted_abs_cos_is_unbiased_with_honest_intervals(monkeypatch):
    monkeypatch.setattr(sampling, "PAIR_BATCH", 2048)  # 60 short runs
    W, counts = random_case(6, n=120)
    U, _ = normalize_rows(torch.from_numpy(W))
    p = torch.from_numpy(counts / counts.sum())
    exact = direct(W, counts)
    estimates, hits = [], 0
    for seed in range(60):
        s = weighted_sampled_abs(U, p, seed=seed, precision=0.5, progress=False)
        estimates.append(s["weighted_mean_abs_cos"])
        low, high = s["weighted_mean_abs_cos_interval"]
        hits += low <= exact["weighted_mean_abs_cos"] <= high
    spread = np.std(estimates) / math.sqrt(len(estimates))
    assert abs(np.mean(estimates) - exact["weighted_mean_abs_cos"]) < 4 * spread
    assert hits >= 51  # nominal 95 % of 60


def test_gram_only_run_reports_no_weighted_abs_cos():
    W, counts = random_case(7)
    report = measure(W, weights=counts, pairs="gram", progress=False)
    assert report.weighted is not None and report.weighted.weighted_mean_abs_cos is None
    assert report.to_dict()["weighted"]["abs_cos_method"] is None
    assert "weighted |cos|  not available" in report.summary()


# ------------------------------------------------------------------------ CLI and the record


def _gpt2(tmp_path):
    write_checkpoint(SPECS["gpt2"], tmp_path / "g")
    return tmp_path / "g"  # a 96 x 16 head


def _run(capsys, *args):
    code = main(["measure", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_record_round_trip(tmp_path, capsys):
    source = _gpt2(tmp_path)
    counts = np.arange(90, dtype=np.int64) % 7
    np.savez(tmp_path / "c.npz", counts=counts)
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        capsys, source, "--weights", tmp_path / "c.npz", "--out", out, "--no-progress"
    )
    assert code == 0 and stderr == ""
    assert "weighted by     c.npz: 267 tokens counted" in stdout
    assert "(6 padded: beyond the counts)" in stdout and "weighted |cos|  " in stdout
    (path,) = out.glob("*.json")
    record = load_record(path)  # validated on load
    block = record["weighted"]
    assert block["version"] == 1 and block["counts_path"] == str(tmp_path / "c.npz")
    assert block["counts_sha256"] == hashlib.sha256((tmp_path / "c.npz").read_bytes()).hexdigest()
    assert record["options"]["weights"] == str(tmp_path / "c.npz")
    from llmgeom import load_unembedding

    head = load_unembedding(source).weight.numpy()
    want = direct(head, np.concatenate([counts, np.zeros(6, dtype=np.int64)]))
    assert block["weighted_mean_cos2"] == pytest.approx(want["weighted_mean_cos2"], rel=1e-6)
    assert block["weighted_mean_abs_cos"] == pytest.approx(want["weighted_mean_abs_cos"], rel=1e-6)
    # a sampled run with the same counts keeps the exact weighted |cos| (and no sampling keys)
    code, stdout, _ = _run(
        capsys, source, "--weights", tmp_path / "c.npz", "--sample", "20", "--out", out,
        "--no-progress",
    )  # fmt: skip
    assert code == 0 and "weighted.weighted_mean_abs_cos" in stdout
    assert load_record(path)["weighted"] == block
    # a later Gram-only run without weights keeps the weighted block (a result is never lost)
    code, stdout, _ = _run(capsys, source, "--pairs", "gram", "--out", out, "--no-progress")
    assert code == 0 and "weighted" in stdout.split("kept from the earlier result:")[1]
    assert load_record(path)["weighted"] == block


def _npz(tmp_path, **arrays):
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


BAD_COUNTS = {
    "too-long": (lambda t: _npz(t, counts=np.ones(97, dtype=np.int64)), "97 counts but the head"),
    "all-zero": (lambda t: _npz(t, counts=np.zeros(96, dtype=np.int64)), "every count is zero"),
    "negative": (lambda t: _npz(t, counts=np.array([3, -1, 2])), "1 negative count(s)"),
    "nan": (lambda t: _npz(t, counts=np.array([1.0, np.nan])), "1 non-finite count(s)"),
    "inf": (lambda t: _npz(t, counts=np.array([1.0, np.inf, 2.0])), "non-finite"),
    "no-counts-key": (lambda t: _npz(t, freq=np.ones(3)), "holds no array named 'counts'"),
    "two-d": (lambda t: _npz(t, counts=np.ones((2, 3))), "must be 1-D"),
    "strings": (lambda t: _npz(t, counts=np.array(["a", "b"])), "integers or floats"),
    "one-row": (lambda t: _npz(t, counts=np.array([0, 5])), "1 of the 96 rows used"),
    "npy": (lambda t: (np.save(t / "c.npy", np.ones(3)), t / "c.npy")[1], "bare array"),
    "text": (lambda t: (t / "c.npz").write_text("x") and t / "c.npz", "not a .npz file"),
    "missing": (lambda t: t / "none.npz", "no such file"),
}


@pytest.mark.parametrize("case", list(BAD_COUNTS))
def test_bad_counts_are_one_line_errors_with_nothing_written(tmp_path, capsys, case):
    build, needle = BAD_COUNTS[case]
    source = _gpt2(tmp_path)
    weights = build(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = _run(capsys, source, "--weights", weights, "--out", out)
    assert code == 1 and "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmgeom measure: error: "), stderr
    assert needle in lines[0]
    assert list(out.iterdir()) == [] and "wrote" not in stdout


def test_rows_tokenizer_drops_the_padding_rows_counts(tmp_path, capsys):
    directory = tmp_path / "pythia-tiny"
    head = write_checkpoint(SPECS["pythia"], directory).numpy()  # 72 rows, tokenizer 60
    counts = np.arange(1, 73, dtype=np.int64)
    np.savez(tmp_path / "c.npz", counts=counts)
    out = tmp_path / "out"
    code, _, _ = _run(
        capsys, directory, "--rows", "tokenizer", "--weights", tmp_path / "c.npz", "--out", out,
        "--no-progress", "--pairs", "exact",
    )  # fmt: skip
    assert code == 0
    (path,) = out.glob("*.json")
    block = load_record(path)["weighted"]
    want = direct(head[:60], counts[:60])
    assert block["weighted_mean_cos2"] == pytest.approx(want["weighted_mean_cos2"], rel=1e-6)
    assert block["weighted_mean_abs_cos"] == pytest.approx(want["weighted_mean_abs_cos"], rel=1e-6)
    assert block["count_mass_excluded"] == pytest.approx(counts[60:].sum() / counts.sum())
    assert block["rows_used"] == 60
