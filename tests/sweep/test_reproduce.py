"""``llmgeom reproduce paper`` end to end on the test suite's fake Hub: tiny stand-ins under the
real ids for the measure units, designed local models (a known loss law) for the loss units on
small local corpora, a tiny toy file; then the three fits and the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sweep_helpers import write_corpus
from text.helpers import ALPHA, designed_gpt2, designed_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from hub_repos import build_repos
from hub_server import FakeHub

from llmgeom.cli import main

WIDTHS = (16, 32, 64)
CONFIG = """out = "unused"
models = [
  "gpt2", "pythia-70m", "opt-125m", "qwen2.5-0.5b",
  {source = "models/d16", family = "gpt2"},
  {source = "models/d32", family = "gpt2"},
  {source = "models/d64", family = "gpt2"},
]
[measure]
pairs = "exact"
[loss]
models = ["d16", "d32", "d64"]
corpora = ["corpora/a.txt", "corpora/b.jsonl"]
max_length = 16
[freq]
models = ["d16"]
corpora = ["corpora/a.txt"]
tokens = 0
"""
TOY = 'name = "tiny"\nn = 30\nm = [3, 5]\nsteps = 4\nbatch = 16\nwarmup = 1\neval_samples = 64\n'


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """The fake Hub with the tiny repositories, huggingface_hub pointed at it."""
    import importlib.util

    from huggingface_hub import constants

    spec = importlib.util.spec_from_file_location(
        "hub_conftest", Path(__file__).resolve().parents[1] / "hub" / "conftest.py"
    )
    hub_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hub_conftest)
    hub = FakeHub().start()
    try:
        build_repos(hub)
        hub_conftest.point_hub_at(monkeypatch, hub.url, tmp_path / "hf-home")
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        yield hub
    finally:
        hub.stop()


@pytest.mark.slow  # about 15 s on 2 busy cores: measure, loss, freq, a toy, three fits, a report
def test_reproduce_paper_end_to_end_on_the_fake_hub(fake_hub, tmp_path, capsys):
    for width in WIDTHS:
        designed_gpt2(tmp_path / "models" / f"d{width}", width)
    write_corpus(tmp_path / "corpora")
    config = tmp_path / "paper-tiny.toml"
    config.write_text(CONFIG)
    (tmp_path / "toy-tiny.toml").write_text(TOY)
    out = tmp_path / "paper"
    argv = ["reproduce", "paper", "--config", str(config), "--out", str(out), "--no-progress"]
    argv += ["--models", "gpt2,pythia-70m,opt-125m,d16,d32,d64"]  # qwen left out
    argv += ["--toy", str(tmp_path / "toy-tiny.toml")]

    # the plan first: nothing written
    assert main([*argv, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "reproduce paper: 6 measure + 6 loss + 1 freq + 1 toy unit(s) (none done)" in plan
    assert "download (rough): " in plan and "compute (rough): " in plan
    assert not out.exists()

    assert main(argv) == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    assert "reproduce paper: complete" in printed
    # the measure results of the fake Hub's stand-ins, under the real ids
    names = {p.name for p in out.glob("*.raw.json")}
    assert names == {
        "openai-community--gpt2.main.raw.json",
        "EleutherAI--pythia-70m.main.raw.json",
        "facebook--opt-125m.main.raw.json",
        *(f"d{w}.raw.json" for w in WIDTHS),
    }
    gpt2 = json.loads((out / "openai-community--gpt2.main.raw.json").read_text())
    assert (gpt2["model"]["n_rows"], gpt2["model"]["head_width"]) == (96, 16)
    # the designed losses, and the width-loss fit recovers the designed exponent
    for width in WIDTHS:
        record = json.loads((out / f"d{width}.a.loss.json").read_text())
        assert record["loss"]["loss"] == pytest.approx(designed_loss(width), rel=1e-6)
    fits = out / "fits"
    assert {p.name for p in fits.glob("*.json")} == {
        "overlap_fit.json",
        "width_loss_fit_ls.json",
        "chinchilla_fit.json",
    }
    loss_fit = json.loads((fits / "width_loss_fit_ls.json").read_text())
    assert loss_fit["alpha"] == pytest.approx(ALPHA, abs=1e-4)
    chinchilla = json.loads((fits / "chinchilla_fit.json").read_text())
    assert chinchilla["k"] == pytest.approx(2.52, abs=0.01)
    # token counts, the toy run, the status of both sweeps, the report
    assert (out / "d16.a.counts.npz").is_file()
    assert (out / "toy" / "toy-tiny.json").is_file()
    status = json.loads((out / "sweep-status.json").read_text())
    assert {u["state"] for u in status["units"]} == {"ok"} and len(status["units"]) == 13
    assert (out / "report" / "index.html").is_file()

    # a second run redoes nothing: every unit is skipped
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "1 toy unit(s) (14 done)" in again.splitlines()[0]
    assert "13 of 13 unit(s) already done" in again and "1 of 1 unit(s) already done" in again
