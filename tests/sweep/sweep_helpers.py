"""Tiny local checkpoints, corpora and sweep configs for the sweep tests (shared with Ray's).

``write_zoo(folder)`` writes two tiny GPT-2-shaped models (widths 8 and 16) with a trained
tokenizer each, and two small corpora; ``write_sweep_config`` a sweep config over them.
"""

from __future__ import annotations

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
