"""``llmgeom toy run`` / ``sweep``: files written, results content, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from llmgeom.cli import main

TINY = ["--n", "60", "--m", "4,8,16", "--steps", "30", "--batch", "64", "--eval-samples", "256"]


def test_run_writes_json_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["toy", "run", *TINY, "--gamma=-1,0.5", "--alpha", "1.5", "--out", str(tmp_path)]
    assert main([*argv, "--no-progress", "--name", "t", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "α_m = " in out and "γ=-1 α=1.5 power (strong superposition)" in out
    doc = json.loads((tmp_path / "toy-t.json").read_text())
    assert (tmp_path / "toy-t_loss.png").stat().st_size > 1000
    assert (tmp_path / "toy-t_phi.png").stat().st_size > 1000
    assert doc["schema"] == "llmgeom.toy.result/2"
    assert doc["config"]["n"] == 60 and doc["config"]["warmup_steps"] == 3  # 10 % of the steps
    assert {"llmgeom", "torch", "numpy", "python"} <= set(doc["versions"])
    assert doc["timings"]["wall_s"] > 0 and doc["threads"] == 1
    assert [(r["gamma"], r["alpha"], r["regime"]) for r in doc["runs"]] == [
        (-1.0, 1.5, "strong"),
        (0.5, 1.5, "weak"),
    ]
    for run in doc["runs"]:
        assert [r["m"] for r in run["per_m"]] == [4, 8, 16]
        assert set(run["fit"]) >= {"exponent", "exponent_se", "exponent_ci95"}
        assert run["fit"]["m_used"] == [4, 8, 16] and run["fit"]["m_min"] is None
        for row in run["per_m"]:
            assert row["loss"] > 0 and 0 <= row["phi"] <= 1
            assert row["two_m_over_n"] == pytest.approx(2 * row["m"] / 60)
            assert row["inverse_m"] == pytest.approx(1 / row["m"])
            assert row["n_represented"] == round(row["phi"] * 60)
            assert row["n_strong"] == round(row["strong_fraction"] * 60)
            if row["mean_cos2_strong"] is not None:
                assert row["m_cos2_strong"] == pytest.approx(row["m"] * row["mean_cos2_strong"])
            if row["unlearned_prediction"] > 0:
                ratio = row["loss"] / row["unlearned_prediction"]
                assert row["loss_over_unlearned"] == pytest.approx(ratio)
            else:
                assert row["loss_over_unlearned"] is None


def test_sweep_runs_toml_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "toy-mini.toml"
    cfg.write_text(
        "n = 50\nm = [3, 6, 12]\nsteps = 20\nbatch = 32\nwarmup = 2\neval_samples = 128\n"
        "gamma = [-1.0, 0.3]\n"
    )
    out = tmp_path / "out"
    assert main(["toy", "sweep", str(cfg), "--out", str(out), "--no-progress", "--no-plots"]) == 0
    doc = json.loads((out / "toy-mini.json").read_text())
    assert doc["name"] == "mini" and len(doc["runs"]) == 2
    assert not list(out.glob("*.png"))
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--n", "100", "--m", "10,150"],
            "width m=150 must be smaller than the number of features",
        ),
        (["--n", "-3"], "error: --n (number of features) must be a positive integer, got -3"),
        (["--family", "zipf"], "unknown frequency family 'zipf'"),
        (["--alpha", "-1"], "error: --alpha (frequency exponent) must be >= 0"),
        (["--steps", "0"], "error: --steps must be a positive integer, got 0"),
        (["--seeds", "1,1"], "error: --seeds must be distinct, got [1, 1]"),
        (["--gamma", "x"], "--gamma: expected comma-separated float values"),
        (["--preset", "nope"], "no config file or preset named 'nope'"),
        (["--loss-scale", "0"], "error: --loss-scale must be a finite number > 0"),
        (["--fit-m-min", "50"], "the fit range 50 <= m keeps 2 of the widths"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert main(["toy", "run", *args, "--out", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llmgeom toy: error: ") and message in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_sweep_validates_every_file_before_training(tmp_path: Path, capsys) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("n = 50\nm = [3, 6, 12]\nsteps = 5\n")
    bad.write_text("n = 50\nm = [3, 60]\n")
    assert main(["toy", "sweep", str(good), str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "m=60 must be smaller" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_help_shows_examples(capsys: pytest.CaptureFixture) -> None:
    for argv in (["toy", "--help"], ["toy", "run", "--help"], ["toy", "sweep", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_fit_range_loss_scale_and_safetensors_models(tmp_path: Path, capsys) -> None:
    from safetensors import safe_open

    from llmgeom.toy.experiment import load_trained

    argv = ["toy", "run", *TINY, "--m", "4,8,16,32", "--gamma=-1", "--fit-m-min", "8"]
    argv += ["--loss-scale", "100", "--out", str(tmp_path), "--name", "r", "--no-progress"]
    assert main([*argv, "--no-plots", "--save-models", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "loss_scale=100" in out and "fit on 8 <= m: 3 of 4 widths" in out
    doc = json.loads((tmp_path / "toy-r.json").read_text())
    assert doc["config"]["loss_scale"] == 100 and doc["config"]["fit_m_min"] == 8
    fit = doc["runs"][0]["fit"]
    assert (fit["m_min"], fit["m_max"], fit["m_used"], fit["n_points"]) == (8, None, [8, 16, 32], 3)
    path = tmp_path / "toy-r_models.safetensors"
    assert not list(tmp_path.glob("*.pt"))
    assert path.stat().st_mode == (tmp_path / "toy-r.json").stat().st_mode  # not mkstemp's 0600
    with safe_open(str(path), framework="pt") as f:  # plain safetensors, no pickle
        assert sorted(f.keys()) == sorted(
            f"run0.seed0.m{m}.{p}" for m in (4, 8, 16, 32) for p in ("W", "b")
        )
        assert f.get_tensor("run0.seed0.m8.W").shape == (60, 8)
        assert json.loads(f.metadata()["config"])["loss_scale"] == 100
    loaded = load_trained(path)
    assert loaded.config.loss_scale == 100 and loaded.config.fit_m_min == 8
    by_m = {row["m"]: row for row in doc["runs"][0]["per_m"]}
    for t in loaded.models:
        assert t.eval_loss == by_m[t.m]["loss"]
        assert float(t.W.norm(dim=1).gt(0.5).sum()) == by_m[t.m]["n_represented"]


def test_load_trained_refuses_other_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from llmgeom.errors import CorruptCheckpointError, SourceNotFoundError
    from llmgeom.toy.experiment import load_trained

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CorruptCheckpointError, match="unreadable toy-model file"):
        load_trained(junk)
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(CorruptCheckpointError, match="not a toy-model file"):
        load_trained(other)
    with pytest.raises(SourceNotFoundError):
        load_trained(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_unwritable_out_fails_before_training(tmp_path: Path, capsys, monkeypatch, command):
    import llmgeom.toy.experiment

    monkeypatch.setattr(llmgeom.toy.experiment, "train", lambda *a, **k: 1 / 0)
    (tmp_path / "file").write_text("x")
    source = ["--preset", "quick"] if command == "run" else ["quick"]
    argv = ["toy", command, *source, "--out", str(tmp_path / "file" / "toy")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "is not a directory" in err and len(err.splitlines()) == 1


def test_run_help_shows_the_dataclass_defaults(capsys) -> None:
    from llmgeom.toy.config import ToyConfig

    with pytest.raises(SystemExit):
        main(["toy", "run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    options = text[text.index("options:") :]  # past the usage line
    cfg = ToyConfig()
    run = cfg.runs[0]
    for flag, value in {
        "--n N": cfg.n,
        "--m M": ",".join(map(str, cfg.m)),
        "--gamma GAMMA": f"{run.gamma:g}",
        "--alpha ALPHA": f"{run.alpha:g}",
        "--density DENSITY": f"{run.density:g}",
        "--decay DECAY": f"{run.decay:g}",
        "--steps STEPS": cfg.steps,
        "--batch BATCH": cfg.batch,
        "--lr LR": f"{cfg.lr:g}",
        "--seed SEED": cfg.seed,
        "--eval-samples EVAL_SAMPLES": cfg.eval_samples,
    }.items():
        after = options[options.index(flag) + len(flag) :]
        shown = after[: after.index(")")]  # the help up to the end of its "(default ...)"
        assert shown.endswith(f"default {value}"), (flag, shown)
    assert f"warm-up steps (default {100 * cfg.warmup_steps // cfg.steps}% of --steps)" in text
    assert f"n={cfg.n}, {cfg.steps} steps, batch {cfg.batch}" in text  # the epilog too


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_cuda_without_a_gpu_is_a_one_line_error_before_anything(
    tmp_path: Path, capsys, command, without_cuda
):
    source = TINY if command == "run" else ["quick"]
    argv = ["toy", command, *source, "--device", "cuda:0", "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == "llmgeom toy: error: device 'cuda:0' requested but no CUDA GPU is available\n"
    assert not (tmp_path / "o").exists()


def test_device_cpu_and_cuda_n_in_a_config(tmp_path: Path, capsys) -> None:
    from llmgeom.toy.config import ToyConfig

    assert ToyConfig(n=50, m=(3, 6, 12), device="cuda:1").device == "cuda:1"  # checked at run
    argv = ["toy", "run", *TINY, "--device", "cpu", "--out", str(tmp_path), "--no-plots"]
    assert main([*argv, "--no-progress", "--name", "c"]) == 0
    assert json.loads((tmp_path / "toy-c.json").read_text())["device"] == "cpu"


def test_a_value_from_a_file_is_named_by_its_key_not_a_flag(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("n = 50\nm = [3, 6, 12]\nsteps = 0\n")
    assert main(["toy", "run", "--config", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err == f"llmgeom toy: error: {bad}: steps must be a positive integer, got 0\n"


def test_every_toyconfig_flag_is_named_after_its_field_with_the_same_default(capsys) -> None:
    """The flags of ``toy run`` that set ToyConfig/ToyRun fields are derived from them: the
    flag is the field's name (its TOML key) with dashes, and nothing given is the dataclass."""
    import argparse
    from dataclasses import fields

    from llmgeom.cli import toy
    from llmgeom.toy.config import ToyConfig, ToyRun

    parser = argparse.ArgumentParser(prog="llmgeom")
    toy.register(parser.add_subparsers(dest="command"))
    run_parser = parser._subparsers._group_actions[0].choices["toy"]  # type: ignore[union-attr]
    run_parser = run_parser._subparsers._group_actions[0].choices["run"]
    by_dest = {a.dest: a for a in run_parser._actions}
    exposed = {
        f.name: f for cls in (ToyConfig, ToyRun) for f in fields(cls) if f.metadata.get("flag")
    }
    assert set(exposed) == {  # the CLI's part of the TOML keys; the rest are files only
        *("n", "m", "steps", "batch", "lr", "warmup", "loss_scale", "fit_m_min", "fit_m_max"),
        *("seed", "eval_samples", "device", "threads", "name", "family", "density", "decay"),
    }
    for name, f in exposed.items():
        flag = "--" + name.replace("_", "-")
        assert f.metadata["flag"] == flag and by_dest[name].option_strings[0] == flag
        assert by_dest[name].default is None  # not given: the dataclass default applies
    cfg = toy.build_run_config(parser.parse_args(["toy", "run"]))
    default = ToyConfig(name="run")  # without --preset/--config/--name, the experiment is "run"
    assert cfg == default and cfg.to_dict() == default.to_dict()
    with pytest.raises(SystemExit):
        main(["toy", "run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    options = text[text.index("options:") :]  # past the usage line
    for name, f in exposed.items():
        if f.default is None or name in ("device", "name", "warmup"):  # help says it in words
            continue
        value = f.default
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        shown = f"{shown:g}" if isinstance(shown, float) else shown
        after = options[options.index(f.metadata["flag"] + " ") :]
        help_default = after[: after.index(")")].split("(default ")[1].split(";")[0]
        assert help_default == str(shown), (name, after[:80])
    given = ["--m", "4,8,16", "--n", "60", "--warmup", "3", "--decay", "9", "--threads", "2"]
    cfg = toy.build_run_config(parser.parse_args(["toy", "run", *given]))
    assert (cfg.m, cfg.n, cfg.warmup, cfg.runs[0].decay, cfg.threads) == ((4, 8, 16), 60, 3, 9.0, 2)
