"""Configuration validation, TOML loading and the shipped presets."""

from __future__ import annotations

from pathlib import Path

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
        ({"n": 100, "device": "tpu"}, "device must be one of"),
        ({"n": 100, "m": (5, 5, 6)}, "distinct"),
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
        ("n = 50\nm = [4, 8]\nwidth = 3\n", "unknown field"),
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
    assert [(r.gamma, r.alpha) for r in small.runs] == [(-1.0, 1.0), (0.55, 2.0)]
    large = load_config("paper-large")
    assert large.n == 10240 and large.m == tuple(2**k for k in range(3, 11))
    assert large.lr_w(8) == pytest.approx(0.02) and large.lr_w(128) == pytest.approx(0.01)
    assert large.lr_b(64) == pytest.approx(2 / 64) and large.warmup_steps == 2000
    quick = load_config("quick")
    assert quick.n == 1000 and quick.m == small.m and quick.steps * quick.batch < 20000 * 2048
