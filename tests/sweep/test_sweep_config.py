"""The sweep config: relative paths, revisions, one-line errors naming the key, unit expansion,
and the shipped configs' unit counts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from llmgeom.cli import main
from llmgeom.configs import config_path
from llmgeom.errors import ConfigError
from llmgeom.sweep.config import load_config, parse_config
from llmgeom.sweep.plan import expand_units


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.toml"
    path.write_text(text)
    return path


def test_relative_paths_start_at_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "ckpt").mkdir(parents=True)
    (project / "data").mkdir()
    (project / "data" / "wiki.txt").write_text("some text\n")
    (project / "toys").mkdir()
    (project / "toys" / "small.toml").write_text("n = 20\nm = [2, 4]\nsteps = 2\ngamma = -1.0\n")
    path = _write(
        project / "conf",
        'out = "../results"\nmodels = ["../ckpt", "gpt2"]\ntoy = ["../toys/small.toml"]\n'
        '[loss]\ncorpora = ["../data/wiki.txt", "hf:allenai/c4:en:train"]\n',
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(path)
    assert cfg.out == (project / "results").resolve()
    local, hub = cfg.models
    assert (local.source, local.local, local.name) == (
        str((project / "ckpt").resolve()),
        True,
        "ckpt",
    )
    assert (hub.source, hub.local, hub.family) == ("gpt2", False, "gpt2")
    assert cfg.loss.corpora == (
        str((project / "data" / "wiki.txt").resolve()),
        "hf:allenai/c4:en:train",
    )
    assert cfg.toy[0].source == str((project / "toys" / "small.toml").resolve())
    # --out replaces the config's out, relative to the current folder
    assert load_config(path, out="mine").out == (elsewhere / "mine").resolve()


def test_revisions_expand_hub_models_over_training_steps():
    cfg = parse_config(
        'models = ["pythia-70m", {source = "pythia-410m", revision = "step5"},'
        ' "EleutherAI/pythia-1b@step7"]\n'
        '[[revisions]]\nrevision = "step1000"\n'
        '[[revisions]]\nrevision = "step2000"\nmodels = ["pythia-70m"]\n'
        "[measure]\n"
    )
    labels = [m.label for m in cfg.models]
    # a model with its own revision is not expanded; a table may restrict itself to some models
    assert labels == [
        "pythia-70m@step1000",
        "pythia-70m@step2000",
        "pythia-410m@step5",
        "pythia-1b@step7",
    ]
    units = expand_units(cfg)
    assert [u.outputs[0] for u in units] == [
        "EleutherAI--pythia-70m.step1000.raw.json",
        "EleutherAI--pythia-70m.step2000.raw.json",
        "EleutherAI--pythia-410m.step5.raw.json",
        "EleutherAI--pythia-1b.step7.raw.json",
    ]
    assert units[0].params["revision"] == "step1000"


def test_a_name_given_in_models_names_the_measurement_and_its_revisions():
    cfg = parse_config(
        'models = [{source = "pythia-70m", name = "mine", family = "f"}, "gpt2"]\n'
        'revisions = ["step1"]\n[measure]\n'
    )
    units = expand_units(cfg)
    assert [u.outputs[0] for u in units] == [
        "mine.step1.raw.json",
        "openai-community--gpt2.step1.raw.json",  # no name given: named as `measure` names it
    ]
    assert [(u.params["name"], u.params["family"]) for u in units] == [
        ("mine", "f"),
        (None, "gpt2"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('modles = ["gpt2"]', "modles: not a top-level key of the sweep config; did you mean"),
        ('models = ["gpt2"]\n[measure]\npair = "gram"', "[measure] pair: not a measure option"),
        ('models = ["gpt2"]\n[measure]\npairs = "all"', "[measure] unknown pairs mode 'all'"),
        ('models = ["gpt2"]\n[measure]\nbins = -1', "[measure] bins must be an integer >= 0"),
        (
            'models = ["gpt2"]\n[measure]\nfamily = "x"',
            "[measure] family: given per model: [[models]] family",
        ),
        (
            'models = ["gpt2"]\n[measure]\nrevision = "step1"',  # was silently replaced
            "[measure] revision: given per model: [[models]] revision, or revisions = [...]",
        ),
        ('models = ["gpt2"]\n[measure]\nsample = 9', "[measure] sample: not a measure option"),
        (
            'models = ["gpt2"]\n[loss]\ncorpora = ["hf:x"]\nsample_rows = 4',
            "[loss] sample_rows: not a loss option; it belongs in [measure] (known: batch_size, ",
        ),
        (
            'models = ["gpt2"]\n[loss]\ncorpora = ["hf:x"]\nmax_length = 1',
            "[loss] max_length must be at least 2 tokens, got 1",
        ),
        ('models = ["gpt2"]\n[freq]\ncorpora = ["hf:x"]\ntokens = -1', "[freq] tokens must"),
        (
            'models = ["gpt2"]\n[loss]\ncorpora = ["hf:x"]\ndtype = "fp8"',
            "[loss] dtype must be one of float32, bfloat16, float16 or None, got 'fp8'",
        ),
        (
            'models = ["gpt2"]\n[loss]\ncorpora = ["hf:x"]\nsamples = 0',
            "[loss] samples must be at least 1, got 0",
        ),
        ('models = ["gpt2"]\n[loss]\nsamples = 5', "[loss] corpora is missing"),
        (
            'models = ["gpt2"]\n[freq]\ncorpora = ["hf:x"]\ntokens = "many"',
            "[freq] tokens must be a whole number, got 'many'",
        ),
        (
            'models = ["gpt2"]\n[freq]\ncorpora = ["hf:x"]\nrecipe = "mine"',
            "[freq] recipe must be one of",
        ),
        ('models = [{name = "x"}]\n[measure]', "models[0].source is missing"),
        (
            'models = [{source = "gpt2", size = 1}]\n[measure]',
            "models[0] size: not a [[models]] key (known: family, name, revision, source)",
        ),
        ('models = [{source = "gpt2", name = ""}]\n[measure]', "models[0].name must be a non-emp"),
        ('models = ["gpt2", "gpt2"]\n[measure]', "two models are named gpt2"),
        (
            'models = ["gpt2"]\n[loss]\ncorpora = ["hf:x"]\nmodels = ["gpt3"]',
            "[loss] models: no model",
        ),
        ('models = ["gpt2"]\n[measure]\nexecutor = "ray"', "it belongs in the top level"),
        ('executor = "dask"\ntoy = ["quick"]', "executor must be one of local, ray, got 'dask'"),
        ('jobs = 0\ntoy = ["quick"]', "jobs must be a positive integer, got 0"),
        ('models = ["gpt2"]', "the sweep config asks for nothing"),
        ('models = ["gpt2"\n', "invalid TOML"),
        ('toy = ["nope.toml"]', "no such toy config file 'nope.toml'"),
        ('[[toy]]\nname = "t"\nsteps = 0', "toy toy-t:"),
    ],
)
def test_bad_configs_are_one_line_errors_naming_the_key(text, message):
    with pytest.raises(ConfigError) as info:
        parse_config(text, base_dir="/nonexistent-base")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_revisions_of_a_local_model_are_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(ConfigError, match="revisions apply to Hub models; ckpt is a local path"):
        parse_config('models = ["ckpt"]\nrevisions = ["step1"]\n[measure]', base_dir=tmp_path)


def test_two_units_writing_one_file_are_refused():
    # llmgeom loss names its files by model and corpus, not revision: two revisions would collide
    cfg = parse_config(
        'models = ["pythia-70m"]\nrevisions = ["step1", "step2"]\n'
        '[loss]\ncorpora = ["hf:allenai/c4:en:train"]'
    )
    with pytest.raises(ConfigError) as info:
        expand_units(cfg)
    assert "would both write EleutherAI--pythia-70m.c4-en.loss.json" in str(info.value)


def test_units_per_analysis_corpus_and_tokenizer():
    cfg = parse_config(
        'models = ["gpt2", "gpt2-xl", "pythia-70m", {source = "gpt2-medium", name = "gm"}]\n'
        '[measure]\nmodels = ["gpt2", "gm"]\n'
        '[loss]\ncorpora = ["hf:wikitext:wikitext-103-v1:train", "hf:NeelNanda/pile-10k:train"]\n'
        '[freq]\ncorpora = ["hf:allenai/c4:en:train"]\n'
    )
    units = expand_units(cfg)
    ids = [u.id for u in units]
    assert ids[:2] == ["measure/gpt2", "measure/gm"]
    assert [i for i in ids if i.startswith("loss/")] == [
        f"loss/{m}/{c}"
        for m in ("gpt2", "gpt2-xl", "pythia-70m", "gm")
        for c in ("wikitext-103-v1", "pile-10k")
    ]
    # one tokenizer per family: gpt2's serves gpt2-xl and gpt2-medium
    assert [i for i in ids if i.startswith("freq/")] == ["freq/gpt2/c4-en", "freq/pythia/c4-en"]
    loss = units[2]
    assert loss.outputs == ("openai-community--gpt2.wikitext-103-v1.loss.json", "losses.csv")
    assert (loss.params["model_name"], loss.params["corpus_name"]) == (
        "openai-community/gpt2",
        "wikitext-103-v1",
    )
    assert len(set(ids)) == len(ids)


def _registry_ids() -> list[str]:
    with config_path("models.csv").open() as fh:
        return [row["hub_id"] for row in csv.DictReader(fh)]


def test_shipped_paper_config_has_the_27_models_four_corpora_four_tokenizers():
    cfg = load_config(config_path("paper-27.toml"))
    units = expand_units(cfg)
    kinds = [u.kind for u in units]
    assert (kinds.count("measure"), kinds.count("loss"), kinds.count("freq")) == (27, 27 * 4, 4 * 4)
    from llmgeom.sources.registry import lookup

    assert sorted(lookup(m.source).hub_id for m in cfg.models) == sorted(_registry_ids())
    loss = cfg.loss.options
    assert (loss.recipe, loss.samples, loss.max_length) == ("paper", 10000, 2048)
    loss_corpora = {u.params["corpus_name"] for u in units if u.kind == "loss"}
    assert loss_corpora == {"wikitext-103-v1", "bookcorpus", "c4-en", "pile-10k"}
    freq = [u for u in units if u.kind == "freq"]
    assert {u.params["tokenizer_name"] for u in freq} == {
        "pythia-1b",
        "opt-1.3b",
        "qwen2.5-0.5b",
        "gpt2",
    }
    assert {u.params["options"]["tokens"] for u in freq} == {1_000_000}
    outputs = [o for u in units for o in u.outputs if o != "losses.csv"]
    assert len(outputs) == len(set(outputs))


def test_shipped_pythia_training_and_toy_phase_configs():
    units = expand_units(load_config(config_path("pythia-training.toml")))
    assert len(units) == 20 and {u.kind for u in units} == {"measure"}
    revisions = sorted({u.params["revision"] for u in units}, key=lambda r: int(r[4:]))
    assert revisions[0] == "step1000" and revisions[-1] == "step143000" and len(revisions) == 10
    assert {u.params["source"] for u in units} == {"pythia-70m", "pythia-410m"}
    # the toy phase grid: a toy experiment file is a sweep of its 17 x 10 runs
    toy = expand_units(load_config(config_path("toy-phase.toml")))
    assert len(toy) == 170 and len({u.outputs[0] for u in toy}) == 170
    assert toy[0].id == "toy/toy-phase/gamma=-1,alpha=0"


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    path = _write(
        tmp_path, 'out = "res"\nmodels = ["gpt2", "opt-125m"]\n[measure]\npairs = "gram"\n'
    )
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "todo  measure/gpt2      -> openai-community--gpt2.main.raw.json" in out
    assert "2 unit(s) in" in out and "0 done, 2 to run" in out
    # heads: 50257 x 768 float32 + 50272 x 768 float16 from models.csv
    assert f"heads {(50257 * 768 * 4 + 50272 * 768 * 2) / 1e6:.1f} MB" in out
    assert not (tmp_path / "res").exists()


def test_unknown_executor_and_address_without_ray(tmp_path, capsys):
    path = _write(tmp_path, 'models = ["gpt2"]\n[measure]\n')
    assert main(["sweep", str(path), "--address", "auto"]) == 1
    err = capsys.readouterr().err
    assert "--address joins a Ray cluster: use it with --executor ray" in err
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 1
    assert "no such sweep config" in capsys.readouterr().err


def test_analysis_tables_take_the_python_names_and_defaults():
    """[measure]/[loss]/[freq] keys are the Python keywords, checked by the same option types
    (MeasureOptions, LossOptions, FreqOptions) with the same defaults."""
    from llmgeom.text.options import FreqOptions, LossOptions

    cfg = parse_config(
        'models = ["gpt2"]\n[measure]\nsample_rows = 300\n'
        '[loss]\ncorpora = ["hf:x"]\n[freq]\ncorpora = ["hf:x"]\n',
        base_dir="/nonexistent-base",
    )
    assert (cfg.measure.sample_rows, cfg.measure.pairs) == (300, "sample")
    assert cfg.freq.options == FreqOptions() and cfg.freq.options.tokens == 1_000_000
    assert cfg.loss.options == LossOptions() and cfg.loss.options.text_field == "text"
    whole = parse_config(
        'models = ["gpt2"]\n[freq]\ncorpora = ["hf:x"]\ntokens = 0\n', base_dir="/nonexistent-base"
    )
    assert whole.freq.options.budget is None  # 0: the whole corpus, as count_tokens(tokens=0)
