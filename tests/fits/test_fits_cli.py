"""``llmgeom fit overlap|loss|chinchilla``: outputs written, errors as one line, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from records import write_measured_record

from llmgeom.cli import build_parser, main
from llmgeom.fits import write_loss_table
from llmgeom.paper.published import paper_implied_losses


def _overlap_csv(path) -> None:
    rng = np.random.default_rng(0)
    lines = ["model,family,m,mean_cos2,d_model"]
    for fam, a in (("f1", 3.0), ("f2", 4.0)):
        for m in (256, 512, 1024, 2048, 4096):
            lines.append(
                f"{fam}-{m},{fam},{m},{np.exp(a - np.log(m) + rng.normal(0, 0.1)):.6g},{2 * m}"
            )
    path.write_text("\n".join(lines) + "\n")


def _outputs_ok(out, stem):
    data = json.loads((out / f"{stem}.json").read_text())
    assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob("*.tmp"))
    return data


def test_fit_chinchilla(tmp_path, capsys):
    assert main(["fit", "chinchilla", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "k = 2.52 +/- 0.03" in text and "alpha_m = k * alpha_n = 0.88 +/- 0.06" in text
    data = _outputs_ok(tmp_path, "chinchilla_fit")
    assert round(data["k"], 4) == 2.5226 and data["propagation"] == "linear"


def test_fit_loss_ls_and_huber(tmp_path, capsys):
    table = tmp_path / "losses.csv"
    write_loss_table(table, paper_implied_losses(0.072, seed=0))
    out = tmp_path / "out"
    assert main(["fit", "loss", str(table), "--bootstrap", "30", "--out", str(out)]) == 0
    data = _outputs_ok(out, "width_loss_fit_ls")
    assert data["n_points"] == 108 and data["bootstrap"]["n_requested"] == 30
    assert "alpha =" in capsys.readouterr().out
    assert (
        main(["fit", "loss", str(table), "--loss", "huber", "--bootstrap", "0", "--out", str(out)])
        == 0
    )
    assert _outputs_ok(out, "width_loss_fit_huber")["loss"] == "huber"


def test_fit_overlap_both_widths(tmp_path, capsys):
    table = tmp_path / "o.csv"
    _overlap_csv(table)
    out = tmp_path / "out"
    assert main(["fit", "overlap", str(table), "--bootstrap", "50", "--out", str(out)]) == 0
    data = _outputs_ok(out, "overlap_fit")
    assert data["width"] == "head" and data["n_models"] == 10
    assert abs(data["slope"] - 1) < 0.2
    assert "test s = 1" in capsys.readouterr().out
    assert (
        main(
            [
                "fit",
                "overlap",
                str(table),
                "--width",
                "d_model",
                "--bootstrap",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "overlap_fit.json").read_text())["points"][0]["m"] == 512


@pytest.mark.parametrize(
    ("argv", "content", "match"),
    [
        (["fit", "loss"], "model,family,corpus,m,loss\n", "no rows"),
        (
            ["fit", "loss"],
            "model,family,corpus,m,loss\na,f,c,512,nan\nb,f,c,1024,2\n"
            "c,f,c,2048,1.9\nd,f,c,4096,1.8\n",
            "NaN",
        ),
        (["fit", "loss"], "model,family,m,loss\na,f,512,3\n", "missing column"),
        (
            ["fit", "overlap"],
            "model,family,m,mean_cos2\na,f,512,0.1\nb,f,512,0.2\nc,f,512,0.3\n",
            "same width",
        ),
        (["fit", "chinchilla", "--table"], "params,d_model\n1e8,512\n2e8,512\n3e8,512\n", "equal"),
    ],
)
def test_bad_input_one_line_and_nothing_written(tmp_path, capsys, argv, content, match):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "out"
    assert main([*argv, str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("llmgeom fit: error:") and match in err
    assert not out.exists()


def test_missing_file_and_help(tmp_path, capsys):
    assert main(["fit", "overlap", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")]) == 1
    assert "no such file" in capsys.readouterr().err
    for sub in ("overlap", "loss", "chinchilla"):
        text = build_parser()._subparsers._group_actions[0].choices["fit"]
        help_text = text._subparsers._group_actions[0].choices[sub].format_help()
        assert f"llmgeom fit {sub}" in help_text and "examples:" in help_text


def test_fit_overlap_from_measurement_folder(tmp_path, capsys):
    res = tmp_path / "results"
    res.mkdir()
    for fam, a in (("opt", 3.0), ("gpt2", 3.5)):
        for head in (512, 1024, 2048):
            mean_cos2 = float(np.exp(a) / head**0.9)
            write_measured_record(res / f"{fam}-{head}.json", f"./{fam}-{head}", fam, head, head,
                                  mean_cos2)  # fmt: skip
    out = tmp_path / "fits"
    assert main(["fit", "overlap", str(res), "--bootstrap", "20", "--out", str(out)]) == 0
    data = _outputs_ok(out, "overlap_fit")
    assert data["slope"] == pytest.approx(0.9, abs=1e-9)
    assert {p["model"] for p in data["points"]} >= {"./opt-512", "./gpt2-2048"}
    assert "p =" in capsys.readouterr().out


def test_an_unwritable_out_fails_before_the_fit(tmp_path, capsys, monkeypatch):
    import llmgeom.fits.chinchilla

    monkeypatch.setattr(llmgeom.fits.chinchilla.ChinchillaCheck, "fit", lambda *a: 1 / 0)
    (tmp_path / "file").write_text("x")
    assert main(["fit", "chinchilla", "--out", str(tmp_path / "file" / "fits")]) == 1
    err = capsys.readouterr().err
    assert "is not a directory" in err and len(err.splitlines()) == 1
