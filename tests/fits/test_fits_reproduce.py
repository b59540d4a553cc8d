"""``llmgeom.paper.reproduce.run_fits`` calls the fits library: no ``llmgeom.cli``, no captured
streams, the files ``save`` wrote and the errors' one-line messages."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from records import write_measured_record

import llmgeom.paper.reproduce
from llmgeom.fits import (
    fit_chinchilla,
    fit_loss,
    fit_overlap,
    write_loss_table,
)
from llmgeom.paper.published import paper_implied_losses
from llmgeom.paper.reproduce import run_fits

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper_out(tmp_path):
    """A results folder as the sweep leaves it: measure records and ``losses.csv``."""
    out = tmp_path / "paper"
    out.mkdir()
    files = []
    for fam, a in (("opt", 3.0), ("pythia", 3.4)):
        for head in (32, 64, 128):
            path = out / f"{fam}-{head}.raw.json"
            mean_cos2 = float(np.exp(a) / head * (1.03 if head == 64 else 1.0))
            write_measured_record(path, f"{fam}-{head}", fam, head, head, mean_cos2)
            files.append(path)
    write_loss_table(out / "losses.csv", paper_implied_losses(0.05, seed=2))
    return out, files


def test_reproduce_imports_nothing_of_the_cli():
    tree = ast.parse(Path(llmgeom.paper.reproduce.__file__).read_text())
    modules = [
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert modules and not [m for m in modules if m == "cli" or ".cli" in f".{m}"]
    source = Path(llmgeom.paper.reproduce.__file__).read_text()
    assert "redirect_std" not in source and "listdir" not in source


def test_run_fits_in_a_fresh_process_never_loads_the_cli(paper_out):
    out, files = paper_out
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from llmgeom.paper.reproduce import run_fits\n"
        f"r = run_fits(Path({str(out)!r}), [Path(p) for p in {[str(f) for f in files]!r}],"
        " echo=False)\n"
        "print(json.dumps({'fits': r.fits, 'errors': r.fit_errors,"
        " 'cli': sorted(m for m in sys.modules if m.startswith('llmgeom.cli'))}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(TESTS.parent),
        env={**__import__("os").environ, "PYTHONPATH": str(TESTS.parent)},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["cli"] == [] and report["errors"] == {}
    assert report["fits"] == {
        "overlap": ["overlap_fit.json", "overlap_fit.png"],
        "loss": ["width_loss_fit_ls.json", "width_loss_fit_ls.png"],
        "chinchilla": ["chinchilla_fit.json", "chinchilla_fit.png"],
    }


def test_run_fits_writes_what_the_library_writes(paper_out, tmp_path, capsys):
    out, files = paper_out
    result = run_fits(out, files, echo=False)
    assert capsys.readouterr() == ("", "")  # echo=False: nothing printed, nothing captured
    assert result.fit_errors == {} and result.exit_code == 0
    expected = {
        "overlap": fit_overlap(files),
        "loss": fit_loss(out / "losses.csv"),
        "chinchilla": fit_chinchilla(),
    }
    for name, fit in expected.items():
        saved = fit.save(tmp_path / "lib")
        assert result.fits[name] == [p.name for p in saved]
        for p in saved:
            assert (out / "fits" / p.name).read_bytes() == p.read_bytes()


def test_run_fits_records_one_line_errors_and_echoes(paper_out, capsys):
    out, files = paper_out
    (out / "losses.csv").write_text("model,family,corpus,m,loss\n")
    result = run_fits(out, files[:1], echo=True)  # one model: the overlap slope is undefined
    printed = capsys.readouterr()
    assert printed.err == ""
    assert result.fit_errors["loss"] == f"{out / 'losses.csv'}: the table has no rows"
    assert "\n" not in result.fit_errors["overlap"] and result.fit_errors["overlap"]
    assert f"fit loss: failed: {result.fit_errors['loss']}" in printed.out
    assert result.fits == {"chinchilla": ["chinchilla_fit.json", "chinchilla_fit.png"]}
    assert fit_chinchilla().summary() in printed.out  # echo prints the summary
    assert result.exit_code == 1
    assert not (out / "fits" / "overlap_fit.json").exists()
