"""Without Ray, ``--executor ray`` is one line saying how to install it (runs with or without
Ray installed: the import is blocked here), and nothing is written."""

from __future__ import annotations

import sys

from llmgeom.cli import main


def test_ray_executor_without_ray_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    config = tmp_path / "sweep.toml"
    config.write_text(
        'out = "res"\n[[toy]]\nname = "t"\nn = 30\nm = [3]\nsteps = 2\nbatch = 8\nwarmup = 1\n'
        "eval_samples = 16\n",
        encoding="utf-8",
    )
    code = main(["sweep", str(config), "--executor", "ray", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == (
        "llmgeom sweep: error: the ray executor needs `pip install llmgeom[ray]`\n"
    )
    assert not (tmp_path / "res").exists()
