"""Progress bars: quiet by default off a terminal, forced on or off, and inherited by loaders."""

from __future__ import annotations

import numpy as np
import torch

import llmgeom.progress as progress
from llmgeom.geometry.measurement import measure
from llmgeom.progress import progress_bar, progress_setting


def test_explicit_choice_wins_over_the_enclosing_setting():
    with progress_setting(True):
        assert progress_bar(10, "x").disable is False
        assert progress_bar(10, "x", progress=False).disable is True
    with progress_setting(False):
        assert progress_bar(10, "x").disable is True
        assert progress_bar(10, "x", progress=True).disable is False


def test_a_forced_bar_shows_the_fraction_and_the_eta(monkeypatch, capsys):
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    with progress_setting(True), progress_bar(4 * 2**20, "checksum", unit="B") as bar:
        bar.update(2**20)
        bar.refresh()
    err = capsys.readouterr().err
    assert "checksum" in err and "25%" in err and "1.00M/4.00M" in err and "<" in err


def test_measure_with_progress_off_prints_nothing_even_inside_loaders(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    np.save(tmp_path / "w.npy", np.random.default_rng(0).standard_normal((300, 8), "float32"))
    measure(str(tmp_path / "w.npy"), progress=False)
    assert capsys.readouterr().err == ""
    measure(torch.randn(300, 8), progress=True)
    assert "row norms" in capsys.readouterr().err
