"""``reproduce paper`` runs the CPU phase diagram and the density preset, and the full grid only
where a GPU is present."""

from __future__ import annotations

import tomllib

import pytest

from llmgeom.configs import config_path
from llmgeom.paper.reproduce import default_toy_presets, reproduce_paper


def _runs_in(preset: str) -> int:
    """Runs of a shipped preset, counted from the TOML itself: its [[runs]] or its γ × α grid."""
    data = tomllib.loads(config_path(f"toy-{preset}.toml").read_text())
    if "runs" in data:
        return len(data["runs"])
    return len(data["gamma"]) * len(data["alpha"])


@pytest.mark.parametrize("gpu", [False, True])
def test_the_dry_run_lists_phase_small_and_the_full_grid_only_with_a_gpu(
    gpu: bool, monkeypatch, tmp_path, capsys
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    expected = ["paper-small", "paper-large", "phase-small", "density"] + (["phase"] if gpu else [])
    assert list(default_toy_presets()) == expected
    result = reproduce_paper(tmp_path / "out", models=["gpt2"], dry_run=True)
    assert result.exit_code == 0 and result.toy is None  # nothing ran
    plan = capsys.readouterr().out.splitlines()[0]
    units = sum(_runs_in(p) for p in expected)
    assert units == (191 if gpu else 21)  # 3 + 2 + 12 + 4 (+ the paper's 17 × 10 grid)
    assert f"+ {units} toy unit(s) (none done)" in plan


def test_an_explicit_toy_list_is_run_as_given(tmp_path, capsys) -> None:
    reproduce_paper(tmp_path / "out", models=["gpt2"], toy=("phase-small",), dry_run=True)
    assert "+ 12 toy unit(s)" in capsys.readouterr().out.splitlines()[0]
