"""A tiny GPT-2 trained here on text that never contains some of its tokens (the "magikarp"
acceptance test of issue 18 §4): a byte-level BPE tokenizer (GPT-2's kind, all 256 bytes, four
``<unused…>`` special tokens) trained on a corpus plus words the model never sees, and a model
trained a few hundred AdamW steps (weight decay) on the corpus alone, its head padded with rows
beyond the tokenizer. Deterministic (seeded, one thread).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

WORDS = (
    "the cat dog sat on a mat and log bird sang in tree looked up it was bright cold day "
    "clocks were striking all happy families are alike each unhappy family its own way quick "
    "brown fox jumps over lazy did not move"
).split()
UNSEEN_WORDS = ("zebra", "quokka", "xylophone", "jukebox", "fjord", "wyvern")
SPECIALS = ["<|endoftext|>", "<unused0>", "<unused1>", "<unused2>", "<unused3>"]
PAD_ROWS = 8  # head rows beyond the tokenizer


def corpus(seed: int = 0, sentences: int = 1500) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 10))]
        lines.append(" ".join(words).capitalize() + ".")
    return "\n".join(lines)


def tokenizer_for(text: str) -> PreTrainedTokenizerFast:
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    unseen = " ".join(f" {w}" for w in UNSEEN_WORDS)
    raw.train_from_iterator([*text.splitlines(), *[unseen] * 200], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>")


def build(folder: Path, *, tied: bool, steps: int = 250, seed: int = 0) -> dict:
    """Train and save the model with its tokenizer into ``folder``; returns ``{"folder",
    "counts" (occurrences of each id in the training ids), "model", "tokenizer"}``."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    text = corpus(seed)
    tokenizer = tokenizer_for(text)
    ids = torch.tensor(tokenizer(text)["input_ids"])
    config = GPT2Config(
        vocab_size=len(tokenizer) + PAD_ROWS,
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=640,  # the longest repetition prompt: 621 tokens
        tie_word_embeddings=tied,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    generator = torch.Generator().manual_seed(seed)
    length = 64
    try:
        for _ in range(steps):
            starts = torch.randint(0, ids.numel() - length - 1, (16,), generator=generator)
            batch = torch.stack([ids[s : s + length] for s in starts])
            loss = model(batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    counts = Counter(ids.tolist())
    n = config.vocab_size
    return {
        "folder": folder,
        "counts": np.array([counts.get(i, 0) for i in range(n)]),
        "model": model,
        "tokenizer": tokenizer,
        "loss": float(loss.detach()),
    }
