"""Tiny local checkpoints, corpora and sweep configs for the sweep tests (shared with Ray's).

``write_zoo(folder)`` writes two tiny GPT-2-shaped models (widths 8 and 16) with a trained
tokenizer each, and two small corpora; ``write_sweep_config`` a sweep config over them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tiny_models
from text.helpers import train_tokenizer, write_corpus

WIDTHS = (8, 16)

TOY_TABLE = """
[[toy]]
name = "mini"
n = 30
m = [3, 5]
steps = 4
batch = 16
warmup = 1
eval_samples = 64
gamma = [-1.0, 0.5]
alpha = 1.0
"""


def write_zoo(folder: Path) -> dict[str, Path]:
    """Models ``folder/models/w8`` and ``w16`` (GPT-2, tied head, a trained BPE tokenizer of 200
    tokens in each) and corpora ``folder/corpora/a.txt`` and ``b.jsonl``."""
    paths: dict[str, Path] = {}
    for width in WIDTHS:
        directory = folder / "models" / f"w{width}"
        tokenizer = train_tokenizer(directory)
        torch.manual_seed(width)
        tiny_models.gpt2(vocab=len(tokenizer), width=width).save_pretrained(directory)
        paths[f"w{width}"] = directory
    corpora = write_corpus(folder / "corpora")
    paths["txt"], paths["jsonl"] = corpora["txt"], corpora["jsonl"]
    return paths


def write_sweep_config(
    folder: Path,
    *,
    measure: bool = True,
    loss: bool = True,
    freq: bool = True,
    toy: bool = False,
    batch_tokens: int | None = None,
) -> Path:
    """``folder/sweep.toml`` over the zoo in ``folder`` (relative paths), output ``out``."""
    lines = ['out = "out"', 'models = ["models/w8", "models/w16"]']
    if measure:
        lines += ["[measure]", 'pairs = "exact"', "bins = 10"]
    if loss:
        lines += ["[loss]", 'corpora = ["corpora/a.txt", "corpora/b.jsonl"]', "max_length = 16"]
        if batch_tokens:
            lines.append(f"batch_tokens = {batch_tokens}")
    if freq:
        lines += ["[freq]", 'corpora = ["corpora/a.txt"]', "tokens = 0"]
    text = "\n".join(lines) + "\n" + (TOY_TABLE if toy else "")
    path = folder / "sweep.toml"
    path.write_text(text)
    return path


ALPHA, C, L0_EXCESS = 0.9, 40.0, 0.5  # designed law: loss(m) = ln V + 0.5 + 40 / m^0.9


def designed_loss(width: int, vocab: int = 200) -> float:
    """The loss the designed model of ``width`` has on any text (nats/token)."""
    return math.log(vocab) + L0_EXCESS + C / width**ALPHA


def designed_gpt2(directory: Path, width: int) -> Path:
    """A tiny GPT-2 whose every prediction costs exactly ``designed_loss(width)`` nats (the
    construction of tests/text/test_loss_cli.py: ln_f outputs e_0 everywhere and only the
    <pad> row of the tied embedding has a non-zero column 0, so the logits are s for <pad>,
    never a target, and 0 elsewhere: -log p = log(V - 1 + e^s))."""
    tokenizer = train_tokenizer(directory)
    vocab = len(tokenizer)
    torch.manual_seed(width)
    model = tiny_models.gpt2(vocab=vocab, width=width)
    s = math.log(math.exp(designed_loss(width, vocab)) - (vocab - 1))
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.transformer.wte.weight[:, 0] = 0.0
        model.transformer.wte.weight[tokenizer.pad_token_id, 0] = s
    model.save_pretrained(directory)
    return directory
