"""Reference values, and measure() end to end on matrices with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from llmgeom.errors import ConfigError
from llmgeom.geometry.baselines import frame_bound, random_mean_abs_cos, reference_values
from llmgeom.geometry.measurement import measure
from llmgeom.memory import format_bytes, parse_size
from llmgeom.records.measurement import SCHEMA, load_record, save_record, write_record


def test_random_abs_cos_matches_monte_carlo_and_its_large_m_limit():
    gen = np.random.default_rng(0)
    m = 7
    a = gen.standard_normal((200_000, m))
    b = gen.standard_normal((200_000, m))
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert random_mean_abs_cos(m) == pytest.approx(np.abs(cos).mean(), rel=0.01)
    assert np.mean(cos**2) == pytest.approx(1 / m, rel=0.01)
    assert random_mean_abs_cos(10_000) == pytest.approx(math.sqrt(2 / (math.pi * 10_000)), rel=1e-3)
    assert random_mean_abs_cos(2) == pytest.approx(2 / math.pi)  # E|cos θ|, θ uniform


def test_reference_values():
    ref = reference_values(n=50_257, m=768)
    assert ref["random_mean_cos2"] == 1 / 768
    assert ref["random_std_cos2"] == pytest.approx(math.sqrt(2 * 767 / (768**2 * 770)))
    assert ref["welch_bound_max_abs_cos"] == pytest.approx(math.sqrt(frame_bound(50_257, 768)))
    assert frame_bound(5, 10) == 0.0  # fewer vectors than dimensions: all can be orthogonal


def test_measure_reports_raw_variant_with_reference_values():
    W = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    report = measure(W, progress=False)
    ref = report.reference
    assert report.variant == "raw" and report.n_rows_used == 400
    assert report.m_times_mean_cos2 == pytest.approx(16 * report.mean_cos2)
    assert report.m_times_mean_cos2 == pytest.approx(report.mean_cos2 / ref.random_mean_cos2)
    assert ref.random_mean_cos2 == 1 / 16
    assert report.mean_cos2 == pytest.approx(report.diagnostics["mean_cos2_blocked"], rel=1e-6)
    assert report.row_norms.count == 400 and report.row_norms.n_zero == 0
    norms = W.double().norm(dim=1).numpy()
    assert report.row_norms.mean == pytest.approx(norms.mean())
    assert report.row_norms.quantiles["0.5"] == pytest.approx(np.median(norms))
    assert set(report.diagnostics["timings"]) >= {
        "load_s",
        "normalize_s",
        "gram_s",
        "pairwise_s",
        "total_s",
    }
    json.dumps(report.to_dict(), allow_nan=False)
    assert "mean cos^2" in report.summary()


def test_measure_does_not_modify_the_callers_tensor():
    W = torch.randn(50, 8, generator=torch.Generator().manual_seed(1))
    before = W.clone()
    measure(W, progress=False)
    assert torch.equal(W, before)


def test_float16_and_bfloat16_heads_are_normalised_in_float32():
    W = torch.randn(300, 12, generator=torch.Generator().manual_seed(2))
    exact = measure(W, pairs="gram", progress=False).mean_cos2
    for dtype in (torch.float16, torch.bfloat16):
        rounded = W.to(dtype)
        ref = measure(rounded.float(), pairs="gram", progress=False).mean_cos2
        got = measure(rounded, pairs="gram", progress=False).mean_cos2
        assert got == pytest.approx(ref, rel=1e-6)
        assert got == pytest.approx(exact, rel=0.02)


def test_sample_mode_reports_intervals():
    W = torch.randn(1000, 8, generator=torch.Generator().manual_seed(3))
    report = measure(W, pairs="sample", sample_rows=300, progress=False)
    sampled = report.diagnostics["sampled"]
    lo, hi = sampled["interval"]["mean_cos2"]
    assert lo <= report.mean_cos2 <= hi  # the exact Gram value is always reported
    assert report.pairs == "sample"


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="pairs"):
        measure(torch.eye(3), pairs="all", progress=False)
    with pytest.raises(ConfigError, match="row selection"):
        measure(torch.eye(3), rows="some", progress=False)
    with pytest.raises(ConfigError, match="tokenizer"):
        measure(torch.eye(3), rows="tokenizer", progress=False)
    with pytest.raises(ConfigError, match="at least 2 rows"):
        measure(torch.eye(3), pairs="sample", sample_rows=1, progress=False)
    with pytest.raises(ConfigError, match="time_budget"):
        measure(torch.eye(3), time_budget=0.0, progress=False)


def test_results_round_trip_and_never_overwrite_another_model(tmp_path):
    a = measure(torch.eye(6, 3), pairs="gram").to_dict()
    path = write_record(a, tmp_path)
    assert load_record(path)["schema"] == SCHEMA
    other = json.loads(json.dumps(a))
    other["model"]["sha256"] = "f" * 64  # same name, another tensor
    beside = save_record(other, tmp_path)
    assert (beside.action, beside.path.name) == ("beside", f"{path.stem}.ffffffff.json")
    assert load_record(path)["model"]["sha256"] == a["model"]["sha256"]  # left as it was
    again = save_record(a, tmp_path)
    assert (again.path, again.action) == (path, "updated")  # same tensor, nothing lost
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="schema"):
        load_record(bad)
    assert not list(tmp_path.glob("*.tmp"))


def test_sizes():
    assert parse_size("1.5GB") == 1_500_000_000
    assert parse_size("64MiB") == 64 * 2**20
    assert format_bytes(321_600_000) == "321.6 MB"
    with pytest.raises(ConfigError):
        parse_size("lots")


def test_random_cos_density_is_normalised_and_matches_the_variance():
    from llmgeom.geometry.plot import random_cos_density

    c = np.linspace(-1, 1, 200_001)
    for m in (3, 16, 768):
        p = random_cos_density(c, m)
        assert np.trapezoid(p, c) == pytest.approx(1.0, abs=1e-4)
        assert np.trapezoid(p * c**2, c) == pytest.approx(1 / m, rel=1e-3)


def test_cli_plot_writes_a_png_next_to_the_json(tmp_path):
    from llmgeom.cli import main

    path = tmp_path / "w.npy"
    np.save(path, np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32))
    assert (
        main(["measure", str(path), "--out", str(tmp_path / "out"), "--plot", "--no-progress"]) == 0
    )
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["w.npy.raw.json", "w.npy.raw.png", "w.npy.raw.spectrum.png"]
    for png in names[1:]:
        assert (tmp_path / "out" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_result_files_are_readable_like_ordinary_files(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = write_record(measure(torch.eye(6, 3), pairs="gram").to_dict(), tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_cli_plot_of_a_sampled_measurement_uses_the_sampled_histogram(tmp_path):
    from llmgeom.cli import main

    path = tmp_path / "w.npy"
    np.save(path, np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32))
    out = tmp_path / "out"
    assert main(["measure", str(path), "--out", str(out), "--plot", "--sample", "40"]) == 0
    record = json.loads((out / "w.npy.raw.json").read_text())
    sampled = record["stats"]["sampled"]
    assert sum(sampled["histogram"]["counts"]) == sampled["pairs_sampled"]  # the random pairs
    assert "histogram" not in record["stats"]
    assert (out / "w.npy.raw.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------- options declared once, schema


def test_cli_arguments_are_generated_from_measure_options():
    import argparse
    from dataclasses import fields

    from llmgeom.cli.measure import register
    from llmgeom.options import MeasureOptions, help_text

    parser = argparse.ArgumentParser(prog="llmgeom")
    register(parser.add_subparsers(dest="command"))
    measure_parser = parser._subparsers._group_actions[0].choices["measure"]
    actions = {a.dest: a for a in measure_parser._actions}
    declared = [f for f in fields(MeasureOptions) if f.metadata.get("flag")]
    assert {f.name for f in declared} == set(actions) - {"help", "sources", "out", "plot",
                                                          "save_arrays"}  # fmt: skip
    for f in declared:
        action = actions[f.name]
        assert action.option_strings == [f.metadata["flag"], *f.metadata["aliases"]]
        assert f.metadata["flag"] == "--" + f.name.replace("_", "-") or f.name in ("progress",)
        assert action.default is None  # "not given": the dataclass default applies
        assert tuple(action.choices or ()) == tuple(f.metadata["choices"] or ())
        assert action.help == help_text(f)
    # with nothing given, the CLI's options are exactly the dataclass defaults
    from llmgeom.cli.measure import _options

    assert _options(parser.parse_args(["measure", "x"])) == MeasureOptions()


def test_options_object_keywords_and_record_agree():
    from llmgeom.options import MeasureOptions

    W = torch.randn(120, 8, generator=torch.Generator().manual_seed(4))
    opts = MeasureOptions(pairs="gram", center=True)
    by_object = measure(W, options=opts, progress=False)
    by_keywords = measure(W, pairs="gram", center=True, progress=False)
    assert by_object.to_dict()["stats"] == by_keywords.to_dict()["stats"]
    assert by_object.to_dict()["options"] == opts.to_record()
    assert by_object.to_dict()["options"]["center"] is True
    overridden = measure(W, options=opts, center=False, progress=False)
    assert overridden.diagnostics["variant"]["center"] is False and overridden.pairs == "gram"
    with pytest.raises(TypeError):
        measure(W, pair="gram")  # a misspelt option is not silently ignored


@pytest.mark.parametrize(
    ("keywords", "flag", "python", "cli"),
    [
        ({"seed": -1}, "--seed=-1", "seed must be an integer >= 0, got -1", "--seed must be an "
         "integer >= 0, got -1"),
        ({"memory_budget": 0}, "--memory-budget=0", "memory_budget must be a positive size, "
         "e.g. 512MB, got 0", "--memory-budget must be a positive size, e.g. 512MB, got 0"),
        ({"sample_rows": 1}, "--sample=1", "sampling needs at least 2 rows, got sample_rows=1",
         "sampling needs at least 2 rows, got --sample-rows 1"),
        ({"bins": -2}, "--bins=-2", "bins must be an integer >= 0, got -2", "--bins must be an "
         "integer >= 0, got -2"),
        ({"device": "tpu"}, "--device=tpu", None, None),
    ],
)  # fmt: skip
def test_python_names_the_parameter_and_the_cli_the_flag_in_the_same_message(
    tmp_path, capsys, keywords, flag, python, cli
):
    from llmgeom.cli import main

    with pytest.raises(ConfigError) as info:
        measure(torch.eye(3), **keywords)
    if python is None:  # no parameter named: the same text on both sides
        assert "unknown device 'tpu'" in str(info.value)
        python = cli = str(info.value)
    assert str(info.value) == python
    np.save(tmp_path / "w.npy", np.eye(3, dtype=np.float32))
    assert main(["measure", str(tmp_path / "w.npy"), "--out", str(tmp_path / "o"), flag]) == 1
    assert capsys.readouterr().err == f"llmgeom measure: error: {cli}\n"
    assert not (tmp_path / "o").exists()


def test_a_record_measure_wrote_validates_and_a_malformed_one_is_a_one_line_error(tmp_path, capsys):
    from llmgeom.cli import main
    from llmgeom.records.measurement import validate_record

    np.save(tmp_path / "w.npy", np.random.default_rng(0).standard_normal((50, 6)))
    assert main(["measure", str(tmp_path / "w.npy"), "--out", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert validate_record(record) is record and load_record(path) == record
    for block, name, value, needle in [
        ("stats", "mean_cos2", "small", "stats.mean_cos2 = 'small' is not a number"),
        ("model", "head_width", None, "model.head_width = None is not an integer"),
        ("variant", "center", "no", "variant.center = 'no' is not true/false"),
        ("stats", "m", True, "stats.m = True is not an integer"),
    ]:
        bad = json.loads(json.dumps(record))
        bad[block][name] = value
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match="malformed llmgeom measurement"):
            load_record(tmp_path / "bad.json")
        args = ["fit", "overlap", str(tmp_path / "bad.json"), "--out", str(tmp_path / "f")]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err and str(tmp_path / "bad.json") in err
    del record["stats"]["mean_cos2"]
    with pytest.raises(ConfigError, match=r"stats.mean_cos2 is missing"):
        validate_record(record, "r.json")


def test_measure_keywords_are_the_options_fields_with_their_defaults():
    """IDE completion: every option is an explicit keyword of ``measure``, named, typed and
    defaulted as the one declaration (MeasureOptions) says; nothing hides in ``**kwargs``."""
    import dataclasses
    import inspect

    from llmgeom.options import MeasureOptions

    params = inspect.signature(measure).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    fields = {f.name: f.default for f in dataclasses.fields(MeasureOptions)}
    keywords = {n: p.default for n, p in params.items() if n not in ("source", "options")}
    assert keywords == fields


def test_measure_keywords_override_an_options_object_only_where_given():
    from llmgeom.options import MeasureOptions

    W = torch.randn(40, 6, generator=torch.Generator().manual_seed(3))
    base = MeasureOptions(pairs="gram", rows="all", progress=False)
    plain = measure(W, options=base)
    assert plain.pairs == "gram"
    exact = measure(W, options=base, pairs="exact")
    assert exact.pairs == "exact" and exact.mean_cos2 == pytest.approx(plain.mean_cos2, abs=1e-12)
    with pytest.raises(TypeError):
        measure(W, sampel_rows=5)  # a misspelt option is an error, never dropped
