"""The typed-result base and :func:`llmgeom.records.to_pandas`: one row per result, the
columns read back against the JSON files themselves (the json module as the oracle)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from llmgeom.errors import ConfigError, LlmgeomError
from llmgeom.fits import (
    ChinchillaFit,
    fit_chinchilla,
    fit_loss,
    write_loss_table,
)
from llmgeom.paper.published import paper_implied_losses
from llmgeom.records import Estimate, to_pandas


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    fit_chinchilla().save(root)
    table = write_loss_table(root / "inputs" / "losses.csv", paper_implied_losses())
    fit_loss(table, n_bootstrap=0).save(root / "fits")
    (root / "notes.json").write_text('{"what": "not a result"}')
    (root / "broken.json").write_text("{")
    return root


def test_one_row_per_result_with_the_values_in_the_files(folder):
    table = to_pandas(folder)
    assert sorted(table["schema"]) == ["llmgeom.fit.chinchilla/2", "llmgeom.fit.width_loss/2"]
    for row in table.to_dict("records"):
        written = json.loads(open(row["path"]).read())
        assert row["schema"] == written["schema"]
        if written["schema"] == "llmgeom.fit.chinchilla/2":
            assert (row["k"], row["alpha_m"], row["n_models"]) == (
                written["k"], written["alpha_m"], written["n_models"],
            )  # fmt: skip
        else:
            assert (row["alpha"], row["C"], row["n_points"]) == (
                written["alpha"], written["C"], written["n_points"],
            )  # fmt: skip


def test_named_files_must_be_results(folder):
    table = to_pandas([folder / "chinchilla_fit.json"])
    assert len(table) == 1 and table["k"][0] == ChinchillaFit.load(folder / "chinchilla_fit.json").k
    with pytest.raises(ConfigError, match=r"notes\.json: not an llmgeom result"):
        to_pandas([folder / "notes.json"])


def test_without_pandas_the_error_names_the_extra(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install llmgeom\[pandas\]"):
        to_pandas(folder)


def test_a_typed_result_is_frozen_and_round_trips(folder):
    r = ChinchillaFit.load(folder / "chinchilla_fit.json")
    with pytest.raises(AttributeError):
        r.k = 1.0  # type: ignore[misc]
    assert ChinchillaFit.from_dict(r.to_dict()) == r
    assert r.to_dict() == json.loads((folder / "chinchilla_fit.json").read_text())
    assert len(repr(r)) < 120 and "<table>" in r._repr_html_()


def test_estimate_text():
    assert Estimate(0.25).text() == "0.25 (exact)"
    e = Estimate(0.25, se=0.01, ci95=(0.2304, 0.2696), method="sample")
    assert e.text(3) == "0.25 ± 0.01, 95% CI [0.23, 0.27], sample" and float(e) == 0.25


def test_loss_results_round_trip_and_join_the_table(tmp_path):
    from llmgeom.text.loss import LossResult, load_loss_record

    golden = Path(__file__).resolve().parents[1] / "golden" / "v0_1" / "loss"
    for path in sorted(golden.glob("*.loss.json")):
        written = json.loads(path.read_text())
        r = LossResult.load(path)
        assert r.to_dict() == written == load_loss_record(path)
        assert LossResult.from_dict(r.to_dict()) == r
        assert (r.loss, r.tokens, r.corpus_name) == (
            written["loss"]["loss"], written["loss"]["tokens"], written["corpus"]["name"],
        )  # fmt: skip
        assert path.name == f"{r.model_name}.{r.corpus_name}.loss.json"  # the name save_loss gives
        assert len(repr(r)) < 120 and "<caption>LossResult</caption>" in r._repr_html_()
    table = to_pandas(golden)
    assert sorted(table["corpus"]) == ["c4", "wiki"]
    for row in table.to_dict("records"):
        assert row["loss"] == json.loads(Path(row["path"]).read_text())["loss"]["loss"]


def test_freq_records_read_back_typed_and_join_the_table():
    from llmgeom.text.freq_record import FreqResult

    golden = Path(__file__).resolve().parents[1] / "golden" / "v0_1" / "freq"
    for path in sorted(golden.glob("*.freq.json")):
        written = json.loads(path.read_text())
        r = FreqResult.load(path)
        assert r.to_dict() == written and FreqResult.from_dict(r.to_dict()) == r
        mle = written["rank_frequency"]["mle"]
        assert (r.tokens_counted, r.mle_s, list(r.mle_s_ci95)) == (
            written["stats"]["tokens_counted"], mle["s"], mle["ci95"],
        )  # fmt: skip
        assert r.loglog_alpha == written["rank_frequency"]["loglog"]["alpha"]
        assert (golden / r.counts_file).name == path.name.replace(".freq.json", ".counts.npz")
    table = to_pandas(golden)
    assert sorted(table["corpus"]) == ["c4", "wiki"] and set(table["schema"]) == {"llmgeom.freq/1"}


def test_each_file_is_read_once(folder, monkeypatch):
    reads: list[str] = []
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        reads.append(str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    table = to_pandas(folder)
    results = [r for r in reads if r.startswith(str(folder))]
    assert sorted(results) == sorted(str(p) for p in folder.rglob("*.json"))  # once each
    assert len(table) == 2


def test_a_malformed_result_in_a_folder_is_refused_as_load_refuses_it(tmp_path):
    fit_chinchilla().save(tmp_path)
    record = json.loads((tmp_path / "chinchilla_fit.json").read_text())
    record["k"] = "steep"
    (tmp_path / "chinchilla_fit.json").write_text(json.dumps(record))
    with pytest.raises(LlmgeomError, match=r"chinchilla_fit\.json: malformed .*k = 'steep'"):
        ChinchillaFit.load(tmp_path / "chinchilla_fit.json")
    with pytest.raises(LlmgeomError, match=r"chinchilla_fit\.json: malformed .*k = 'steep'"):
        to_pandas(tmp_path)
