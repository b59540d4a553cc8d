"""The magikarp acceptance test (issue 18 §4): a tiny GPT-2, tied and untied, trained here on
text that never contains some of its tokens. From the weights alone the unseen tokens are
flagged and the frequent ones are not; --verify's probabilities equal a direct greedy
computation with the model; the columns, files, figure and errors of ``llmgeom tokens``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from magikarp_model import PAD_ROWS, UNSEEN_WORDS, build, corpus, tokenizer_for

import llmgeom
from llmgeom.cli import main
from llmgeom.errors import ConfigError
from llmgeom.records.token_table import TokenTable
from llmgeom.text.reference_tokens import token_roles

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def trained(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("magikarp") / ("tied" if request.param else "untied")
    built = build(folder, tied=request.param, steps=150)
    tokenizer = built["tokenizer"]
    roles = token_roles(len(built["counts"]), tokenizer)
    built["ordinary"] = roles.ordinary
    built["tied"] = request.param
    built["words"] = [
        tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in UNSEEN_WORDS
    ]
    return built


def test_unseen_tokens_are_flagged_and_frequent_ones_are_not(trained):
    table = llmgeom.token_table(str(trained["folder"]), progress=False)
    T, block = table.table, table.to_dict()["undertrained"]
    counts, ordinary = trained["counts"], trained["ordinary"]
    unseen, seen, frequent = ordinary & (counts == 0), ordinary & (counts > 0), counts >= 50
    assert block["reference"]["reasons"] == {
        "beyond_tokenizer": PAD_ROWS,
        "never_utf8": 13,
        "unused_name": 4,
    }
    assert block["tied"] is trained["tied"]
    key = "undertrained_indicator" if trained["tied"] else "input_norm"
    assert block["ranked_by"] == key
    main_indicator = T[key]
    # the default 2nd percentile: a handful of candidates, every one never seen in training
    candidates = T["undertrained_candidate"]
    assert 1 <= candidates.sum() <= 0.03 * ordinary.sum() + 1
    assert (counts[candidates] == 0).all()
    # low = under-trained, and the separation is complete: every unseen token below every seen
    assert np.nanmax(main_indicator[unseen]) < np.nanmin(main_indicator[seen])
    indicator = T["undertrained_indicator"]
    assert np.nanmax(indicator[unseen]) < np.nanmin(indicator[ordinary & frequent])
    reference = T["undertrained_reference"]
    assert np.nanmedian(indicator[reference]) < 0.5 * np.nanmedian(indicator[frequent])
    # the summary lists the candidates, lowest first, as in the columns
    listed = [row["id"] for row in block["candidates"]]
    assert listed == sorted(np.flatnonzero(candidates), key=lambda i: main_indicator[i])
    assert block["candidates"][0]["string"] == table.string_of(listed[0])

    # a percentile that covers the unseen share flags exactly the unseen tokens
    share = 100.0 * unseen.sum() / ordinary.sum()
    wide = llmgeom.token_table(
        str(trained["folder"]), undertrained_percentile=share, progress=False
    )
    assert (wide.table["undertrained_candidate"] == unseen).all()
    assert all(wide.table["undertrained_candidate"][ids].all() for ids in trained["words"])
    figures = {
        f"{key} unseen max": np.nanmax(main_indicator[unseen]),
        f"{key} unseen median": np.nanmedian(main_indicator[unseen]),
        f"{key} seen min": np.nanmin(main_indicator[seen]),
        f"{key} frequent median": np.nanmedian(main_indicator[frequent & ordinary]),
        "indicator unseen max": np.nanmax(indicator[unseen]),
        "indicator frequent min": np.nanmin(indicator[ordinary & frequent]),
    }
    print(trained["tied"], {k: round(float(v), 4) for k, v in figures.items()})


def test_input_norm_is_the_input_embeddings(trained):
    table = llmgeom.token_table(str(trained["folder"]), progress=False)
    if trained["tied"]:
        assert "input_norm" not in table.table
        assert "tied" in table.to_dict()["undertrained"]["input_norm_reason"]
        return
    E = trained["model"].get_input_embeddings().weight.detach().double().numpy()
    np.testing.assert_allclose(table.table["input_norm"], np.linalg.norm(E, axis=1), rtol=1e-12)


PROMPTS = (  # the authors' three, written out (cohere-ai/magikarp, fishing.py)
    lambda t: (
        "This device repeats its input exactly, as shown in these 100 identical trials."
        + f"\nInput: «{t}»\nOutput: «{t}»" * 20
        + f"\nInput: «{t}»\nOutput: «"
    ),
    lambda t: (
        "This helpful assistant explains what a phrase means, replying with identical "
        "responses to identical questions for reliability.\nUser: What does 'edslfkj' mean?\n"
        "Assistant: 'edslfkj' has no specific meaning I am aware of.\nUser: what does "
        f"'{t}' mean?\nAssistant: '"
    ),
    lambda t: (
        "Below is the output, as you can see it's just giving the same phrase repeated "
        "indefinitely:\n" + t * 101
    ),
)


def direct_max_prob(model, tokenizer, placeholder: int, text: str, token: int) -> float:
    best = 0.0
    for prompt in PROMPTS:
        ids = [token if i == placeholder else i for i in tokenizer(prompt(text))["input_ids"]]
        for _ in range(3):
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, -1]
            probs = torch.softmax(logits.double(), dim=0)
            best = max(best, probs[token].item())
            ids.append(int(torch.argmax(logits)))
    return best


def test_verify_equals_a_direct_greedy_computation(trained, tmp_path):
    table = llmgeom.token_table(
        str(trained["folder"]), verify=True, verify_max_tokens=2, progress=False
    )
    T, block = table.table, table.to_dict()["undertrained"]
    checked = [row["id"] for row in block["candidates"][:2]]
    probs = T["undertrained_verify_max_prob"]
    assert np.flatnonzero(np.isfinite(probs)).tolist() == sorted(checked)
    placeholder = block["verification"]["placeholder"]
    model, tokenizer = trained["model"], trained["tokenizer"]
    for token in checked:
        want = direct_max_prob(model, tokenizer, placeholder["id"], placeholder["string"], token)
        assert probs[token] == pytest.approx(want, rel=1e-6)
        assert probs[token] < 0.01  # verified: the model cannot repeat a token it never saw
    assert block["verification"]["n_verified"] == 2 and block["verification"]["n_checked"] == 2
    assert "verified (repetition max prob < 0.01): 2 of 2 checked" in table.summary()


def test_a_module_source_and_its_tokenizer(trained):
    model, tokenizer = trained["model"], trained["tokenizer"]
    table = llmgeom.token_table(model, tokenizer=tokenizer, verify=True, verify_max_tokens=1)
    assert ("input_norm" in table.table) is not trained["tied"]
    assert np.isfinite(table.table["undertrained_verify_max_prob"]).sum() == 1
    assert model.training is False


def test_files_figure_and_cli(trained, tmp_path, capsys):
    folder = str(trained["folder"])
    assert (
        main(["tokens", folder, "--out", str(tmp_path), "--csv", "--reference-ids", "40,41-42"])
        == 0
    )
    out = capsys.readouterr().out
    name = trained["folder"].name
    assert "under-trained candidates" in out and f"{name}.undertrained.png" in out
    assert (tmp_path / f"{name}.undertrained.png").stat().st_size > 0
    page = (tmp_path / f"{name}.tokens.html").read_text()
    assert 'id="img-undertrained"' in page and "The under-trained indicators" in page
    loaded = TokenTable.load(tmp_path / f"{name}.tokens.json")
    record = json.loads((tmp_path / f"{name}.tokens.json").read_text())
    assert record["undertrained"]["reference"]["reasons"]["user"] == 3
    assert record["options"]["reference_ids"] == [40, 41, 42]
    for column in ("undertrained_reference", "undertrained_candidate"):
        assert loaded.table[column].dtype == bool
    assert loaded.table["undertrained_reference"][[40, 41, 42]].all()
    direct = llmgeom.token_table(folder, reference_ids=(40, 41, 42), progress=False)
    for column in ("undertrained_indicator", "undertrained_candidate"):
        np.testing.assert_array_equal(loaded.table[column], direct.table[column])


def test_no_reference_rows_is_said_not_computed():
    table = llmgeom.token_table(torch.randn(50, 8), progress=False)
    block = table.to_dict()["undertrained"]
    assert np.isnan(table.table["undertrained_indicator"]).all()
    assert not table.table["undertrained_candidate"].any()
    assert block["ranked_by"] is None and "no reference rows" in block["indicator_reason"]
    assert "under-trained tokens not computed: no reference rows" in table.summary()
    with_ids = llmgeom.token_table(torch.randn(50, 8), reference_ids=[0, 1, 2], progress=False)
    assert np.isfinite(with_ids.table["undertrained_indicator"]).all()


def test_verify_needs_a_full_model(tmp_path, capsys):
    import tiny_models

    tokenizer = tokenizer_for(corpus(sentences=20))
    with pytest.raises(ConfigError, match="in-memory matrix") as err:
        llmgeom.token_table(torch.randn(50, 8), reference_ids=[0], tokenizer=tokenizer, verify=True)
    assert err.value.parameters == ("verify",)
    tiny_models.gpt2(vocab=len(tokenizer), width=8).save_pretrained(tmp_path / "full")
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "model.safetensors").write_bytes((tmp_path / "full/model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match="a lone weight file") as err:
        llmgeom.token_table(
            lone / "model.safetensors", reference_ids=[0], tokenizer=tokenizer, verify=True
        )
    assert err.value.parameters == ("verify",)
    np.save(tmp_path / "head.npy", np.random.default_rng(0).normal(size=(50, 8)))
    argv = ["tokens", str(tmp_path / "head.npy"), "--verify", "--reference-ids", "0"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path)]) != 0
    err_text = capsys.readouterr().err.strip()
    assert "\n" not in err_text and "--verify" in err_text and "tokenizer" in err_text
