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


@pytest.mark.slow  # 7-13 s each on 2 busy cores: a process start and a dozen exact passes
@pytest.mark.parametrize(
    ("sig", "jobs"),
    [(signal.SIGINT, 1), (signal.SIGKILL, 2)],
    ids=["sigint-in-process", "sigkill-with-workers"],
)
def test_interrupted_half_way_then_rerun_completes_without_redoing_anything(tmp_path, sig, jobs):
    config = _write_heads(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "llmgeom", "sweep", str(config), "--no-progress"]
    argv += ["--jobs", str(jobs)]
    pipe = subprocess.PIPE
    proc = subprocess.Popen(argv, stdout=pipe, stderr=pipe, env=env, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _ok_units(out):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no unit finished in 120 s"
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    units = expand_units(load_config(config))
    if sig == signal.SIGINT:
        assert proc.returncode == 130, (stdout, stderr)
        assert "llmgeom sweep: interrupted" in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
        listing = sorted(p.name for p in out.iterdir())
        time.sleep(1.5)  # a worker left running would write its unit's result meanwhile
        assert sorted(p.name for p in out.iterdir()) == listing, "a worker outlived the sweep"
    recorded = _ok_units(out)
    done_before = [u.id for u in units if unit_done(u, str(out))]
    assert 1 <= len(done_before) < N_UNITS  # interrupted half-way
    assert set(recorded) <= set(done_before)  # (a unit may finish as the sweep is killed)
    if sig == signal.SIGINT:
        assert sorted(recorded) == sorted(done_before)
    # no temporary file left, every finished unit's files parse
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    stamps = {
        name: (out / name).stat().st_ino for u in units if u.id in done_before for name in u.outputs
    }
    status = json.loads((out / STATUS_FILE).read_text())
    assert {u["state"] for u in status["units"]} == {"ok", "pending"}
    if jobs > 1:  # a unit a worker process ran gives what it gives in this process
        from dataclasses import replace

        unit = next(u for u in units if u.id in done_before)
        here = replace(load_config(config), out=tmp_path / "here")
        run_sweep(here, units=[unit], jobs=1, progress=False, echo=False)
        worker = json.loads((out / unit.outputs[0]).read_text())["stats"]
        mine = json.loads((here.out / unit.outputs[0]).read_text())["stats"]
        for key in ("mean_cos2", "mean_abs_cos", "std_abs_cos", "max_abs_cos"):
            assert worker[key] == pytest.approx(mine[key], rel=1e-6), key

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
    assert all(final[i]["attempts"] <= 1 for i in final)  # no unit ran twice
