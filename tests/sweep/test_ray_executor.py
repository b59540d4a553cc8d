"""The Ray executor against the local one, on a local Ray instance (one for the whole module).

The oracle is the local executor: the same sweep (tiny local checkpoints, a missing model, a toy
experiment) run by both must write the same files with the same values (timings and dates
aside) and record the same outcomes. Then: a Ray task whose worker dies is a failed unit while
the others go on, and Ctrl-C on ``llmgeom sweep --executor ray`` cancels what is in flight and
shuts its own Ray instance down, after which a re-run joining a running cluster (``--address``,
the module's instance) resumes: only the units not done run, each once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip(
    "ray", reason="the ray executor's tests need Ray: pip install 'llmgeom[ray]'"
)

from checkpoints import SPECS, write_checkpoint  # noqa: E402

from llmgeom.sweep import ray_executor  # noqa: E402
from llmgeom.sweep.config import load_config  # noqa: E402
from llmgeom.sweep.engine import STATUS_FILE, run_sweep  # noqa: E402
from llmgeom.sweep.units import Resources, Unit  # noqa: E402

#: Fields that differ between two runs of the same unit whatever runs it (dates, timings, the
#: machine speed that a measurement records to choose its method).
VOLATILE = frozenset(
    {"created", "timings", "seconds", "started", "finished", "updated"}
    | {"exact_pass_estimate_s", "matmul_gflops"}
)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """One local Ray instance (2 CPUs) for the module; its workers see an empty offline HF home
    (the environment of its workers is the one at start: the per-test HF_HOME comes too late)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HOME", str(tmp_path_factory.mktemp("ray_hf_home")))
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    for name in ("gpt2", "pythia"):
        write_checkpoint(SPECS[name], folder / name, seed=len(name))
    return folder


def _config(folder: Path, checkpoints: Path | None, toy_steps: int = 20, runs: int = 2) -> Path:
    """A sweep: two tiny checkpoints and a missing one (measure; none without ``checkpoints``),
    a toy experiment of ``runs`` runs. The toy pins one thread: float sums depend on the thread
    count (not on the executor)."""
    folder.mkdir(parents=True, exist_ok=True)
    gammas = [-1.0, 0.5, 0.25, -0.5, 0.75, -0.25][:runs]
    lines = ['out = "res"']
    if checkpoints is not None:
        names = [checkpoints / "gpt2", checkpoints / "pythia", checkpoints / "missing"]
        lines += [f"models = [{', '.join(json.dumps(str(n)) for n in names)}]", "[measure]"]
    lines += [
        "[[toy]]",
        'name = "t"',
        "n = 30",
        "m = [3, 5]",
        f"steps = {toy_steps}",
        "batch = 16",
        "warmup = 1",
        "eval_samples = 32",
    ]
    for gamma in gammas:
        lines += ["[[toy.runs]]", f"gamma = {gamma}"]
    path = folder / "sweep.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _results(out: Path) -> dict[str, object]:
    """Every file under ``out``: JSON without volatile fields (the status by unit id), else
    bytes."""
    found: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(out))
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if name == STATUS_FILE:
                data = {u["id"]: _strip(u) for u in data["units"]}
            found[name] = _strip(data)
        else:
            found[name] = path.read_bytes()
    return found


def _mtimes(out: Path) -> dict[str, int]:
    return {
        str(p.relative_to(out)): p.stat().st_mtime_ns
        for p in out.rglob("*")
        if p.is_file() and p.name != STATUS_FILE
    }


def test_ray_and_local_executors_write_identical_results(ray_instance, checkpoints, tmp_path):
    local_cfg = load_config(_config(tmp_path / "local", checkpoints))
    ray_cfg = load_config(_config(tmp_path / "ray", checkpoints))
    local = run_sweep(local_cfg, executor="local", jobs=1, progress=False, echo=False)
    remote = run_sweep(ray_cfg, executor="ray", jobs=2, progress=False, echo=False)

    for result in (local, remote):
        assert result.counts == {"ok": 4, "failed": 1, "skipped": 0}
        assert result.exit_code == 1
    assert {o.id: (o.ok, o.error, o.files) for o in remote.outcomes} == {
        o.id: (o.ok, o.error, o.files) for o in local.outcomes
    }
    (failed,) = remote.failed
    assert failed.id == "measure/missing" and "missing" in failed.error
    assert "\n" not in failed.error

    a, b = _results(local_cfg.out), _results(ray_cfg.out)
    assert sorted(a) == sorted(b)
    assert {"gpt2.raw.json", "pythia.raw.json", STATUS_FILE} <= set(a)
    assert sum(name.startswith("toy-t.") and name.endswith(".json") for name in a) == 2
    for name in a:
        assert a[name] == b[name], name
    # the values compared are real measurements, not two empty shells
    gpt2 = a["gpt2.raw.json"]
    assert gpt2["schema"] == "llmgeom.measurement/2"
    assert b[STATUS_FILE]["measure/missing"]["state"] == "failed"
    assert b[STATUS_FILE]["measure/gpt2"]["state"] == "ok"


def test_a_dead_worker_is_a_failed_unit_and_big_requests_are_capped(
    ray_instance, tmp_path, monkeypatch
):
    def dies_or_runs(unit, out_dir, threads):  # shipped to the workers by value
        import os

        if unit.id.endswith("/dies"):
            os._exit(3)
        from llmgeom.sweep.ray_executor import ray_task

        return ray_task(unit, out_dir, threads)

    monkeypatch.setattr(ray_executor, "ray_task", dies_or_runs)
    huge = Resources(num_cpus=64, num_gpus=8, memory_bytes=1 << 50)  # more than the node has
    units = [Unit("toy/dies", "toy", {}, ()), Unit("toy/unknown", "nope", {}, (), huge)]
    seen = []
    runner = threading.Thread(  # a request Ray cannot place would wait forever: bound it
        target=ray_executor.RayExecutor(jobs=2).run,
        args=(units, str(tmp_path), seen.append),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), "a task was never scheduled"
    errors = {o.id: (o.ok, o.error) for o in seen}
    assert errors == {
        "toy/dies": (False, "the Ray worker running the unit died (crash or killed)"),
        "toy/unknown": (False, "unknown unit kind 'nope' (known: freq, loss, measure, toy)"),
    }
    assert ray.is_initialized()  # a connection it did not open stays open


def _ray_daemons() -> set[int]:
    """Pids of Ray's raylet and GCS server processes on this machine."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if cmd.endswith((b"/raylet", b"/gcs_server")):
                pids.add(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_ctrl_c_cancels_the_ray_sweep_and_a_rerun_completes_it(ray_instance, tmp_path):
    config = _config(tmp_path, None, toy_steps=300, runs=4)
    daemons = _ray_daemons()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmgeom", "sweep", str(config), "--executor", "ray",
         "--jobs", "2", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "ok      toy/" in line:  # a unit done, the others running or waiting
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 30
    assert _ray_daemons() <= daemons  # its Ray instance is gone

    out = tmp_path / "res"
    status = json.loads((out / STATUS_FILE).read_text(encoding="utf-8"))
    outputs = {u["id"]: u["files"] for u in status["units"]}
    ok_before = {u["id"] for u in status["units"] if u["state"] == "ok"}
    assert ok_before and len(ok_before) < 4, lines
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    mtimes = _mtimes(out)
    before = {f: mtimes[f] for unit in ok_before for f in outputs[unit]}

    # the re-run joins the module's Ray instance (--address): only the undone units run
    address = ray.get_runtime_context().gcs_address
    rerun = subprocess.run(
        [sys.executable, "-m", "llmgeom", "sweep", str(config), "--executor", "ray",
         "--address", address, "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    # nothing done twice: what was recorded done (and any unit that finished while the sweep
    # was stopping, unrecorded but complete) is skipped; the rest runs
    ran = {line.split()[2] for line in rerun.stdout.splitlines() if line.startswith("[")}
    final = json.loads((out / STATUS_FILE).read_text(encoding="utf-8"))
    assert final["counts"] == {"ok": 4}
    attempts = {u["id"]: u["attempts"] for u in final["units"]}
    assert ran and not ran & ok_before
    assert all(attempts[unit] == 1 for unit in ran | ok_before)
    assert {f: _mtimes(out)[f] for f in before} == before
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2  # still there
