"""A results folder built once per session by llmgeom's own commands, for the report tests.

Under ``results/``: ``measure/`` (2 families x 3 head widths: designed GPT-2s of widths 16,
32, 64 and OPT heads of 8, 16 and 32 columns, the 16-wide one OPT-350m-like with d_model 64;
the 32-wide GPT-2 measured again with ``--weights``, which adds a weighted block to its
record), ``loss/`` (the three GPT-2s on two corpora, with ``losses.csv``), ``freq/`` (one
tokenizer on both corpora), ``fits/`` (overlap, width-loss and Chinchilla fits), ``toy/`` (a
2 x 2 grid of gamma x alpha, three widths, a few steps), ``toy-more/`` (strong runs of the exp
and linear families and of power at density 0.5) and ``training/``
(EleutherAI/pythia-70m at two ``stepN`` revisions, served by the fake Hub).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tiny_models
import torch
from text.helpers import designed_gpt2, designed_loss, write_corpus

from llmgeom.cli import main
from llmgeom.report import ReportResult, build_report

HUB_TESTS = Path(__file__).resolve().parent.parent / "hub"
GPT2_WIDTHS = (16, 32, 64)
OPT_MODELS = {"opt-w8": (8, None), "opt-w32": (32, None), "opt-proj": (64, 16)}  # width, head
TOY_TOML = """\
name = "tiny"
n = 40
m = [3, 5, 8]
steps = 30
batch = 32
warmup = 3
eval_samples = 256
threads = 1
alpha = [1.0, 2.0]
gamma = [-1.0, 0.5]
"""
#: The strong regime's other frequency families and a second activation density (Fig 1b/4a, 7).
TOY_MORE_TOML = """\
name = "tiny-more"
n = 40
m = [3, 5, 8]
steps = 30
batch = 32
warmup = 3
eval_samples = 256
threads = 1

[[runs]]
gamma = -1.0
family = "exp"

[[runs]]
gamma = -1.0
family = "linear"

[[runs]]
gamma = -1.0
alpha = 1.0
density = 0.5
"""
REVISIONS = ("step1000", "step143000")


@dataclass
class Built:
    """Where the session's results are, and the models and corpora they came from."""

    root: Path
    results: Path
    models: dict[str, Path]
    corpora: dict[str, Path]


def _run(*argv: str) -> None:
    code = main([*argv])
    assert code == 0, f"llmgeom {' '.join(argv)} failed"


def _hub_measurements(root: Path, out: Path) -> None:
    """Measure Pythia-70m's training checkpoints through the fake Hub (tests/hub)."""
    sys.path.insert(0, str(HUB_TESTS))
    from hub_repos import build_repos
    from hub_server import FakeHub

    spec = importlib.util.spec_from_file_location("hub_conftest", HUB_TESTS / "conftest.py")
    hub_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hub_conftest)
    hub = FakeHub().start()
    try:
        build_repos(hub)
        with pytest.MonkeyPatch.context() as mp:
            from huggingface_hub import constants

            hub_conftest.point_hub_at(mp, hub.url, root / "hf-home")
            mp.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
            mp.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            for revision in REVISIONS:
                _run(
                    "measure",
                    "EleutherAI/pythia-70m",
                    "--revision",
                    revision,
                    "--out",
                    str(out),
                    "--no-progress",
                    "--device",
                    "cpu",
                )
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """Every kind of result, each written by the llmgeom command that owns it."""
    root = tmp_path_factory.mktemp("report-session")
    results = root / "results"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        corpora = write_corpus(root / "corpora")
        models: dict[str, Path] = {}
        for width in GPT2_WIDTHS:
            name = f"gpt2-w{width}"
            models[name] = designed_gpt2(root / "models" / name, width, designed_loss(width))
        for name, (width, head) in OPT_MODELS.items():
            torch.manual_seed(width)
            models[name] = root / "models" / name
            tiny_models.opt(vocab=120, width=width, proj_dim=head).save_pretrained(models[name])
        measure = results / "measure"
        for path in models.values():
            _run("measure", str(path), "--out", str(measure), "--no-progress", "--device", "cpu")
        for width in GPT2_WIDTHS:
            _run(
                "loss",
                str(models[f"gpt2-w{width}"]),
                "--corpus",
                str(corpora["txt"]),
                "--corpus",
                str(corpora["jsonl"]),
                "--out",
                str(results / "loss"),
                "--no-progress",
                "--device",
                "cpu",
            )
        _run(
            "freq",
            str(models["gpt2-w16"]),
            "--corpus",
            str(corpora["txt"]),
            "--corpus",
            str(corpora["jsonl"]),
            "--tokens",
            "0",
            "--out",
            str(results / "freq"),
            "--no-progress",
        )
        fits = str(results / "fits")
        _run("fit", "overlap", str(measure), "--bootstrap", "50", "--out", fits)
        _run(
            "fit", "loss", str(results / "loss" / "losses.csv"), "--bootstrap", "20", "--out", fits
        )
        _run("fit", "chinchilla", "--out", fits)
        _run(
            "measure",
            str(models["gpt2-w32"]),
            "--weights",
            str(results / "freq" / "gpt2-w16.a.counts.npz"),
            "--out",
            str(measure),
            "--no-progress",
            "--device",
            "cpu",
        )
        toml = root / "toy.toml"
        toml.write_text(TOY_TOML)
        _run("toy", "sweep", str(toml), "--out", str(results / "toy"), "--no-progress")
        more = root / "toy-more.toml"
        more.write_text(TOY_MORE_TOML)
        _run("toy", "sweep", str(more), "--out", str(results / "toy-more"), "--no-progress")
        _hub_measurements(root, results / "training")
    finally:
        torch.set_num_threads(threads)
    return Built(root, results, models, corpora)


@pytest.fixture(scope="session")
def site(built, tmp_path_factory) -> ReportResult:
    """The report of :func:`built`'s results, written outside the results folder."""
    return build_report(built.results, tmp_path_factory.mktemp("site") / "report")
