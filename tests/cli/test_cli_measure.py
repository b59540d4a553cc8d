"""``llmgeom measure`` end to end: result files, variants, help, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoints import SPECS, write_checkpoint

import llmgeom
from llmgeom.cli import main

SCHEMA = "llmgeom.measurement/2"


def run_cli(capsys, *args):
    code = main(["measure", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def only_json(out_dir: Path) -> dict:
    files = sorted(out_dir.iterdir())
    assert [f.suffix for f in files] == [".json"], files
    return json.loads(files[0].read_text())


def direct_matrix(W, center=False):
    """All cosines of the rows of W, the O(n²) float64 way."""
    W = np.asarray(W, dtype=np.float64)
    if center:
        W = W - W.mean(axis=0)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    return U @ U.T


def direct(W, center=False):
    """The cosines of the pairs i<j of the rows of W."""
    return direct_matrix(W, center)[np.triu_indices(len(W), 1)]


@pytest.fixture(scope="module")
def pythia_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ck") / "pythia-tiny"
    head = write_checkpoint(SPECS["pythia"], directory)
    return directory, head


# --------------------------------------------------------------------------------- the record


def test_measure_writes_one_complete_json(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    out = tmp_path / "results"
    code, stdout, stderr = run_cli(
        capsys, directory, "--out", out, "--no-progress", "--device", "cpu", "--bins", "200"
    )
    assert code == 0 and stderr == ""
    record = only_json(out)
    assert (out / "pythia-tiny.raw.json").is_file()
    json.dumps(record, allow_nan=False)
    assert record["schema"] == SCHEMA

    model = record["model"]
    assert model["source"] == str(directory) and model["source_kind"] == "local-dir"
    assert (model["family"], model["tensor_name"], model["tied"]) == (
        "pythia",
        "embed_out.weight",
        False,
    )
    assert (model["n_rows"], model["head_width"], model["d_model"]) == (72, 16, 16)
    assert model["tokenizer_len"] == 60 and model["stored_dtype"] == "float32"
    assert model["sha256"] == llmgeom.load_unembedding(directory).meta.sha256

    variant = record["variant"]
    assert variant["name"] == "raw" and variant["rows"] == "all" and variant["center"] is False
    assert variant["pairs"] == "exact" and variant["n_rows_selected"] == 72

    stats, n = record["stats"], 72
    cos = direct(head.numpy())
    assert stats["n_rows_used"] == n and stats["m"] == 16
    assert stats["n_pairs"] == n * (n - 1) // 2
    assert stats["mean_cos2"] == pytest.approx(np.mean(cos**2), rel=1e-6)
    assert stats["mean_abs_cos"] == pytest.approx(np.mean(np.abs(cos)), rel=1e-6)
    assert stats["std_abs_cos"] == pytest.approx(np.std(np.abs(cos)), rel=1e-5)
    assert stats["max_abs_cos"] == pytest.approx(np.max(np.abs(cos)), rel=1e-6)
    hist = stats["histogram"]
    assert sum(hist["counts"]) == n * (n - 1) // 2
    assert len(hist["counts"]) == 200 and len(hist["edges"]) == 201
    top = stats["top_pairs"]
    assert top and top[0]["abs_cos"] == pytest.approx(np.max(np.abs(cos)), rel=1e-6)
    assert [p["abs_cos"] for p in top] == sorted((p["abs_cos"] for p in top), reverse=True)
    assert all(0 <= p["i"] < n and 0 <= p["j"] < n and p["i"] != p["j"] for p in top)
    assert stats["m_times_mean_cos2"] == pytest.approx(16 * stats["mean_cos2"])

    ref = record["reference"]
    assert ref["random_mean_cos2"] == pytest.approx(1 / 16)
    assert ref["frame_bound_mean_cos2"] == pytest.approx((n - 16) / (16 * (n - 1)))
    norms = np.linalg.norm(head.numpy().astype(np.float64), axis=1)
    assert record["row_norms"]["mean"] == pytest.approx(norms.mean(), rel=1e-9)
    assert record["row_norms"]["min"] == pytest.approx(norms.min(), rel=1e-9)
    assert record["row_norms"]["count"] == n and record["row_norms"]["n_zero"] == 0
    assert {"load_s", "total_s"} <= set(record["timings"])
    assert all(v >= 0 for v in record["timings"].values())
    versions = record["environment"]["versions"]
    assert versions["llmgeom"] == llmgeom.__version__ and versions["torch"] and versions["numpy"]
    assert record["environment"]["device"] == "cpu"
    assert record["created"]

    # the human summary
    assert str(directory) in stdout and "mean cos^2" in stdout and "pythia" in stdout
    assert f"{stats['mean_cos2']:.6g}" in stdout
    assert f"wrote {out / 'pythia-tiny.raw.json'}" in stdout


def test_two_sources_two_jsons(tmp_path, capsys):
    write_checkpoint(SPECS["gpt2"], tmp_path / "a")
    write_checkpoint(SPECS["qwen2.5-untied"], tmp_path / "b", fmt="bin", shards=2)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        capsys, tmp_path / "a", tmp_path / "b", "--out", out, "--pairs", "gram"
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.raw.json", "b.raw.json"]
    families = {json.loads(p.read_text())["model"]["family"] for p in out.iterdir()}
    assert families == {"gpt2", "qwen2.5"}
    assert stdout.count("wrote ") == 2


def test_two_sources_with_the_same_folder_name_keep_both_results(tmp_path, capsys):
    write_checkpoint(SPECS["gpt2"], tmp_path / "a" / "final")
    write_checkpoint(SPECS["opt"], tmp_path / "b" / "final")
    out = tmp_path / "out"
    code, _, _ = run_cli(
        capsys, tmp_path / "a" / "final", tmp_path / "b" / "final", "--out", out, "--pairs", "gram"
    )
    assert code == 0
    assert len(list(out.iterdir())) == 2


def test_pairs_gram(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, stdout, _ = run_cli(capsys, directory, "--out", tmp_path, "--pairs", "gram")
    assert code == 0
    record = only_json(tmp_path)
    assert record["variant"]["pairs"] == "gram" and record["variant"]["histogram_bins"] == 0
    assert record["stats"]["mean_cos2"] == pytest.approx(
        np.mean(direct(head.numpy()) ** 2), rel=1e-6
    )
    assert "mean_abs_cos" not in record["stats"] and "histogram" not in record["stats"]
    assert "mean |cos|" not in stdout


def test_sample(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, stdout, _ = run_cli(capsys, directory, "--out", tmp_path, "--sample", "30", "--seed", "3")
    assert code == 0
    record = only_json(tmp_path)
    assert record["variant"]["pairs"] == "sample" and record["variant"]["sample_rows"] == 30
    assert record["variant"]["precision"] == 1e-3
    sampled = record["stats"]["sampled"]
    assert sampled["rows_sampled"] == 30 and sampled["seed"] == 3
    assert sampled["stopped_by"] == "precision" and sampled["relative_half_width"] <= 1e-3
    cos = direct(head.numpy())
    exact = {"mean_cos2": np.mean(cos**2), "mean_abs_cos": np.mean(np.abs(cos))}
    for key, value in exact.items():
        lo, hi = sampled["interval"][key]
        assert lo < sampled[key] < hi
        assert lo <= value <= hi, f"{key}: exact {value} outside [{lo}, {hi}]"
    # the Gram mean cos² stays exact even in sample mode
    assert record["stats"]["mean_cos2"] == pytest.approx(exact["mean_cos2"], rel=1e-6)
    assert "(sampled)" in stdout
    assert f"{sampled['pairs_sampled']:,} random pairs (precision 0.001 reached)" in stdout
    assert "from 30 whole rows" in stdout


def test_rows_tokenizer_on_padded_pythia(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, _, _ = run_cli(
        capsys,
        directory,
        "--out",
        tmp_path,
        "--rows",
        "tokenizer",
        "--no-progress",
        "--bins",
        "200",
    )
    assert code == 0
    record = only_json(tmp_path)
    variant, stats = record["variant"], record["stats"]
    assert variant["name"] == "tokenizer-rows" and variant["rows"] == "tokenizer"
    assert stats["n_rows_used"] == record["model"]["tokenizer_len"] == 60
    assert (variant["n_rows_total"], variant["n_rows_selected"]) == (72, 60)
    assert sum(stats["histogram"]["counts"]) == 60 * 59 // 2
    assert stats["mean_cos2"] == pytest.approx(np.mean(direct(head[:60].numpy()) ** 2), rel=1e-6)
    assert (tmp_path / "pythia-tiny.tokenizer-rows.json").is_file()


def test_center(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, _, _ = run_cli(capsys, directory, "--out", tmp_path, "--center", "--no-progress")
    assert code == 0
    record = only_json(tmp_path)
    assert record["variant"]["name"] == "raw+centered" and record["variant"]["center"] is True
    cos = direct(head.numpy(), center=True)
    assert record["stats"]["mean_cos2"] == pytest.approx(np.mean(cos**2), rel=1e-6)
    assert record["stats"]["mean_abs_cos"] == pytest.approx(np.mean(np.abs(cos)), rel=1e-6)


def test_save_arrays(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, _, _ = run_cli(capsys, directory, "--out", tmp_path, "--save-arrays", "--no-progress")
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pythia-tiny.raw.json",
        "pythia-tiny.raw.npz",
    ]
    arrays = np.load(tmp_path / "pythia-tiny.raw.npz")
    W = head.numpy().astype(np.float64)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    A = np.abs(U @ U.T)
    np.fill_diagonal(A, -1)
    np.testing.assert_allclose(arrays["max_abs_cos_per_row"], A.max(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(arrays["partner_per_row"], A.argmax(axis=1))


def test_tensor_option(tmp_path, capsys):
    write_checkpoint(SPECS["qwen2.5-untied"], tmp_path / "q")
    code, _, _ = run_cli(
        capsys,
        tmp_path / "q",
        "--out",
        tmp_path / "out",
        "--pairs",
        "gram",
        "--tensor",
        "model.embed_tokens.weight",
    )
    assert code == 0
    model = only_json(tmp_path / "out")["model"]
    assert model["tensor_name"] == "model.embed_tokens.weight"
    assert model["extra"]["head_rule"] == "explicit" and model["stored_dtype"] == "bfloat16"


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"llmgeom {llmgeom.__version__}"


def test_measure_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["measure", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "llmgeom measure ./my-checkpoint --out results/" in text
    for option in ("--out", "--pairs", "--sample", "--rows", "--center", "--tensor"):
        assert option in text


def test_console_script_subprocess(tmp_path):
    exe = shutil.which("llmgeom") or str(Path(sys.executable).with_name("llmgeom"))
    assert Path(exe).is_file(), "the llmgeom console script is not installed"
    write_checkpoint(SPECS["gpt2"], tmp_path / "gpt2-tiny")
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            exe,
            "measure",
            str(tmp_path / "gpt2-tiny"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--bins",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    record = only_json(out)
    assert record["schema"] == SCHEMA and record["model"]["tensor_name"] == "wte.weight"
    assert record["model"]["family"] == "gpt2" and record["model"]["tied"] is True
    assert sum(record["stats"]["histogram"]["counts"]) == 96 * 95 // 2
    assert "mean cos^2" in proc.stdout and "wrote" in proc.stdout


# ---------------------------------------------------------------------------------- bad input


def _missing(tmp):
    return tmp / "does-not-exist"


def _no_weights(tmp):
    (tmp / "empty").mkdir()
    (tmp / "empty" / "config.json").write_text("{}")
    return tmp / "empty"


def _truncated(tmp):
    write_checkpoint(SPECS["gpt2"], tmp / "ck")
    path = tmp / "ck" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    return tmp / "ck"


def _unsafe_pickle(tmp):
    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(tmp / "pwned"),))

    torch.save({"wte.weight": torch.randn(5, 2), "x": Payload()}, tmp / "evil.bin")
    return tmp / "evil.bin"


def _nan_npy(tmp):
    W = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    W[2, 1] = np.nan
    np.save(tmp / "nan.npy", W)
    return tmp / "nan.npy"


def _one_row_npy(tmp):
    np.save(tmp / "one.npy", np.ones((1, 4), dtype=np.float32))
    return tmp / "one.npy"


def _ambiguous(tmp):
    import safetensors.torch

    tensors = {"foo": torch.randn(30, 4), "bar": torch.randn(20, 4)}
    safetensors.torch.save_file(tensors, str(tmp / "amb.safetensors"))
    return tmp / "amb.safetensors"


def _gpt2(tmp):
    write_checkpoint(SPECS["gpt2"], tmp / "g")
    return tmp / "g"


# name: (builder of the bad source, extra CLI arguments, environment, text the error must hold)
BAD = {
    "missing-path": (_missing, [], {}, "no such file or directory"),
    "no-weights": (_no_weights, [], {}, "no model weights found"),
    "truncated": (_truncated, [], {}, "truncated"),
    "unsafe-pickle": (_unsafe_pickle, [], {}, "refused"),
    "wrong-tensor": (_gpt2, ["--tensor", "nope"], {}, "no tensor named 'nope'"),
    "nan-rows": (_nan_npy, [], {}, "rows 2"),
    "one-row": (_one_row_npy, [], {}, "at least 2"),
    "ambiguous": (_ambiguous, [], {}, "Candidates: foo [30, 4], bar [20, 4]"),
    "memory-env": (_gpt2, [], {"LLMGEOM_MAX_MEMORY": "1kB"}, "LLMGEOM_MAX_MEMORY"),
    "bad-memory-budget": (_gpt2, ["--memory-budget", "lots"], {}, "'lots'"),
    "sample-too-small": (_gpt2, ["--sample", "1"], {}, "--sample"),
}


def assert_one_line_error(code, stdout, stderr, needle):
    assert code != 0
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("llmgeom measure: error:"), lines[0]
    assert needle in lines[0]
    assert "wrote" not in stdout


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, case):
    build, extra, env, needle = BAD[case]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    source = build(src_dir)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run_cli(capsys, source, "--out", out, "--no-progress", *extra)
    assert_one_line_error(code, stdout, stderr, needle)
    assert list(out.iterdir()) == []  # no result, no temporary file
    assert not (src_dir / "pwned").exists()


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_device_cuda_without_cuda_is_a_one_line_error(tmp_path, capsys, device, without_cuda):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, _gpt2(tmp_path), "--out", out, "--device", device)
    assert_one_line_error(code, stdout, stderr, f"device '{device}' requested but no CUDA GPU")
    assert not out.exists()


def test_bad_input_does_not_create_the_out_folder(tmp_path, capsys):
    code, _, stderr = run_cli(capsys, _nan_npy(tmp_path), "--out", tmp_path / "new")
    assert code == 1 and stderr.startswith("llmgeom measure: error:")
    assert not (tmp_path / "new").exists()


def test_one_bad_source_among_several(tmp_path, capsys):
    good = _gpt2(tmp_path)
    bad = _one_row_npy(tmp_path)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, bad, good, "--out", out, "--pairs", "gram")
    assert code == 1
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"llmgeom measure: error: {bad}: ")
    assert [p.name for p in out.iterdir()] == ["g.raw.json"]
    assert "wrote" in stdout


def test_unsafe_pickle_through_the_console_script(tmp_path):
    """Real stderr (no pytest capture of warnings): still exactly one line, nothing written."""
    source = _unsafe_pickle(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    exe = shutil.which("llmgeom") or str(Path(sys.executable).with_name("llmgeom"))
    proc = subprocess.run(
        [exe, "measure", str(source), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, "refused")
    assert list(out.iterdir()) == [] and not (tmp_path / "pwned").exists()


def test_center_with_identical_rows_is_a_one_line_error(tmp_path, capsys):
    np.save(tmp_path / "same.npy", np.ones((5, 3), dtype=np.float32))
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = run_cli(capsys, tmp_path / "same.npy", "--out", out, "--center")
    assert_one_line_error(code, stdout, stderr, "at least 2")
    assert list(out.iterdir()) == []


def test_out_is_an_existing_file_is_a_one_line_error(tmp_path, capsys):
    source = _gpt2(tmp_path)
    (tmp_path / "results").write_text("not a folder")
    code, stdout, stderr = run_cli(capsys, source, "--out", tmp_path / "results", "--pairs", "gram")
    assert_one_line_error(code, stdout, stderr, "results")
    assert (tmp_path / "results").read_text() == "not a folder"


# ------------------------------------------------- result files never lose a richer result


def test_a_gram_run_after_an_exact_run_keeps_the_exact_statistics(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    assert run_cli(capsys, directory, "--out", tmp_path, "--pairs", "exact", "--bins", "50")[0] == 0
    exact = only_json(tmp_path)
    code, stdout, _ = run_cli(capsys, directory, "--out", tmp_path, "--pairs", "gram")
    assert code == 0
    merged = only_json(tmp_path)
    assert f"merged into {tmp_path / 'pythia-tiny.raw.json'}" in stdout and "max_abs_cos" in stdout
    cos = direct(head.numpy())
    for key in ("mean_abs_cos", "std_abs_cos", "max_abs_cos", "top_pairs", "histogram", "n_pairs"):
        assert merged["stats"][key] == exact["stats"][key], key
    assert merged["diagnostics"] == exact["diagnostics"]  # the exact pass's block rows, FLOPs
    assert merged["stats"]["mean_abs_cos"] == pytest.approx(np.mean(np.abs(cos)), rel=1e-6)
    assert merged["variant"]["pairs"] == "exact" and merged["variant"]["histogram_bins"] == 50
    assert "max_abs_cos" in merged["kept_from_earlier_runs"]
    assert [run["pairs"] for run in merged["history"]] == ["exact", "gram"]
    # a sampled run never replaces exact |cos| statistics by estimates
    assert run_cli(capsys, directory, "--out", tmp_path, "--sample", "20")[0] == 0
    again = only_json(tmp_path)
    assert again["stats"]["mean_abs_cos"] == exact["stats"]["mean_abs_cos"]
    assert again["stats"]["abs_cos_method"] == "exact" and "sampled" in again["stats"]
    assert len(again["history"]) == 3


def test_an_exact_run_after_a_gram_run_replaces_it_with_nothing_lost(tmp_path, capsys, pythia_dir):
    directory, _ = pythia_dir
    assert run_cli(capsys, directory, "--out", tmp_path, "--pairs", "gram")[0] == 0
    code, stdout, _ = run_cli(capsys, directory, "--out", tmp_path, "--pairs", "exact")
    assert code == 0 and f"updated {tmp_path / 'pythia-tiny.raw.json'}" in stdout
    record = only_json(tmp_path)
    assert record["variant"]["pairs"] == "exact" and "kept_from_earlier_runs" not in record


def test_unwritable_out_fails_before_anything_is_loaded(tmp_path, capsys, monkeypatch):
    import llmgeom.geometry.measurement

    loaded = []
    monkeypatch.setattr(
        llmgeom.geometry.measurement, "load_unembedding", lambda *a, **k: loaded.append(a)
    )
    (tmp_path / "file").write_text("x")
    code, stdout, stderr = run_cli(capsys, _gpt2(tmp_path), "--out", tmp_path / "file" / "sub")
    assert_one_line_error(code, stdout, stderr, "is not a directory")
    assert loaded == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_before_anything_is_loaded(tmp_path, capsys, monkeypatch):
    import llmgeom.geometry.measurement

    monkeypatch.setattr(llmgeom.geometry.measurement, "load_unembedding", lambda *a, **k: 1 / 0)
    out = tmp_path / "ro"
    out.mkdir(mode=0o555)
    code, stdout, stderr = run_cli(capsys, _gpt2(tmp_path), "--out", out)
    assert_one_line_error(code, stdout, stderr, "cannot write into")


def test_every_file_written_is_printed(tmp_path, capsys, pythia_dir):
    directory, _ = pythia_dir
    code, stdout, _ = run_cli(
        capsys, directory, "--out", tmp_path, "--plot", "--save-arrays", "--no-progress"
    )
    assert code == 0
    written = sorted(line.split()[-1] for line in stdout.splitlines() if "wrote " in line)
    assert written == sorted(str(p) for p in tmp_path.iterdir())
    assert len(written) == 4  # JSON, the two PNGs (cos histogram, spectrum), NPZ


# ---------------------------------------------------------------- --pairs auto and its cost


def test_auto_runs_the_exact_pass_up_to_the_flop_limit(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, stdout, _ = run_cli(capsys, directory, "--out", tmp_path, "--no-progress")
    assert code == 0
    record = only_json(tmp_path)
    variant = record["variant"]
    assert (variant["pairs_requested"], variant["pairs"]) == ("auto", "exact")
    n, m = head.shape
    assert variant["exact_pass_flops"] == n * (n - 1) * m and variant["exact_max_flops"] == 2e12
    assert variant["exact_pass_estimate_s"] > 0 and variant["matmul_gflops"] > 0
    assert record["stats"]["max_abs_cos"] == pytest.approx(
        np.abs(direct(head.numpy())).max(), rel=1e-6
    )
    # the Gram statistics and the pass are announced before the pass, the decision in the summary
    assert stdout.index("Gram statistics: mean cos^2") < stdout.index("exact pairwise pass (")
    assert stdout.index("exact pairwise pass (") < stdout.index("mean cos^2      ")
    assert "pairs auto: exact pass (" in stdout and "<= --exact-max-flops 2e+12" in stdout


def test_auto_samples_above_the_flop_limit(tmp_path, capsys, pythia_dir):
    directory, head = pythia_dir
    code, stdout, _ = run_cli(
        capsys, directory, "--out", tmp_path, "--exact-max-flops", "1000", "--no-progress"
    )
    assert code == 0
    record = only_json(tmp_path)
    variant, stats = record["variant"], record["stats"]
    assert (variant["pairs_requested"], variant["pairs"]) == ("auto", "sample")
    assert variant["exact_pass_flops"] > variant["exact_max_flops"] == 1000
    assert stats["abs_cos_method"] == "sample" and stats["sampled"]["rows_sampled"] == 72
    assert "max_abs_cos" not in stats
    cos = direct(head.numpy())  # 256 whole rows asked, 72 exist: the per-token maxima are exact
    best = np.abs(direct_matrix(head.numpy()))
    np.fill_diagonal(best, -1.0)
    assert stats["sampled"]["mean_max_abs_cos"] == pytest.approx(best.max(axis=1).mean(), abs=1e-6)
    low, high = stats["sampled"]["interval"]["mean_abs_cos"]
    assert low <= np.mean(np.abs(cos)) <= high
    assert stats["mean_cos2"] == pytest.approx(np.mean(cos**2), rel=1e-6)  # still exact
    assert "over --exact-max-flops" in stdout and "> --exact-max-flops 1e+03" in stdout
    assert "(sampled)" in stdout


@pytest.mark.parametrize(
    "flag", ["--exact-max-flops=-1", "--exact-max-flops=nan", "--precision=0", "--precision=1"]
)
def test_bad_exact_max_flops_or_precision_is_a_one_line_error(tmp_path, capsys, flag):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, _gpt2(tmp_path), "--out", out, flag)
    assert_one_line_error(code, stdout, stderr, flag.split("=")[0])
    assert not out.exists()


@pytest.mark.parametrize("budget", ["0", "-5", "soon", "nan"])
def test_bad_time_budget_is_a_one_line_error(tmp_path, capsys, budget):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, _gpt2(tmp_path), "--out", out, f"--time-budget={budget}")
    assert_one_line_error(code, stdout, stderr, "duration")
    assert not out.exists()


# ------------------------------------------------------------- zero and tiny rows, reported


def test_zero_rows_are_excluded_and_the_summary_says_why(tmp_path, capsys):
    W = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    W[[3, 7]] = 0.0
    np.save(tmp_path / "w.npy", W)
    code, stdout, _ = run_cli(capsys, tmp_path / "w.npy", "--out", tmp_path / "out")
    assert code == 0
    assert "rows used=38 of 40 (excluded: 2 zero rows (no direction))" in stdout
    record = only_json(tmp_path / "out")
    assert record["variant"]["n_zero_rows_excluded"] == 2
    kept = np.delete(W, [3, 7], axis=0)
    assert record["stats"]["mean_cos2"] == pytest.approx(np.mean(direct(kept) ** 2), rel=1e-6)


def test_tiny_rows_are_measured_exactly_and_warned_about(tmp_path, capsys):
    W = np.random.default_rng(2).standard_normal((60, 8)).astype(np.float32)
    W[:3] *= 1e-30
    np.save(tmp_path / "w.npy", W)
    code, _, stderr = run_cli(capsys, tmp_path / "w.npy", "--out", tmp_path / "out")
    assert code == 0
    assert "warning: 3 row(s) have norms below 0.0001 x the median norm (rows 0, 1, 2" in stderr
    record = only_json(tmp_path / "out")
    cos = direct(W)  # float64 normalisation: the direction of a 1e-30 row is exact
    assert record["stats"]["mean_cos2"] == pytest.approx(np.mean(cos**2), rel=1e-6)
    assert record["stats"]["m_times_mean_cos2"] == pytest.approx(8 * np.mean(cos**2), rel=1e-6)
    assert record["row_norms"]["n_tiny"] == 3 and record["row_norms"]["n_zero"] == 0
    assert record["stats"]["participation_ratio"] > 5  # the epsilon used to collapse these rows


def test_an_error_among_several_sources_names_the_path_once(tmp_path, capsys):
    (tmp_path / "empty.npy").write_bytes(b"")
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, tmp_path / "empty.npy", _gpt2(tmp_path), "--out", out)
    assert code == 1 and len(stderr.splitlines()) == 1
    assert stderr.count(str(tmp_path / "empty.npy")) == 1


@pytest.mark.parametrize(
    ("option", "needle"), [("--seed=-1", "--seed"), ("--memory-budget=0", "--memory-budget")]
)
def test_nonsense_measure_options_are_one_line_errors(tmp_path, capsys, option, needle):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, _gpt2(tmp_path), "--out", out, option)
    assert_one_line_error(code, stdout, stderr, needle)
    assert not out.exists()
