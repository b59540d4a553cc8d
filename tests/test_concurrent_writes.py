"""Writers and readers of one results folder at once (issue 19, "Also"): two ``measure``
processes saving the same result, a ``sweep`` and a ``report`` on the same folder, and a
``report`` over a folder where a write was cut by SIGKILL. Nothing lost, nothing half-read, a
clear message. Real subprocesses on tiny checkpoints (``tests/checkpoints.py``)."""

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
from checkpoints import SPECS, write_checkpoint

from llmgeom._atomic import interrupted_write
from llmgeom.report.gather import TEMPORARY, gather

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
SAVES = 60  # saves of the same record per process (a few hundred ms of overlap)

SAVER = """
import sys, time
from pathlib import Path
import llmgeom
from llmgeom.records.measurement import save_record
checkpoint, out, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
record = llmgeom.measure(checkpoint, pairs=sys.argv[4], progress=False).to_dict()
Path(f"{go}.{sys.argv[4]}").write_text("ready")
while not go.exists():  # both processes ready: start together
    time.sleep(0.005)
for _ in range(int(sys.argv[5])):
    save_record(record, out)
"""


@pytest.mark.slow  # real processes: a few seconds each on an idle machine
def test_two_measure_processes_saving_one_record_lose_no_run(tmp_path):
    # each save of the same tensor under the same settings merges into one file and appends to
    # its history: a read-merge-rename without a lock between two processes drops runs
    checkpoint = tmp_path / "gpt2"
    write_checkpoint(SPECS["gpt2"], checkpoint)
    script, go, out = tmp_path / "saver.py", tmp_path / "go", tmp_path / "out"
    script.write_text(SAVER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(checkpoint), str(out), str(go), pairs, str(SAVES)],
            env=ENV,
        )
        for pairs in ("gram", "exact")
    ]
    deadline = time.monotonic() + 180
    while not all(Path(f"{go}.{pairs}").exists() for pairs in ("gram", "exact")):
        assert all(p.poll() is None for p in procs) and time.monotonic() < deadline
        time.sleep(0.02)
    go.write_text("")
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 1 and not interrupted_write(files[0]), files
    record = json.loads((out / files[0]).read_text())
    assert len(record["history"]) == 2 * SAVES  # every save of both processes
    pairs = [run.get("pairs") for run in record["history"]]
    assert pairs.count("gram") == SAVES and pairs.count("exact") == SAVES, pairs
    assert record["stats"]["abs_cos_method"] == "exact"  # the exact pass kept by every merge


def _heads_config(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        np.save(folder / f"head{i}.npy", rng.standard_normal((1500, 24)).astype(np.float32))
    names = ", ".join(f'"head{i}.npy"' for i in range(n))
    config = folder / "heads.toml"
    config.write_text(f'out = "out"\nmodels = [{names}]\n[measure]\npairs = "exact"\n')
    return config


@pytest.mark.slow  # real processes: a few seconds each on an idle machine
def test_a_report_during_a_sweep_reads_whole_records_only(tmp_path):
    n = 5
    config = _heads_config(tmp_path, n)
    out = tmp_path / "out"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "llmgeom", "sweep", str(config), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    )
    reports, gathered = [], 0
    try:
        while sweep.poll() is None:
            if out.is_dir():
                found = gather(out, exclude=[out / "report"])
                assert found.corrupt == [], found.corrupt  # nothing half-written is read
                gathered += 1
                if not reports and found.measurements:  # `llmgeom report` while it runs
                    reports.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "llmgeom", "report", str(out)],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env=ENV,
                            text=True,
                        )
                    )
            time.sleep(0.02)
        _stdout, stderr = sweep.communicate(timeout=120)
        assert sweep.returncode == 0, stderr
        for report in reports:
            r_out, r_err = report.communicate(timeout=180)
            assert report.returncode == 0, r_err
            assert "corrupt" not in r_out, r_out
    finally:
        for proc in [sweep, *reports]:
            if proc.poll() is None:
                proc.kill()
    assert gathered > 0
    final = gather(out, exclude=[out / "report"])
    assert len(final.measurements) == n and final.corrupt == []  # nothing lost


KILLED_WRITER = """
import sys, time
from llmgeom._atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text('{"schema": "llmgeom.measurement/2", "model": {"sou')  # half a record
    print("written", flush=True)
    time.sleep(60)  # killed here: the rename never happens
"""


@pytest.mark.slow  # real processes: a few seconds each on an idle machine
def test_a_report_over_a_write_cut_by_sigkill_names_the_leftover_and_reads_the_rest(tmp_path):
    out = tmp_path / "out"
    import torch

    from llmgeom.geometry.measurement import measure
    from llmgeom.records.measurement import write_record

    kept = write_record(measure(torch.randn(40, 8), pairs="gram").to_dict(), out)
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    target = out / "w8.raw.json"
    writer = subprocess.Popen(
        [sys.executable, str(script), str(target)], stdout=subprocess.PIPE, env=ENV, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "written"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    leftovers = [p for p in out.iterdir() if interrupted_write(p.name)]
    assert len(leftovers) == 1 and not target.exists()  # half a record, never renamed
    report = subprocess.run(
        [sys.executable, "-m", "llmgeom", "report", str(out)],
        capture_output=True,
        env=ENV,
        text=True,
        timeout=180,
    )
    assert report.returncode == 0, report.stderr
    lines = [line for line in report.stdout.splitlines() if leftovers[0].name in line]
    assert lines == [
        f"  skipped {leftovers[0].name}: {TEMPORARY} of w8.raw.json "
        "(in progress, or cut short: then it may be deleted)"
    ]
    assert "corrupt" not in report.stdout
    found = gather(out, exclude=[out / "report"])
    assert [i.rel for i in found.measurements] == [kept.name]  # the whole record, read
