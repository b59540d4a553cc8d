"""Configuration validation, TOML loading and the shipped presets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from llmgeom.errors import ConfigError
from llmgeom.toy.config import ToyConfig, ToyRun, config_from_dict, list_presets, load_config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 100, "m": (10, 100)}, r"m=100 must be smaller than the number of features n=100"),
        ({"n": 100, "m": (10, 200)}, r"m=200 must be smaller"),
        ({"n": -5, "m": (2, 3)}, r"n \(number of features\) must be a positive integer, got -5"),
        ({"n": 100, "m": (0, 5)}, "positive integer"),
        ({"n": 100, "steps": 0}, "steps must be a positive integer"),
        ({"n": 100, "lr": -1.0}, "lr must be > 0"),
        ({"n": 100, "device": "tpu"}, "unknown device 'tpu'"),
        ({"n": 100, "device": "cuda:x"}, "unknown device 'cuda:x'"),
        ({"n": 100, "m": (5, 5, 6)}, "distinct"),
        ({"n": 100, "loss_scale": 0.0}, "loss_scale must be a finite number > 0, got 0.0"),
        ({"n": 100, "loss_scale": float("inf")}, "loss_scale must be a finite number > 0"),
        ({"n": 100, "fit_m_min": 0}, "fit_m_min must be a positive integer when given, got 0"),
        ({"n": 100, "fit_m_max": 2.5}, "fit_m_max must be a positive integer"),
        (
            {"n": 100, "m": (5, 10, 20, 40), "fit_m_min": 20},
            r"the fit range 20 <= m keeps 2 of the widths \[5, 10, 20, 40\]; .* at least 3",
        ),
        ({"n": 100, "fit_m_min": 10, "fit_m_max": 5}, r"10 <= m <= 5 keeps 0 of the widths"),
    ],
)
def test_bad_experiment_fields(kwargs: dict, message: str) -> None:
    kwargs.setdefault("m", (5, 10, 20))
    with pytest.raises(ConfigError, match=message):
        ToyConfig(**kwargs)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"gamma": -1.0, "family": "zipf"}, "unknown frequency family 'zipf'; choose one of"),
        ({"gamma": -1.0, "alpha": -0.5}, r"alpha \(frequency exponent\) must be >= 0, got -0.5"),
        ({"gamma": -1.0, "density": 0.0}, "density E must be > 0"),
        ({"gamma": -1.0, "seeds": (1, 1)}, "distinct"),
    ],
)
def test_bad_runs(run: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ToyConfig(n=100, m=(5, 10, 20), runs=(ToyRun(**run),))


def test_grid_and_tables(tmp_path: Path) -> None:
    cfg = config_from_dict({"n": 50, "m": [4, 8], "gamma": [-1.0, 0.5], "alpha": [1, 2]})
    assert [(r.gamma, r.alpha) for r in cfg.runs] == [(-1, 1), (0.5, 1), (-1, 2), (0.5, 2)]
    path = tmp_path / "x.toml"
    path.write_text(
        'n = 50\nm = [4, 8]\nfamily = "exp"\n'
        "[[runs]]\ngamma = -1\n[[runs]]\ngamma = 0.3\nalpha = 2\n"
    )
    cfg = load_config(path)
    assert cfg.name == "x"
    assert [(r.gamma, r.alpha, r.family) for r in cfg.runs] == [(-1, 1, "exp"), (0.3, 2, "exp")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n = 50\nm = [4, 8]\nwidth = 3\n", r"unknown field\(s\) width \(known: alpha, batch, "),
        ("n = 50\nm = [4, 8]\nsteps = 0\n", r"bad\.toml: steps must be a positive integer, got 0"),
        ("n = 50\nm = [4, 8]\n[[runs]]\nalpha = 1\n", "needs a gamma"),
        ("n = 50\nm = [4, 8]\n[[runs]]\ngamma = 'x'\n", "gamma must be a number"),
        ("n = [50\n", "invalid TOML"),
        ("n = 50\nm = [4, 80]\n", "m=80 must be smaller"),
    ],
)
def test_bad_toml_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_unknown_preset_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match=r"presets: .*quick"):
        load_config("no-such-preset")


def test_shipped_presets_are_the_documented_settings() -> None:
    assert {"quick", "paper-small", "paper-large"} <= set(list_presets())
    small = load_config("paper-small")
    assert (small.n, small.m, small.steps, small.batch, small.lr) == (
        1000,
        (10, 15, 25, 39, 63, 100),
        20000,
        2048,
        1e-2,
    )
    assert small.warmup_steps == 2000 and small.final_lr_fraction == 0.05
    # strong γ = -1 at α = 1; weak at α = 2 with the grid's γ = linspace(-1, 1, 10)[5], [6]
    grid = np.linspace(-1.0, 1.0, 10)
    three = [(-1.0, 1.0), (1 / 9, 2.0), (3 / 9, 2.0)]
    assert [(r.gamma, r.alpha) for r in small.runs] == three
    assert [r.gamma for r in small.runs[1:]] == pytest.approx(grid[5:7], abs=1e-15)
    assert small.loss_scale == 1.0 and small.fit_widths() == small.m
    large = load_config("paper-large")
    assert large.n == 10240 and large.m == tuple(2**k for k in range(3, 11))
    assert large.lr_w(8) == pytest.approx(0.02) and large.lr_w(128) == pytest.approx(0.01)
    assert large.lr_b(64) == pytest.approx(2 / 64) and large.warmup_steps == 2000
    assert [(r.gamma, r.alpha) for r in large.runs] == [(-1.0, 1.2), (0.1, 1.2)]
    assert large.loss_scale == 100.0  # exp-17.py: loss * 100 before backward
    assert large.fit_widths() == (32, 64, 128, 256, 512, 1024)  # the notebook's m >= 32
    quick = load_config("quick")
    assert quick.n == 1000 and quick.m == small.m and quick.steps * quick.batch < 20000 * 2048
    assert [(r.gamma, r.alpha) for r in quick.runs] == three


def test_phase_preset_is_the_papers_grid() -> None:
    """Fig 4b: α ∈ {0, 0.125, ..., 2} × γ = linspace(-1, 1, 10), the small setting."""
    phase = load_config("phase")
    assert len(phase.runs) == 170
    alphas = [k / 8 for k in range(17)]
    gammas = [float(Fraction(2 * k - 9, 9)) for k in range(10)]  # exact (2k - 9)/9, rounded
    assert [(r.gamma, r.alpha) for r in phase.runs] == [(g, a) for a in alphas for g in gammas]
    assert gammas == pytest.approx(np.linspace(-1.0, 1.0, 10).tolist(), abs=1e-15)
    assert {(r.family, r.density, r.seeds) for r in phase.runs} == {("power", 1.0, (0,))}
    assert len({r.data_key for r in phase.runs}) == 17  # one shared data stream per α
    assert (phase.n, phase.m, phase.steps, phase.batch, phase.lr, phase.warmup_steps) == (
        1000,
        (10, 15, 25, 39, 63, 100),
        20000,
        2048,
        1e-2,
        2000,
    )


def test_fit_range_and_loss_scale_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        "n = 50\nm = [4, 8, 16, 32, 40]\nfit_m_min = 8\nfit_m_max = 32\nloss_scale = 100\n"
    )
    cfg = load_config(path)
    assert cfg.fit_widths() == (8, 16, 32) and cfg.loss_scale == 100
    assert cfg.to_dict()["fit_m_min"] == 8 and cfg.to_dict()["loss_scale"] == 100
