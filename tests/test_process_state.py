"""Process-wide state is changed only inside a block that restores it, or not at all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from llmgeom._atomic import atomic_path, write_json_atomic
from llmgeom.cli import main


def test_atomic_files_get_the_umask_mode_without_the_umask_being_changed(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:

        def umask_called(mask):
            raise AssertionError("os.umask changes the mask of every thread")

        monkeypatch.setattr(os, "umask", umask_called)
        path = write_json_atomic(tmp_path / "r.json", {"x": 1})
        with atomic_path(tmp_path / "sub" / "t.txt") as tmp:
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o640  # already while being written
            tmp.write_text("done")
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # 0o666 & ~0o027, as open() would give
    assert stat.S_IMODE((tmp_path / "sub" / "t.txt").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "sub"]  # no temporary left


def test_an_atomic_write_that_fails_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "r.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_one_line_warnings_hook_is_gone_after_main(capsys, monkeypatch):
    def own_hook(*args, **kwargs):
        raise AssertionError("not during main")

    monkeypatch.setattr(warnings, "showwarning", own_hook)
    assert main(["models", "--json"]) == 0
    assert warnings.showwarning is own_hook
    assert main(["measure", "/no/such/file.npy"]) == 1  # an error path restores it too
    assert warnings.showwarning is own_hook
    with pytest.raises(SystemExit):
        main(["--version"])
    assert warnings.showwarning is own_hook
    capsys.readouterr()


def test_the_cli_prints_a_warning_as_one_line_inside_main(capsys, monkeypatch):
    import llmgeom.cli.models as models_command

    real = models_command.register

    def register(sub):
        real(sub)
        parser = sub.choices["models"]
        command = parser.get_default("func")

        def warn_then_run(args):
            warnings.warn("first line\n  second   line", UserWarning, stacklevel=1)
            return command(args)

        parser.set_defaults(func=warn_then_run)

    monkeypatch.setattr(models_command, "register", register)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["models", "--json"]) == 0
    assert capsys.readouterr().err == "llmgeom: warning: first line second line\n"


def test_the_hugging_face_cache_is_a_test_folder_from_the_first_import():
    import huggingface_hub.constants as constants

    default = Path("~/.cache/huggingface").expanduser()
    home = Path(constants.HF_HOME)  # read when huggingface_hub was first imported
    assert home != default and home.is_relative_to(tempfile.gettempdir())
    assert Path(constants.HF_HUB_CACHE).is_relative_to(home)
    assert constants.HF_HUB_DISABLE_TELEMETRY
    # the root conftest sets the environment before anything imports huggingface_hub
    probe = (
        "import runpy, sys; conftest = runpy.run_path(sys.argv[1]);"
        " import huggingface_hub.constants as c; print(c.HF_HOME); print(c.HF_HUB_CACHE);"
        " conftest['pytest_unconfigure'](None)"
    )
    env = {**os.environ, "HF_HOME": str(default), "HF_HUB_CACHE": str(default / "hub")}
    conftest = Path(__file__).with_name("conftest.py")
    out = subprocess.run(
        [sys.executable, "-c", probe, str(conftest)], env=env, capture_output=True, text=True
    )
    home_line, cache_line = out.stdout.split()
    assert Path(home_line).name.startswith("llmgeom-tests-hf-home-"), out.stderr
    assert Path(cache_line).is_relative_to(home_line)
    assert not Path(home_line).exists()  # removed when the session ends
