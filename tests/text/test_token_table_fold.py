"""``llmgeom tokens --fold-norm``: the table of a saved tiny model with a random final norm equals
the table of the folded matrix given in memory (γ ⊙ w_j, float32 as the fold computes it), the
``logit_offset`` column equals b · w_j computed here, and the files of a folded head are
never the unfolded head's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.cli import main
from llmgeom.records.token_table import TokenTable

pytest.importorskip("pyarrow")


def _with_random_norm(model, norm, seed: int):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(norm.weight.shape, generator=gen) + 0.5)
        if getattr(norm, "bias", None) is not None:
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen))
    return model


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A saved tiny GPT-2 (tied head) whose ln_f has a random weight and bias."""
    import tiny_models

    torch.manual_seed(0)
    model = tiny_models.gpt2(vocab=60, width=16)
    _with_random_norm(model, model.transformer.ln_f, seed=1)
    folder = tmp_path_factory.mktemp("fold") / "tiny-gpt2"
    model.save_pretrained(folder)
    head = model.transformer.wte.weight.detach()
    return folder, head, model.transformer.ln_f.weight.detach(), model.transformer.ln_f.bias


def _folded(head: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    return head.to(torch.float32) * gamma.to(torch.float32)


def _assert_same_table(folded: TokenTable, in_memory: TokenTable) -> None:
    for name in in_memory.column_names():
        # the folder has a tokenizer and (untied) an input embedding, the matrix neither: its
        # under-trained candidates are ranked otherwise (tests/text/test_undertrained_tokens.py)
        if name == "string" or name.startswith("undertrained_"):
            continue
        np.testing.assert_array_equal(folded.table[name], in_memory.table[name], err_msg=name)


def test_the_folded_table_is_the_folded_matrixs(gpt2_dir):
    folder, head, gamma, bias = gpt2_dir
    counts = np.arange(60) % 7
    folded = llmgeom.token_table(folder, fold_norm=True, counts=counts, progress=False)
    in_memory = llmgeom.token_table(_folded(head, gamma), counts=counts, progress=False)
    _assert_same_table(folded, in_memory)
    expected = head.double().numpy() @ bias.detach().double().numpy()
    np.testing.assert_allclose(folded.table["logit_offset"], expected, rtol=1e-12, atol=1e-14)
    record = folded.to_dict()
    assert record["fold_norm"] is True and record["options"]["fold_norm"] is True
    assert record["final_norm"]["weight"] == "transformer.ln_f.weight"
    assert record["final_norm"]["bias"] == "transformer.ln_f.bias"
    expected_direction = in_memory.to_dict()["frequency_direction"]
    assert record["frequency_direction"] == expected_direction


def test_unfolded_tables_keep_their_layout(gpt2_dir):
    folder, head, _, _ = gpt2_dir
    table = llmgeom.token_table(folder, progress=False)
    assert "logit_offset" not in table.table and "fold_norm" not in table.to_dict()
    assert table.to_dict()["options"]["fold_norm"] is False
    np.testing.assert_allclose(table.table["row_norm"], head.double().norm(dim=1).numpy())


def test_a_norm_without_bias_gives_no_offsets(tmp_path):
    import tiny_models

    torch.manual_seed(0)
    model = tiny_models.llama()
    _with_random_norm(model, model.model.norm, seed=2)
    model.save_pretrained(tmp_path / "llama")
    folded = llmgeom.token_table(tmp_path / "llama", fold_norm=True, progress=False)
    head = model.lm_head.weight.detach()
    in_memory = llmgeom.token_table(_folded(head, model.model.norm.weight.detach()), progress=False)
    _assert_same_table(folded, in_memory)
    assert "logit_offset" not in folded.table
    assert folded.to_dict()["final_norm"]["weight"] == "model.norm.weight"


def test_cli_writes_the_folded_files_beside_the_unfolded(gpt2_dir, tmp_path, capsys):
    folder, head, _, bias = gpt2_dir
    out = tmp_path / "out"
    args = ["tokens", str(folder), "--out", str(out), "--no-progress"]
    assert main([*args, "--fold-norm"]) == 0
    assert main(args) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [
        "tiny-gpt2.folded.tokens.html",
        "tiny-gpt2.folded.tokens.json",
        "tiny-gpt2.folded.tokens.parquet",
        "tiny-gpt2.tokens.html",
        "tiny-gpt2.tokens.json",
        "tiny-gpt2.tokens.parquet",
    ]
    loaded = TokenTable.load(out / "tiny-gpt2.folded.tokens.json")
    expected = head.double().numpy() @ bias.detach().double().numpy()
    np.testing.assert_allclose(loaded.table["logit_offset"], expected, rtol=1e-12, atol=1e-14)
    unfolded = json.loads((out / "tiny-gpt2.tokens.json").read_text())
    assert unfolded["options"]["fold_norm"] is False


def test_fold_norm_on_an_array_is_a_one_line_error(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.ones((4, 2), dtype=np.float32))
    code = main(["tokens", str(tmp_path / "w.npy"), "--fold-norm", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "--fold-norm" in err and "fold_norm=True" not in err
