"""A sweep interrupted by SIGINT half-way resumes: units done before are not redone, nothing is
corrupt, the rest completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llmgeom.sweep.config import load_config
from llmgeom.sweep.engine import STATUS_FILE, run_sweep
from llmgeom.sweep.plan import expand_units
from llmgeom.sweep.units import unit_done

N_UNITS = 8


def _write_heads(folder: Path) -> Path:
    """Eight random 4000 x 64 heads as .npy and a sweep measuring each with the exact pass
    (about half a second per unit), so that SIGINT can land half-way."""
    rng = np.random.default_rng(0)
    for i in range(N_UNITS):
        np.save(folder / f"head{i}.npy", rng.standard_normal((4000, 64)).astype(np.float32))
    names = ", ".join(f'"head{i}.npy"' for i in range(N_UNITS))
    config = folder / "heads.toml"
    config.write_text(f'out = "out"\nmodels = [{names}]\n[measure]\npairs = "exact"\n')
    return config


def _ok_units(out: Path) -> list[str]:
    try:
        units = json.loads((out / STATUS_FILE).read_text())["units"]
    except (OSError, ValueError):
        return []
    return [u["id"] for u in units if u["state"] == "ok"]


@pytest.mark.slow  # about 13 s on 2 busy cores: a process start and two dozen exact passes
def test_sigint_half_way_then_rerun_completes_without_redoing_anything(tmp_path):
    config = _write_heads(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "llmgeom", "sweep", str(config), "--no-progress"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not _ok_units(out):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no unit finished in 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    assert "llmgeom sweep: interrupted" in stderr
    done_before = _ok_units(out)
    assert 1 <= len(done_before) < N_UNITS  # interrupted half-way
    # no temporary file left, every finished unit's files parse
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    units = expand_units(load_config(config))
    assert sorted(u.id for u in units if unit_done(u, str(out))) == sorted(done_before)
    stamps = {
        name: (out / name).stat().st_ino for u in units if u.id in done_before for name in u.outputs
    }
    status = json.loads((out / STATUS_FILE).read_text())
    assert {u["state"] for u in status["units"]} == {"ok", "pending"}

    result = run_sweep(load_config(config), jobs=1, progress=False, echo=False)
    assert sorted(result.skipped) == sorted(done_before)
    assert sorted(o.id for o in result.outcomes) == sorted(
        u.id for u in units if u.id not in done_before
    )
    assert result.exit_code == 0 and all(o.ok for o in result.outcomes)
    assert {name: (out / name).stat().st_ino for name in stamps} == stamps  # not rewritten
    assert all(unit_done(u, str(out)) for u in units)
    final = {u["id"]: u for u in json.loads((out / STATUS_FILE).read_text())["units"]}
    assert {u["state"] for u in final.values()} == {"ok"}
    assert all(final[i]["attempts"] == 1 for i in final)  # no unit ran twice
