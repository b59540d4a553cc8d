"""A sweep of tiny local checkpoints writes the files and values of the single commands; a unit
that fails is recorded and the others go on; a re-run does nothing twice; losses.csv survives
concurrent worker processes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import write_sweep_config, write_zoo

import llmgeom.text.loss as loss_module
from llmgeom.cli import main
from llmgeom.sweep.config import load_config
from llmgeom.sweep.engine import STATUS_FILE
from llmgeom.sweep.plan import expand_units
from llmgeom.sweep.units import unit_done


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep-zoo")
    write_zoo(root)
    return root


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (inode, mtime_ns) of every file but the hidden ones (the loss table's lock file);
    a rewritten file gets a new inode (atomic writes)."""
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".")
    }


def _status(out: Path) -> dict[str, dict]:
    return {u["id"]: u for u in json.loads((out / STATUS_FILE).read_text())["units"]}


def _rows(table: Path) -> dict[tuple[str, str], dict[str, str]]:
    with table.open(newline="") as fh:
        return {(r["model"], r["corpus"]): r for r in csv.DictReader(fh)}


def test_a_sweep_writes_what_the_single_commands_write(zoo, tmp_path, capsys):
    cfg_path = write_sweep_config(tmp_path, measure=True, loss=True, freq=True)
    for name in ("models", "corpora"):
        (tmp_path / name).symlink_to(zoo / name)
    assert main(["sweep", str(cfg_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "[8/8] ok" in printed and "total        8   8        0       0" in printed
    out = tmp_path / "out"
    # the single commands, into another folder
    single = tmp_path / "single"
    models = [str(zoo / "models" / "w8"), str(zoo / "models" / "w16")]
    corpora = [str(zoo / "corpora" / "a.txt"), str(zoo / "corpora" / "b.jsonl")]
    assert main(["measure", *models, "--pairs", "exact", "--bins", "10", "--out", str(single)]) == 0
    for model in models:
        argv = ["loss", model, "--max-length", "16", "--out", str(single), "--no-progress"]
        assert main([*argv, "--corpus", corpora[0], "--corpus", corpora[1]]) == 0
        argv = ["freq", model, "--corpus", corpora[0], "--tokens", "0", "--out", str(single)]
        assert main([*argv, "--no-progress"]) == 0
    capsys.readouterr()
    assert sorted(_files(out)) == sorted([*_files(single), STATUS_FILE])
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".losses.csv.lock"]
    for name in ("w8.raw.json", "w16.raw.json"):
        a, b = json.loads((out / name).read_text()), json.loads((single / name).read_text())
        assert a["stats"] == b["stats"] and a["variant"]["name"] == b["variant"]["name"]
        assert a["model"]["sha256"] == b["model"]["sha256"] and a["options"] == b["options"]
    for name in ("w8.a.loss.json", "w16.b.loss.json"):
        a, b = json.loads((out / name).read_text()), json.loads((single / name).read_text())
        assert a["loss"] == b["loss"] and a["corpus"]["sha256"] == b["corpus"]["sha256"]
    assert _rows(out / "losses.csv") == _rows(single / "losses.csv")
    for name in ("w8.a.counts.npz", "w16.a.counts.npz"):
        with np.load(out / name) as a, np.load(single / name) as b:
            assert np.array_equal(a["counts"], b["counts"]) and a["counts"].sum() > 50
    status = _status(out)
    assert {u["state"] for u in status.values()} == {"ok"} and len(status) == 8
    assert status["loss/w8/b"]["files"] == ["w8.b.loss.json", "losses.csv"]


def test_a_failing_unit_is_recorded_and_a_rerun_does_nothing_twice(
    zoo, tmp_path, monkeypatch, capsys
):
    # one document per forward pass, so that a pass can fail half-way through a unit
    cfg_path = write_sweep_config(tmp_path, measure=True, loss=True, freq=False, batch_tokens=16)
    for name in ("models", "corpora"):
        (tmp_path / name).symlink_to(zoo / name)
    # a broken checkpoint among the models: its measure and loss units fail, the others go on
    broken = tmp_path / "models-extra" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{ not json")
    text = cfg_path.read_text().replace('"models/w16"]', '"models/w16", "models-extra/broken"]')
    cfg_path.write_text(text)
    runs: list[str] = []
    real_forward = loss_module.forward_nll
    calls = {"n": 0}

    def forward_failing_half_way(model, rows, **kwargs):
        # the 6th pass of the sweep raises: loss/w8/a took passes 1-4 (four documents), so this
        # is the second of loss/w8/b's three
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_forward(model, rows, **kwargs)

    def counting(kind, runner):
        def run(params, out):
            runs.append(f"{kind}:{params.get('source')}:{params.get('corpus')}")
            return runner(params, out)

        return run

    import llmgeom.sweep.runners  # noqa: F401 - registers the built-in kinds
    from llmgeom.sweep import units as units_module

    for kind in ("measure", "loss"):
        monkeypatch.setitem(
            units_module._RUNNERS, kind, counting(kind, units_module._RUNNERS[kind])
        )
    monkeypatch.setattr(loss_module, "forward_nll", forward_failing_half_way)

    assert main(["sweep", str(cfg_path), "--no-progress"]) == 1
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    status = _status(out)
    failed = {k: v["error"] for k, v in status.items() if v["state"] == "failed"}
    assert set(failed) == {"measure/broken", "loss/w8/b", "loss/broken/a", "loss/broken/b"}
    assert failed["loss/w8/b"] == "RuntimeError: CUDA out of memory (simulated)"
    assert "broken" in failed["measure/broken"] and "\n" not in failed["measure/broken"]
    assert sum(v["state"] == "ok" for v in status.values()) == 5
    assert "FAILED  loss/w8/b" in printed and "failed: loss/w8/b: RuntimeError" in printed
    assert not (out / "w8.b.loss.json").exists()  # nothing half-written
    assert set(_rows(out / "losses.csv")) == {("w8", "a"), ("w16", "a"), ("w16", "b")}
    first_runs = list(runs)
    assert len(first_runs) == 9
    before = _files(out)

    # fix the cause (the model stays broken), re-run: only the failed units run again
    monkeypatch.setattr(loss_module, "forward_nll", real_forward)
    runs.clear()
    assert main(["sweep", str(cfg_path), "--no-progress"]) == 1  # broken stays broken
    capsys.readouterr()
    model_w8 = str((zoo / "models" / "w8").resolve())
    assert sorted(runs) == sorted(
        [f"loss:{model_w8}:{(zoo / 'corpora' / 'b.jsonl').resolve()}"]
        + [r for r in first_runs if "broken" in r]
    )
    after = _files(out)
    for name, stamp in before.items():
        if name not in ("losses.csv", STATUS_FILE):
            assert after[name] == stamp, f"{name} was rewritten"
    assert set(_rows(out / "losses.csv")) == {("w8", "a"), ("w8", "b"), ("w16", "a"), ("w16", "b")}
    status = _status(out)
    assert status["loss/w8/b"]["state"] == "ok" and status["loss/w8/b"]["attempts"] == 2
    assert status["measure/w8"]["attempts"] == 1
    # every output parses and every finished unit counts as done
    cfg = load_config(cfg_path)
    done = [u.id for u in expand_units(cfg) if unit_done(u, str(out))]
    assert sorted(done) == sorted(k for k in status if "broken" not in k)


LOSS_WRITER = """
import sys
from llmgeom.sweep.runners import losses_lock
from llmgeom.text.loss import LossResult, save_loss
out, who = sys.argv[1], sys.argv[2]
for i in range(25):
    r = LossResult.from_values(values=dict(loss=float(i), perplexity=None, bits_per_byte=1.0,
        loss_authors_weighting=1.0, nll_sum=1.0, predicted_tokens=1, tokens=2, bytes=3,
        bytes_exact=True, documents=1, documents_skipped=0, documents_truncated=0),
        model={"name": f"{who}-{i}", "family": "gpt2", "d_model": 8, "head_width": 8},
        corpus={"name": "c"}, definition={}, dtype="float32", quantization=None, device="cpu",
        timings={})
    with losses_lock(out):
        save_loss(r, out)
"""


def test_losses_csv_keeps_every_row_when_processes_write_at_once(tmp_path):
    # the read-modify-rename of losses.csv under the sweep's lock, by two processes at once: a
    # lost update would drop rows
    import subprocess
    import sys

    script = tmp_path / "writer.py"
    script.write_text(LOSS_WRITER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "out"), who])
        for who in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = _rows(tmp_path / "out" / "losses.csv")
    assert set(rows) == {(f"{who}-{i}", "c") for who in ("a", "b") for i in range(25)}
    assert all(float(rows[(f"a-{i}", "c")]["loss"]) == i for i in range(25))


def test_an_earlier_gram_only_result_does_not_count_as_an_exact_unit_done(zoo, tmp_path, capsys):
    cfg_path = write_sweep_config(tmp_path, measure=True, loss=False, freq=False)
    for name in ("models", "corpora"):
        (tmp_path / name).symlink_to(zoo / name)
    out = tmp_path / "out"
    w8 = str(zoo / "models" / "w8")
    assert main(["measure", w8, "--pairs", "gram", "--out", str(out), "--no-progress"]) == 0
    units = expand_units(load_config(cfg_path))
    assert [unit_done(u, str(out)) for u in units] == [False, False]
    assert main(["sweep", str(cfg_path), "--no-progress"]) == 0
    capsys.readouterr()
    record = json.loads((out / "w8.raw.json").read_text())
    assert record["stats"]["abs_cos_method"] == "exact" and len(record["history"]) == 2
    assert [unit_done(u, str(out)) for u in units] == [True, True]
