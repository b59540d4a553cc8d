"""A sweep's ``[loss] max_length`` is an upper bound: the shipped paper-27.toml ``[loss]`` section
on two tiny local GPT-2 models with contexts 1024 and 2048 and a local corpus named after
wikitext. Both units finish; each record says the length it used (1024, 2048), and its documents
and tokens are the authors' segments of min(2048, context) // 2 words cut at that length,
recounted here with a plain loop and the tokenizer itself."""

from __future__ import annotations

import json
import tomllib

import pytest
import torch
from text.helpers import ENGLISH, train_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from llmgeom.configs import config_path
from llmgeom.sweep.config import config_from_dict
from llmgeom.sweep.engine import run_sweep
from llmgeom.sweep.plan import expand_units

CONTEXTS = (1024, 2048)


def _write_model(directory, context: int) -> None:
    tokenizer = train_tokenizer(directory, vocab_size=64)  # ~3 tokens a word: segments are cut
    torch.manual_seed(context)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=8, n_layer=1, n_head=2, n_positions=context
    )
    GPT2LMHeadModel(config).save_pretrained(directory)


def _corpus_lines(words: int) -> list[str]:
    """English lines, repeated until the corpus holds at least ``words`` words."""
    base = ENGLISH.splitlines()
    lines: list[str] = []
    while sum(len(line.split()) for line in lines) < words:
        lines.extend(base)
    return lines


def _segments(lines: list[str], words: int) -> list[str]:
    """The authors' segments (cali-1.py), written out plainly: lines + " " until >= words."""
    out, current = [], ""
    for line in lines:
        current += line + " "
        if len(current.split()) >= words:
            out.append(current)
            current = ""
    return out


@pytest.fixture(scope="module")
def paper_loss_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper-loss")
    for context in CONTEXTS:
        _write_model(root / f"gpt2-ctx{context}", context)
    lines = _corpus_lines(3200)
    (root / "wikitext-103.txt").write_text("\n".join(lines) + "\n")
    shipped = tomllib.loads(config_path("paper-27.toml").read_text())
    loss = dict(shipped["loss"], corpora=["wikitext-103.txt"])  # the shipped section, local text
    config = config_from_dict(
        {"out": "out", "models": [f"gpt2-ctx{c}" for c in CONTEXTS], "loss": loss}, root
    )
    result = run_sweep(config, jobs=1, progress=False, echo=False)
    return root, config, lines, shipped["loss"], result


def test_the_shipped_loss_section_keeps_2048_as_a_bound(paper_loss_sweep):
    _root, config, _lines, shipped, _result = paper_loss_sweep
    assert shipped["max_length"] == 2048 and shipped["recipe"] == "paper"
    assert config.loss.options.max_length == 2048
    units = expand_units(config)
    assert [u.params["options"]["max_length"] for u in units] == [2048, 2048]


def test_both_units_finish_and_record_the_length_they_used(paper_loss_sweep):
    root, _config, lines, _shipped, result = paper_loss_sweep
    assert result.counts == {"ok": 2, "failed": 0, "skipped": 0}, result.failed
    for context in CONTEXTS:
        record = json.loads(
            (root / "out" / f"gpt2-ctx{context}.wikitext-103.loss.json").read_text()
        )
        definition = record["definition"]
        assert definition["max_length"] == context
        assert definition["max_length_limit"] == 2048
        assert definition["context_length"] == context and definition["recipe"] == "paper"
        # the oracle: segments of context // 2 words, each cut at `context` tokens
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(root / f"gpt2-ctx{context}"))
        segments = _segments(lines, context // 2)
        lengths = [len(tokenizer(text)["input_ids"]) for text in segments]
        assert len(segments) >= 3 and max(lengths) > context  # some segments are cut
        loss = record["loss"]
        assert loss["documents"] == len(segments)
        assert loss["tokens"] == sum(min(n, context) for n in lengths)
        assert loss["documents_truncated"] == sum(n > context for n in lengths)
