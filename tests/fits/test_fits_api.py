"""``llmgeom.fits.fit_overlap|fit_loss|fit_chinchilla``: typed results that round-trip exactly,
write what ``llmgeom fit`` writes, and name the Python parameter in their errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from records import write_measured_record

from llmgeom.cli import main
from llmgeom.errors import ConfigError, FitError
from llmgeom.fits import (
    ChinchillaCheck,
    ChinchillaFit,
    OverlapFit,
    OverlapLaw,
    WidthLossFit,
    WidthLossLaw,
    fit_chinchilla,
    fit_loss,
    fit_overlap,
    write_loss_table,
)
from llmgeom.fits.plots import plot_overlap
from llmgeom.paper.published import paper_implied_losses

HEADS = (64, 128, 256)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Measurement records written by ``llmgeom.measure`` (two families, three widths), a loss
    table with the paper's law plus noise, and a small model-size table."""
    root = tmp_path_factory.mktemp("inputs")
    results = root / "results"
    results.mkdir()
    for fam, a in (("opt", 3.0), ("gpt2", 3.5)):
        for k, head in enumerate(HEADS):
            mean_cos2 = float(np.exp(a) / head**0.9 * (1 + 0.02 * (-1) ** k))
            write_measured_record(results / f"{fam}-{head}.json", f"./{fam}-{head}", fam, head,
                                  2 * head, mean_cos2)  # fmt: skip
    losses = write_loss_table(root / "losses.csv", paper_implied_losses(0.072, seed=0))
    sizes = root / "sizes.csv"
    sizes.write_text("params,d_model\n1e8,512\n3.1e8,1024\n1.3e9,2048\n4.9e9,4096\n")
    return {"results": results, "losses": losses, "sizes": sizes}


@pytest.fixture(scope="module")
def fitted(inputs):
    return {
        "overlap": fit_overlap([inputs["results"]], n_bootstrap=40, seed=1),
        "overlap_d": fit_overlap(inputs["results"], width="d_model", n_bootstrap=0),
        "ls": fit_loss(inputs["losses"], n_bootstrap=20, resample="models"),
        "huber": fit_loss(inputs["losses"], loss="huber", n_bootstrap=5),
        "chinchilla": fit_chinchilla(),
        "chinchilla_table": fit_chinchilla(inputs["sizes"], propagation="quadrature"),
    }


KINDS = {
    "overlap": OverlapFit,
    "overlap_d": OverlapFit,
    "ls": WidthLossFit,
    "huber": WidthLossFit,
    "chinchilla": ChinchillaFit,
    "chinchilla_table": ChinchillaFit,
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_results_round_trip_exactly(fitted, tmp_path, name):
    result = fitted[name]
    payload = result.to_dict()
    back = KINDS[name].from_dict(payload)
    assert back.to_dict() == payload and back == result
    assert json.dumps(back.to_dict()) == json.dumps(payload)  # same keys in the same order
    # the law itself round-trips: its own to_dict, rebuilt from the payload, gives it back
    law_keys = set(result.law.to_dict())
    assert back.law.to_dict() == {k: v for k, v in payload.items() if k in law_keys}
    assert back.summary() == result.summary()  # every number of the text restored
    assert dataclasses.fields(back) == dataclasses.fields(result)
    for field in dataclasses.fields(result):
        if field.name not in ("law", "_payload"):
            assert repr(getattr(back, field.name)) == repr(getattr(result, field.name))
    json_path, png_path = result.save(tmp_path)
    assert (json_path.name, png_path.name) == (f"{result.stem}.json", f"{result.stem}.png")
    assert json.loads(json_path.read_text()) == payload
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    loaded = KINDS[name].load(json_path)
    assert loaded == result and loaded.to_dict() == payload
    json2, _ = loaded.save(tmp_path / "again")  # a loaded result saves the same JSON
    assert json2.read_bytes() == json_path.read_bytes()
    assert not list(tmp_path.rglob("*.tmp"))


def test_headline_attributes_are_the_json_values(fitted):
    o = fitted["overlap"].to_dict()
    r = fitted["overlap"]
    assert (r.slope, r.slope_se, r.r2, r.n_models) == (o["slope"], o["slope_se"], o["r2"], 6)
    assert r.slope_ci_t == tuple(o["slope_ci_t"]) and r.families == ("gpt2", "opt")
    assert dict(r.intercepts) == o["intercepts"] and r.width == "head"
    assert len(r.inputs) == 6 and all(p.endswith(".json") for p in r.inputs)
    w, wd = fitted["ls"], fitted["ls"].to_dict()
    assert (w.alpha, w.C, w.loss, w.n_points) == (wd["alpha"], wd["C"], "ls", 108)
    assert {f: dict(by) for f, by in w.offsets_L0.items()} == wd["offsets_L0"]
    c, cd = fitted["chinchilla"], fitted["chinchilla"].to_dict()
    assert (c.k, c.k_se, c.alpha_m, c.alpha_m_err) == (
        cd["k"],
        cd["k_se"],
        cd["alpha_m"],
        cd["alpha_m_err"],
    )
    assert c.table == "configs/chinchilla_table_a9.csv" and round(c.k, 4) == 2.5226
    # the slope the records were designed with (mean cos² ∝ m^-0.9, ±2 % alternating noise)
    assert r.slope == pytest.approx(0.9, abs=0.03)


def test_results_are_frozen_with_short_reprs(fitted):
    for result in fitted.values():
        text = repr(result)
        assert "\n" not in text and len(text) < 200 and text.startswith(type(result).__name__)
        assert result._repr_html_().startswith("<table>")
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.law = None
    with pytest.raises(TypeError):
        fitted["ls"].offsets_L0["opt"] = {}


def test_library_json_equals_the_cli_json(inputs, fitted, tmp_path, capsys):
    runs = {
        "overlap": ["overlap", str(inputs["results"]), "--bootstrap", "40", "--seed", "1"],
        "overlap_d": ["overlap", str(inputs["results"]), "--width", "d_model", "--bootstrap", "0"],
        "ls": ["loss", str(inputs["losses"]), "--bootstrap", "20", "--resample", "models"],
        "huber": ["loss", str(inputs["losses"]), "--loss", "huber", "--bootstrap", "5"],
        "chinchilla": ["chinchilla"],
        "chinchilla_table": [
            "chinchilla",
            "--table",
            str(inputs["sizes"]),
            "--propagation",
            "quadrature",
        ],
    }
    for name, argv in runs.items():
        cli_out, lib_out = tmp_path / name / "cli", tmp_path / name / "lib"
        assert main(["fit", *argv, "--out", str(cli_out)]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(fitted[name].summary() + "\n")
        assert printed.rstrip().endswith(f"{fitted[name].stem}.png")
        saved = fitted[name].save(lib_out)
        for cli_file, lib_file in zip(sorted(cli_out.iterdir()), saved, strict=True):
            assert cli_file.name == lib_file.name
            assert cli_file.read_bytes() == lib_file.read_bytes()


def test_from_dict_predicts_what_the_fitted_law_predicts(fitted):
    grid = np.geomspace(30.0, 9000.0, 17)
    overlap = fitted["overlap"]
    back = OverlapLaw.from_dict(overlap.to_dict())
    for g in overlap.families:  # oracle: the formula on the JSON numbers, plain numpy
        expected = np.exp(overlap.intercepts[g] - overlap.slope * np.log(grid))
        assert np.array_equal(back.predict(grid, g), overlap.law.predict(grid, g))
        np.testing.assert_allclose(back.predict(grid, g), expected, rtol=1e-14)
        bands = zip(back.predict_band(grid, g), overlap.law.predict_band(grid, g), strict=True)
        for a, b in bands:
            np.testing.assert_allclose(a, b, rtol=1e-9)  # covariance rebuilt from the points
    for name in ("ls", "huber"):
        result = fitted[name]
        back = WidthLossLaw.from_dict(result.to_dict())
        for f, by in result.offsets_L0.items():
            for c, l0 in by.items():
                assert np.array_equal(back.predict(grid, f, c), result.law.predict(grid, f, c))
                expected = result.C * grid ** (-result.alpha) + l0
                np.testing.assert_allclose(back.predict(grid, f, c), expected, rtol=1e-14)
    check = fitted["chinchilla"]
    back = ChinchillaCheck.from_dict(check.to_dict())
    assert np.array_equal(back.predict(grid), check.law.predict(grid))
    np.testing.assert_allclose(
        back.predict(grid), check.law.line_.predict(grid), rtol=1e-12
    )  # the log-log line fit, independently of the restored attributes


@pytest.mark.parametrize(
    ("call", "parameter_message", "argv", "flag_message"),
    [
        (
            lambda t: fit_loss(t["losses"], n_bootstrap=-1),
            "n_bootstrap must be a finite number >= 0, got -1",
            ["loss", "{losses}", "--bootstrap", "-1"],
            "--bootstrap must be a finite number >= 0, got -1",
        ),
        (
            lambda t: fit_loss(t["losses"], huber_delta=0.0),
            "huber_delta must be a finite number > 0, got 0",
            ["loss", "{losses}", "--huber-delta", "0"],
            "--huber-delta must be a finite number > 0, got 0",
        ),
        (
            lambda t: fit_overlap(t["results"], seed=-3),
            "seed must be a finite number >= 0, got -3",
            ["overlap", "{results}", "--seed", "-3"],
            "--seed must be a finite number >= 0, got -3",
        ),
        (
            lambda t: fit_chinchilla(alpha_n_se=-0.5),
            "alpha_n_se must be a finite number >= 0, got -0.5",
            ["chinchilla", "--alpha-n-se", "-0.5"],
            "--alpha-n-se must be a finite number >= 0, got -0.5",
        ),
        (
            lambda t: fit_chinchilla(alpha_n=float("nan")),
            "alpha_n must be a finite number > 0, got nan",
            ["chinchilla", "--alpha-n", "nan"],
            "--alpha-n must be a finite number > 0, got nan",
        ),
    ],
)
def test_library_names_the_parameter_and_the_cli_the_flag(
    inputs, tmp_path, capsys, call, parameter_message, argv, flag_message
):
    with pytest.raises(ConfigError) as err:
        call(inputs)
    assert str(err.value) == parameter_message
    out = tmp_path / "out"
    argv = [a.format(**{k: str(v) for k, v in inputs.items()}) for a in argv]
    assert main(["fit", *argv, "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"llmgeom fit: error: {flag_message}\n"
    assert not out.exists()


def test_mode_errors_name_the_parameter(inputs):
    with pytest.raises(ConfigError, match=r"^width must be one of 'head', 'd_model', got 'x'$"):
        fit_overlap(inputs["results"], width="x")
    with pytest.raises(ConfigError, match=r"^resample must be one of"):
        fit_loss(inputs["losses"], resample="cases")
    with pytest.raises(ConfigError, match=r"^n_bootstrap must be a whole number, got 2.5$"):
        fit_loss(inputs["losses"], n_bootstrap=2.5)
    with pytest.raises(ConfigError, match=r"^propagation must be one of"):
        fit_chinchilla(propagation="sum")


def test_load_checks_the_schema_and_saving_into_a_file_fails(fitted, tmp_path):
    json_path, _ = fitted["chinchilla"].save(tmp_path)
    with pytest.raises(FitError, match=r"not llmgeom\.fit\.overlap/2"):
        OverlapFit.load(json_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        fitted["chinchilla"].save(tmp_path / "file" / "fits")


def test_plots_draw_into_a_given_axes(fitted):
    from llmgeom import plotting

    fig, (left, right) = plotting.new_figure(2)
    assert plot_overlap(fitted["overlap"].law, ax=right) is fig
    assert fitted["ls"].figure(ax=left) is fig
    assert len(right.collections) >= 4 and left.get_xscale() == "log"  # points + bands


@pytest.mark.parametrize(
    ("options", "function"),
    [
        ("OverlapFitOptions", "fit_overlap"),
        ("LossFitOptions", "fit_loss"),
        ("ChinchillaFitOptions", "fit_chinchilla"),
    ],
)
def test_each_fit_declares_its_options_once(options, function):
    """The Python keywords, their defaults and the CLI flags come from one options class."""
    import inspect
    from dataclasses import fields

    import llmgeom.fit_options as fit_options
    import llmgeom.fits as fits
    from llmgeom.cli import build_parser
    from llmgeom.cli.flags import flags_of

    cls = getattr(fit_options, options)
    signature = inspect.signature(getattr(fits, function))
    keywords = [p for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in keywords] == [f.name for f in fields(cls)]
    assert [p.default for p in keywords] == [f.default for f in fields(cls)]
    parser = build_parser()
    law = function.removeprefix("fit_")
    argv = ["fit", law] + (["x"] if law != "chinchilla" else [])
    flags = flags_of(parser, parser.parse_args(argv))
    assert {f.name: flags[f.name] for f in fields(cls)} == {
        f.name: f.metadata["flag"] for f in fields(cls)
    }
