"""``llmgeom.token_table`` and ``llmgeom tokens`` on a tiny GPT-2 saved with its tokenizer: the
strings against the tokenizer's own decode, counts and ranks against collections.Counter, the
files against pyarrow's readers, the correlations against scipy on the same tokens."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from helpers import ENGLISH, one_line_error, train_tokenizer, write_gguf_tokenizer

import llmgeom
from llmgeom.cli import main
from llmgeom.errors import ConfigError
from llmgeom.records.token_table import TokenTable, read_table

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    import tiny_models

    folder = tmp_path_factory.mktemp("tok") / "tiny-gpt2"
    tokenizer = train_tokenizer(folder)
    torch.manual_seed(0)
    tiny_models.gpt2(vocab=len(tokenizer), width=16).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tokenizer(gpt2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gpt2_dir))


@pytest.fixture(scope="module")
def corpus_counts(tmp_path_factory, gpt2_dir, tokenizer):
    """The counts file `count_tokens` writes for a small corpus, and Counter over the ids."""
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "text.txt").write_text("\n\n".join(ENGLISH.splitlines()))
    ids = []
    for line in ENGLISH.splitlines():
        ids.extend(tokenizer.encode(line, add_special_tokens=False))
    paths = llmgeom.count_tokens(str(gpt2_dir), folder / "text.txt", tokens=0).save(folder)
    return paths[0], Counter(ids)


def test_strings_are_the_tokenizers_decode(gpt2_dir, tokenizer):
    table = llmgeom.token_table(gpt2_dir, progress=False)
    n = len(tokenizer)
    assert table.n_rows == n and table.table["string"] == [tokenizer.decode([i]) for i in range(n)]
    assert table.to_dict()["tokenizer"]["loaded"] is True
    assert table.table["id"].tolist() == list(range(n))


def test_row_norms_are_the_heads(gpt2_dir):
    from transformers import GPT2LMHeadModel

    head = GPT2LMHeadModel.from_pretrained(gpt2_dir).get_output_embeddings().weight.detach()
    table = llmgeom.token_table(gpt2_dir, progress=False)
    np.testing.assert_allclose(table.table["row_norm"], head.double().norm(dim=1).numpy())


def test_counts_and_ranks_equal_counter(gpt2_dir, corpus_counts):
    path, counter = corpus_counts
    table = llmgeom.token_table(gpt2_dir, counts=path, progress=False)
    counts = table.table["count"]
    assert counts.dtype == np.int64
    assert Counter({i: int(c) for i, c in enumerate(counts) if c}) == counter
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    expected = np.full(table.n_rows, -1)
    for rank, (token, _) in enumerate(ranked, start=1):
        expected[token] = rank
    assert table.table["frequency_rank"].tolist() == expected.tolist()


def test_correlations_are_scipys_on_the_tokens_seen(gpt2_dir, corpus_counts):
    from scipy.stats import spearmanr

    path, counter = corpus_counts
    table = llmgeom.token_table(gpt2_dir, counts=path, progress=False)
    seen = sorted(counter)
    log_count = np.log([counter[i] for i in seen])
    block = table.to_dict()["frequency_correlation"]
    for key in ("interference", "row_norm"):
        expected = spearmanr(table.table[key][seen], log_count).statistic
        assert block[key]["spearman"] == pytest.approx(expected, abs=1e-12)
        assert block[key]["n_tokens"] == len(seen)


def test_parquet_and_csv_read_back_equal_the_table(gpt2_dir, corpus_counts, tmp_path):
    path, _ = corpus_counts
    table = llmgeom.token_table(gpt2_dir, counts=path, exact_max_flops=0, progress=False)
    parquet, summary = table.save(tmp_path)
    back = pq.read_table(parquet)
    assert back.column_names == table.column_names()
    for name in back.column_names:
        values = table.table[name]
        expected = [
            None
            if (isinstance(v, float) and np.isnan(v)) or (name.endswith("id") and v == -1)
            else v
            for v in (values if isinstance(values, list) else values.tolist())
        ]
        if name == "frequency_rank":
            expected = [None if v == -1 else v for v in expected]
        assert back.column(name).to_pylist() == expected, name
    assert json.loads(summary.read_text())["files"]["table"] == parquet.name
    loaded = TokenTable.load(summary)
    assert loaded.column_names() == table.column_names()
    np.testing.assert_array_equal(loaded.table["interference"], table.table["interference"])
    csv_path, _ = table.save(tmp_path / "csv", table_format="csv")
    from_csv = read_table(csv_path)
    assert from_csv["string"] == table.table["string"]
    weighted = table.table["weighted_interference"]
    np.testing.assert_allclose(from_csv["weighted_interference"], weighted)


def test_neighbours_over_the_limit_are_not_computed(gpt2_dir):
    table = llmgeom.token_table(gpt2_dir, exact_max_flops=0, progress=False)
    assert table.to_dict()["nearest_neighbour"]["computed"] is False
    assert (table.table["nearest_id"] == -1).all()
    assert np.isnan(table.table["nearest_abs_cos"]).all()
    assert "nearest_id" not in table.to_dict()["most_crowded"][0]


def test_zero_rows_take_no_part():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((30, 6)).astype(np.float32)
    W[[3, 17]] = 0.0
    table = llmgeom.token_table(torch.from_numpy(W), progress=False)
    kept = np.delete(np.arange(30), [3, 17])
    expected = llmgeom.token_table(torch.from_numpy(W[kept]), progress=False)
    np.testing.assert_allclose(table.table["interference"][kept], expected.table["interference"])
    assert np.isnan(table.table["interference"][[3, 17]]).all()
    assert table.table["nearest_id"][kept].tolist() == kept[expected.table["nearest_id"]].tolist()
    assert table.to_dict()["n_rows_excluded"] == 2


def test_a_gguf_files_strings(tmp_path):
    path = tmp_path / "tiny.gguf"
    oracle = write_gguf_tokenizer(path)  # its head is all zeros: the tokenizer of a random one
    W = torch.randn(len(oracle) + 2, 8, generator=torch.Generator().manual_seed(0))
    table = llmgeom.token_table(W, tokenizer=path, progress=False)
    assert table.table["string"] == [oracle.decode([i]) for i in range(len(oracle))] + [None] * 2
    assert table.to_dict()["tokenizer"]["kind"] == "gguf"


def test_most_crowded_lists_the_largest(gpt2_dir):
    table = llmgeom.token_table(gpt2_dir, top=3, progress=False)
    crowded = table.to_dict()["most_crowded"]
    order = np.argsort(-table.table["interference"], kind="stable")[:3]
    assert [row["id"] for row in crowded] == order.tolist()
    assert [row["string"] for row in crowded] == [table.table["string"][i] for i in order]


def test_cli_writes_the_files_and_prints(gpt2_dir, corpus_counts, tmp_path, capsys):
    path, _ = corpus_counts
    out = tmp_path / "out"
    assert main(["tokens", str(gpt2_dir), "--counts", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "most crowded:" in printed and "Spearman of interference" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "tiny-gpt2.tokens.html",
        "tiny-gpt2.tokens.json",
        "tiny-gpt2.tokens.parquet",
        "tiny-gpt2.tokens.png",
    ]
    assert "wrote " + str(out / "tiny-gpt2.tokens.html") in printed
    again = tmp_path / "again"
    argv = ["tokens", str(gpt2_dir), "--out", str(again), "--no-html", "--csv"]
    assert main(argv) == 0
    written = sorted(p.name for p in again.iterdir())
    assert written == ["tiny-gpt2.tokens.csv", "tiny-gpt2.tokens.json"]


def test_cli_errors_are_one_line_naming_the_flag(gpt2_dir, tmp_path, capsys):
    assert main(["tokens", str(gpt2_dir), "--top", "-2", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "llmgeom tokens: error: --top must be an integer >= 0, got -2"
    assert not list(tmp_path.iterdir())


def test_missing_pyarrow_is_a_clear_error(monkeypatch, gpt2_dir):
    import builtins

    real = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    table = llmgeom.token_table(torch.eye(3, 4), progress=False)
    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    message = one_line_error(ConfigError, table.to_arrow)
    assert "pip install 'llmgeom[tokens]'" in message


def test_counts_from_another_tokenizer_are_refused():
    message = one_line_error(
        ConfigError, lambda: llmgeom.token_table(torch.eye(3, 4), counts=[1, 2, 3, 4])
    )
    assert "4 counts but the head has only 3 rows" in message


def test_a_malformed_summary_is_one_line_with_the_json_path(tmp_path):
    _, summary = llmgeom.token_table(torch.eye(3, 4), progress=False).save(tmp_path)
    record = json.loads(summary.read_text())
    record["nearest_neighbour"]["computed"] = "yes"
    summary.write_text(json.dumps(record))
    message = one_line_error(ConfigError, lambda: TokenTable.load(summary))
    assert message == (
        f"{summary}: malformed token table summary: nearest_neighbour.computed = 'yes' is not "
        "true/false"
    )


def test_csv_keeps_empty_and_missing_strings_apart(tmp_path):
    class Odd:
        def __len__(self):
            return 3

        def batch_decode(self, ids):
            return ["", "a\nb", ' "q" '][: len(ids)]

    from llmgeom.text.token_table import decoded_strings

    strings = decoded_strings(Odd(), 4)
    table = llmgeom.token_table(torch.randn(4, 3), progress=False).with_columns(string=strings)
    csv_path, _ = table.save(tmp_path, table_format="csv")
    assert read_table(csv_path)["string"] == ["", "a\nb", ' "q" ', None]
