"""``llmgeom report`` on a results folder written by llmgeom's own commands (conftest.py): every
figure drawn from the records, summary.csv equal to the source values, missing figures listed,
corrupt and unknown files listed without stopping the report, one-line CLI errors."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from llmgeom.cli import main
from llmgeom.report import FIGURES, build_report, gather
from llmgeom.report.figures import (
    Context,
    loss_vs_width,
    overlap_vs_step,
    overlap_vs_width,
    rank_frequency,
    toy_phase_diagram,
    weighted_vs_plain,
)

ALL_FIGURES = [fid for fid, _, _ in FIGURES]
PNG = b"\x89PNG\r\n\x1a\n"


def _json_files(folder: Path, schema_prefix: str) -> dict[str, dict]:
    out = {}
    for path in sorted(folder.rglob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and str(data.get("schema", "")).startswith(schema_prefix):
            out[path.relative_to(folder).as_posix()] = data
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_figure_and_a_self_contained_page(built, site):
    assert site.missing == []
    assert list(site.figures) == ALL_FIGURES
    page = site.index_html.read_text()
    for path in site.figures.values():
        png = path.read_bytes()
        assert png.startswith(PNG)
        assert base64.b64encode(png).decode() in page  # the very bytes, embedded
    assert page.count('src="data:image/png;base64,') == len(ALL_FIGURES)
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and all(u.startswith(("data:image/png", "#")) or u == "summary.csv" for u in links)
    assert "<link" not in page and "http:" not in page and "https:" not in page
    assert site.corrupt == []
    assert {why for _, why in site.skipped} == {"figure (the report draws its own from the data)"}
    counts = site.counts
    assert (counts["measurements"], counts["losses"], counts["freq"]) == (8, 6, 2)
    assert (counts["fits"], counts["toy"], counts["loss tables"]) == (3, 2, 1)
    for model in ("opt-proj", "gpt2-w64", "EleutherAI/pythia-70m"):  # provenance table
        assert model in page
    for record in _json_files(built.results, "llmgeom.measurement/").values():
        assert record["model"]["sha256"] in page
        versions = record["environment"]["versions"]
        assert f"torch {versions['torch']}, numpy {versions['numpy']}" in page
    for record in _json_files(built.results, "llmgeom.loss/").values():
        assert record["corpus"]["sha256"] in page


def test_summary_csv_holds_the_source_values_exactly(built, site):
    rows = _rows(site.summary_csv)
    by_file = {}
    for row in rows:
        if not row["record"].startswith("fit:") and row["record"] not in ("toy", "paper"):
            assert row["file"] not in by_file
            by_file[row["file"]] = row

    measures = _json_files(built.results, "llmgeom.measurement/")
    assert len(measures) == 8 == sum(r["record"] == "measure" for r in rows)
    page = site.index_html.read_text()
    assert "<th>participation_ratio</th>" in page and "<th>interference_top_1</th>" in page
    for rel, record in measures.items():
        row, stats = by_file[rel], record["stats"]
        for column in (
            "mean_cos2",
            "mean_cos",
            "participation_ratio",
            "top_eigen_fraction",
            "mean_abs_cos",
            "std_abs_cos",
            "m_times_mean_cos2",
        ):
            assert float(row[column]) == stats[column], (rel, column)
        spectrum = record["spectrum"]
        for column in ("entropy_effective_rank", "stable_rank_raw", "packing_efficiency"):
            assert float(row[column]) == spectrum[column], (rel, column)
        assert (
            int(row["n_above_marchenko_pastur_edge"]) == spectrum["n_above_marchenko_pastur_edge"]
        )
        assert float(row["interference_top_1"]) == spectrum["interference_top_k"]["1"]
        for k in ("mean", "std", "min", "max"):
            assert float(row[f"row_norm_{k}"]) == record["row_norms"][k]
        assert int(row["m"]) == record["model"]["head_width"]
        assert row["model_sha256"] == record["model"]["sha256"]
        assert row["revision"] == (record["model"]["revision"] or "")
        if "weighted" in record:
            block = record["weighted"]
            assert float(row["weighted_mean_cos2"]) == block["weighted_mean_cos2"]
            assert float(row["effective_tokens"]) == block["effective_tokens"]
            assert (row["weights"], row["corpus"]) == ("gpt2-w16.a.counts.npz", "a")
        else:
            assert row["weighted_mean_cos2"] == row["weights"] == row["corpus"] == ""

    losses = _json_files(built.results, "llmgeom.loss/")
    assert len(losses) == 6 == sum(r["record"] == "loss" for r in rows)
    for rel, record in losses.items():
        row = by_file[rel]
        for column in ("loss", "bits_per_byte", "loss_authors_weighting"):
            assert float(row[column]) == record["loss"][column]
        assert row["corpus_sha256"] == record["corpus"]["sha256"]
        assert row["model_sha256"] == record["model"]["files"][0]["sha256"]
        assert row["corpus"] == record["corpus"]["name"]

    for rel, record in _json_files(built.results, "llmgeom.freq/").items():
        row = by_file[rel]
        assert float(row["zipf_alpha_loglog"]) == record["rank_frequency"]["loglog"]["alpha"]
        assert float(row["zipf_s_mle"]) == record["rank_frequency"]["mle"]["s"]
        assert int(row["tokens_counted"]) == record["stats"]["tokens_counted"]
        npz = (built.results / rel).parent / record["files"]["counts"]
        assert row["counts_sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()

    toys = _json_files(built.results, "llmgeom.toy.result/")
    assert len([r for r in rows if r["record"] == "toy"]) == 21  # 4 + 3 runs, 3 widths each
    toy_rows = [r for r in rows if r["record"] == "toy" and r["file"] == "toy/toy-tiny.json"]
    toy = toys["toy/toy-tiny.json"]
    assert len(toy_rows) == sum(len(run["per_m"]) for run in toy["runs"]) == 12
    for run in toy["runs"]:
        for per_m in run["per_m"]:
            (row,) = [
                r
                for r in toy_rows
                if float(r["gamma"]) == run["gamma"]
                and float(r["alpha"]) == run["alpha"]
                and int(r["m"]) == per_m["m"]
            ]
            assert float(row["loss"]) == per_m["loss"]
            assert float(row["alpha_m"]) == run["fit"]["exponent"]

    fits = _json_files(built.results, "llmgeom.fit.")
    overlap, width_loss = fits["fits/overlap_fit.json"], fits["fits/width_loss_fit_ls.json"]
    (slope,) = [
        r
        for r in rows
        if r["record"] == "fit:overlap" and r["interval"] == "95% t" and r["quantity"] == "slope"
    ]
    assert float(slope["value"]) == overlap["slope"]
    assert [float(slope["ci_low"]), float(slope["ci_high"])] == overlap["slope_ci_t"]
    offsets = {r["quantity"]: float(r["value"]) for r in rows if r["record"] == "fit:width_loss"}
    assert offsets["alpha"] == width_loss["alpha"] and offsets["C"] == width_loss["C"]
    for family, by_corpus in width_loss["offsets_L0"].items():
        for corpus, value in by_corpus.items():
            assert offsets[f"L0[{family},{corpus}]"] == value


def test_figures_plot_the_records_and_read_the_fits(built):
    ctx = Context.build(gather(built.results))
    measures = _json_files(built.results, "llmgeom.measurement/")
    plain = {
        Path(rel).name.split(".")[0]: r for rel, r in measures.items() if rel.startswith("measure/")
    }
    drawn = overlap_vs_width(ctx).data
    assert {p["model"]: p["mean_cos2"] for p in drawn["points"]} == {
        name: r["stats"]["mean_cos2"] for name, r in plain.items()
    }
    assert drawn["two_widths"] == ["opt-proj"]  # OPT-350m-like: head 16 wide, d_model 64
    (proj,) = [p for p in drawn["points"] if p["model"] == "opt-proj"]
    assert (proj["m"], proj["d_model"]) == (16, 64)
    assert ctx.overlap.origin == "fits/overlap_fit.json"
    assert ctx.width_loss.origin == "fits/width_loss_fit_ls.json"

    losses = _json_files(built.results, "llmgeom.loss/").values()
    assert sorted(
        (p["model"], p["corpus"], p["m"], p["loss"]) for p in loss_vs_width(ctx).data["points"]
    ) == sorted(
        (r["model"]["name"], r["corpus"]["name"], r["model"]["d_model"], r["loss"]["loss"])
        for r in losses
    )

    (series,) = overlap_vs_step(ctx).data["series"]
    training = _json_files(built.results / "training", "llmgeom.measurement/")
    assert series["steps"] == [1000, 143000]
    assert series["mean_cos2"] == [
        training[f"EleutherAI--pythia-70m.{rev}.raw.json"]["stats"]["mean_cos2"]
        for rev in ("step1000", "step143000")
    ]

    runs = [
        r for t in _json_files(built.results, "llmgeom.toy.result/").values() for r in t["runs"]
    ]
    cells = {(c["gamma"], c["alpha"]): c["alpha_m"] for c in toy_phase_diagram(ctx).data["cells"]}
    power = {(r["gamma"], r["alpha"]) for r in runs if r["family"] == "power"}
    assert cells == {  # the mean over the runs of a cell (here: two densities at γ = -1, α = 1)
        cell: np.mean(
            [
                r["fit"]["exponent"]
                for r in runs
                if (r["gamma"], r["alpha"]) == cell and r["family"] == "power"
            ]
        )
        for cell in power
    }

    (row,) = weighted_vs_plain(ctx).data["rows"]
    (weighted,) = [r for r in measures.values() if "weighted" in r]
    assert row["weighted_mean_cos2"] == weighted["weighted"]["weighted_mean_cos2"]
    assert (row["model"], row["counts"]) == ("gpt2-w32", "a")

    freqs = _json_files(built.results, "llmgeom.freq/")
    curves = {c["record"]: c for c in rank_frequency(ctx).data["curves"]}
    for rel, record in freqs.items():
        assert curves[rel]["distinct"] == record["stats"]["distinct_tokens"]
        assert curves[rel]["total"] == record["stats"]["tokens_counted"]


def _plain_measurements(built, folder: Path) -> Path:
    folder.mkdir()
    for path in sorted((built.results / "measure").glob("*.json")):
        if "weighted" not in json.loads(path.read_text()):
            shutil.copy(path, folder / path.name)
    return folder


def test_only_measurements_the_other_figures_are_missing_and_the_law_is_fitted_here(
    built, tmp_path
):
    folder = _plain_measurements(built, tmp_path / "only")
    result = build_report(folder)  # default out: RESULTS_DIR/report
    assert result.index_html == folder / "report" / "index.html"
    assert list(result.figures) == ["overlap_vs_width", "row_norms_vs_width"]
    assert result.missing == [f for f in ALL_FIGURES if f not in result.figures]
    assert list(result.why_missing) == result.missing
    assert result.why_missing["loss_vs_width"] == "no loss records or losses.csv"
    page = result.index_html.read_text()
    assert page.count('src="data:image/png;base64,') == 2
    for fid in result.missing:
        assert f"<code>{fid}</code>" in page
    # no fit result in the folder: the law is fitted here; oracle: least squares with one
    # intercept per family and a shared slope, solved directly
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    families = sorted({r["model"]["family"] for r in records})
    X = np.array(
        [
            [float(r["model"]["family"] == f) for f in families]
            + [-np.log(r["model"]["head_width"])]
            for r in records
        ]
    )
    y = np.log([r["stats"]["mean_cos2"] for r in records])
    slope = np.linalg.lstsq(X, y, rcond=None)[0][-1]
    (row,) = [
        r
        for r in _rows(result.summary_csv)
        if r["record"] == "fit:overlap" and r["quantity"] == "slope" and r["interval"] == "95% t"
    ]
    assert row["file"].startswith("fitted by llmgeom report")
    assert float(row["value"]) == pytest.approx(slope, rel=1e-12)
    # a second run does not read its own output, and removes nothing it needs
    again = build_report(folder)
    assert again.skipped == [] and again.counts["measurements"] == 5


def test_a_figure_missing_now_loses_its_old_png(built, site, tmp_path):
    out = tmp_path / "site"
    shutil.copytree(site.index_html.parent, out)  # a report with every figure
    assert len(list((out / "figures").iterdir())) == len(ALL_FIGURES)
    folder = _plain_measurements(built, tmp_path / "only")
    result = build_report(folder, out)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"{f}.png" for f in result.figures
    )


def test_corrupt_and_unknown_files_are_listed_not_fatal(built, tmp_path):
    folder = tmp_path / "mixed"
    (folder / "old").mkdir(parents=True)
    source = built.results / "measure" / "gpt2-w16.raw.json"
    shutil.copy(source, folder / "gpt2-w16.raw.json")
    older = json.loads(source.read_text())
    older["created"] = "2000-01-01T00:00:00+00:00"
    (folder / "old" / "gpt2-w16.raw.json").write_text(json.dumps(older))
    shutil.copy(built.results / "freq" / "gpt2-w16.a.freq.json", folder)  # its counts absent
    (folder / "garbage.json").write_text("{not json")
    (folder / "foreign.json").write_text(json.dumps({"schema": "someone.else/1"}))
    broken = json.loads(source.read_text())
    del broken["stats"]["mean_cos2"]
    (folder / "broken.raw.json").write_text(json.dumps(broken))
    loss = (built.results / "loss" / "gpt2-w16.a.loss.json").read_text()
    (folder / "cut.loss.json").write_text(loss[: len(loss) // 2])
    (folder / "notes.txt").write_text("hello")

    result = build_report(folder, tmp_path / "out")
    corrupt = dict(result.corrupt)
    assert sorted(corrupt) == ["broken.raw.json", "cut.loss.json", "garbage.json"]
    assert "stats.mean_cos2 is missing" in corrupt["broken.raw.json"]
    assert corrupt["garbage.json"].startswith("not valid JSON")
    assert all("\n" not in why for why in corrupt.values())
    skipped = dict(result.skipped)
    assert skipped == {
        "foreign.json": "JSON of another kind (schema 'someone.else/1')",
        "notes.txt": "not an llmgeom result",
        "old/gpt2-w16.raw.json": "superseded by the newer gpt2-w16.raw.json",
    }
    assert "rank_frequency" in result.missing and "overlap_vs_width" in result.figures
    page = result.index_html.read_text()
    for name in [*corrupt, *skipped]:
        assert name in page
    rows = _rows(result.summary_csv)
    assert [r["file"] for r in rows if r["record"] == "measure"] == ["gpt2-w16.raw.json"]
    assert [r["record"] for r in rows if r["record"] == "freq"] == ["freq"]


def test_cli_writes_and_says_what(built, tmp_path, capsys):
    folder = _plain_measurements(built, tmp_path / "only")
    assert main(["report", str(folder), "--out", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'site' / 'index.html'}" in out
    assert "drew    Mean squared overlap vs width" in out
    assert out.count("missing ") == len(ALL_FIGURES) - 2


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such results folder"),
        ("empty", "nothing to report: no llmgeom results under"),
        ("unknown only", "nothing to report: no llmgeom results under"),
        ("unwritable out", "cannot write into"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(built, tmp_path, capsys, case, message):
    folder, out = tmp_path / "results", tmp_path / "site"
    if case != "missing":
        folder.mkdir()
    if case == "unknown only":
        (folder / "notes.txt").write_text("hello")
    if case == "unwritable out":
        shutil.copy(built.results / "measure" / "opt-w8.raw.json", folder)
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "site"
    assert main(["report", str(folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llmgeom report: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert not (folder / "report").exists()


SWEEP_TOML = """\
out = "res"
models = ["./missing-model"]
[measure]
pairs = "gram"
[[toy]]
name = "t"
n = 30
m = [3, 5]
steps = 3
batch = 16
warmup = 1
eval_samples = 32
"""


def test_a_sweep_folder_with_a_failed_unit(tmp_path, capsys):
    (tmp_path / "sweep.toml").write_text(SWEEP_TOML)
    assert main(["sweep", str(tmp_path / "sweep.toml"), "--jobs", "1"]) == 1  # one unit fails
    capsys.readouterr()
    results = tmp_path / "res"
    status = json.loads((results / "sweep-status.json").read_text())
    result = build_report(results)
    assert result.counts["sweep status"] == 1 and result.corrupt == []
    # one strong run, two widths, 3 steps: its per-width figures, no fitted α_m (too few widths)
    assert list(result.figures) == [
        "toy_loss_vs_width",
        "toy_loss_vs_unlearned",
        "toy_row_norms",
        "toy_overlap_vs_width",
    ]
    assert "toy_alpha_m_families" in result.missing
    page = result.index_html.read_text()
    (failed,) = [u for u in status["units"] if u["state"] == "failed"]
    assert failed["id"] in page and failed["error"] in page
    assert "2 units: 1 failed, 1 ok" in page
    (results / "sweep-status.json").write_text(json.dumps({"units": "none"}))
    result = build_report(results)
    assert [rel for rel, _ in result.corrupt] == ["sweep-status.json"]
