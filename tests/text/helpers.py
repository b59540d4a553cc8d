"""Test helpers for text: a tokenizer trained on the spot, small corpora with known documents.

Import as ``from helpers import ...`` from tests in this folder, or ``from text.helpers import
...`` from anywhere under tests/ (tests/ is on sys.path, see conftest.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

ENGLISH = """\
The cat sat on the mat. The dog sat on the log. A bird sang in the tree, and the cat looked up.
It was a bright cold day in April, and the clocks were striking thirteen.
All happy families are alike; each unhappy family is unhappy in its own way.
The quick brown fox jumps over the lazy dog. The lazy dog did not move at all.
In the beginning the universe was created. This has made a lot of people very angry.
Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about.
She sells sea shells by the sea shore; the shells she sells are surely sea shells.
"""

SPECIAL_TOKENS = ("<unk>", "<pad>", "<bos>", "<eos>")

# Documents of the small corpora below, as the corpus reader must return them.
TXT_DOCUMENTS = (
    "The cat sat on the mat.\nThe dog sat on the log.",
    "It was a bright cold day in April.",
    "  All happy families are alike;  \n\teach unhappy family is unhappy in its own way.",
    "The quick brown fox jumps over the lazy dog.",
)
TXT_TEXT = (
    "\n"
    "The cat sat on the mat.\n"
    "The dog sat on the log.\n"
    "   \n"  # whitespace-only: blank
    "\t\n"
    "It was a bright cold day in April.\r\n"
    "\n"
    "\n"
    "  All happy families are alike;  \n"
    "\teach unhappy family is unhappy in its own way.\n"
    " \n"
    "The quick brown fox jumps over the lazy dog."  # no final newline
)
JSONL_RECORDS = (
    {"text": "Call me Ishmael.", "id": 1},
    {"text": "", "id": 2},  # empty: skipped
    {"text": "Some years ago,\n\nnever mind how long precisely.", "id": 3},
    {"text": "   ", "id": 4},  # whitespace only: skipped
    {"text": "She sells sea shells by the sea shore.", "id": 5},
)
JSONL_DOCUMENTS = tuple(r["text"] for r in JSONL_RECORDS if r["text"].strip())
PARQUET_DOCUMENTS = (
    "In the beginning the universe was created.",
    "This has made a lot of people\nvery angry.",
)


def train_tokenizer(
    directory: Path,
    texts: Sequence[str] | None = None,
    vocab_size: int = 200,
    *,
    add_bos: bool = True,
) -> PreTrainedTokenizerFast:
    """Train a small BPE tokenizer on ``texts`` (default: a built-in English text), save it with
    ``save_pretrained(directory)`` and return it reloaded from disk.

    Special tokens: ``<unk>`` 0, ``<pad>`` 1, ``<bos>`` 2, ``<eos>`` 3. With ``add_bos`` the
    default encoding (``tokenizer(text)``) starts with ``<bos>`` (as Llama's); with
    ``add_special_tokens=False`` it does not.
    """
    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    raw.train_from_iterator(list(texts) if texts is not None else ENGLISH.splitlines(), trainer)
    if add_bos:
        raw.post_processor = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 2)]
        )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
    )
    directory = Path(directory)
    wrapped.save_pretrained(directory)
    return PreTrainedTokenizerFast.from_pretrained(str(directory))


def write_corpus(directory: Path) -> dict[str, Path]:
    """Write small corpora with known documents into ``directory``.

    Returns ``{"txt": ..., "jsonl": ..., "parquet": ...}`` (parquet only when pyarrow is
    installed); their documents are :data:`TXT_DOCUMENTS`, :data:`JSONL_DOCUMENTS` and
    :data:`PARQUET_DOCUMENTS`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"txt": directory / "a.txt", "jsonl": directory / "b.jsonl"}
    paths["txt"].write_bytes(TXT_TEXT.encode())
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in JSONL_RECORDS) + "\n")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return paths
    paths["parquet"] = directory / "c.parquet"
    table = pa.table({"text": list(PARQUET_DOCUMENTS), "n": list(range(len(PARQUET_DOCUMENTS)))})
    pq.write_table(table, paths["parquet"])
    return paths


def write_gguf_tokenizer(path: Path, vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """Write a tiny GGUF file (architecture gpt2, one zero tensor) whose metadata holds a
    byte-level BPE tokenizer trained on :data:`ENGLISH`; return that tokenizer as transformers
    builds it from the ``tokenizers`` object (the oracle for what the GGUF loader must give).
    """
    import numpy as np
    from gguf import GGUFWriter

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(ENGLISH.splitlines(), trainer)
    model = json.loads(raw.to_str())["model"]
    tokens = [token for token, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    writer = GGUFWriter(str(path), "gpt2")
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_head_count(2)
    writer.add_feed_forward_length(16)
    writer.add_layer_norm_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])  # 3: control
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>")


ALPHA, C, L0_EXCESS = 0.9, 40.0, 0.5  # the designed law: loss(m) = ln V + 0.5 + 40 / m^0.9


def designed_loss(width: int, vocab: int = 200) -> float:
    """The loss the designed model of ``width`` has on any text (nats/token)."""
    return math.log(vocab) + L0_EXCESS + C / width**ALPHA


def designed_gpt2(directory: Path, width: int, loss: float | None = None) -> Path:
    """A tiny GPT-2 whose every prediction costs exactly ``loss`` nats (default
    ``designed_loss(width)``), saved with its tokenizer into ``directory`` (an analytic truth).

    ln_f's weight is zero and its bias e_0, so every position's hidden state is e_0; the tied
    embedding's column 0 is zero except for the <pad> row (never a target), which gets s. The
    logits are then s for <pad> and 0 elsewhere: -log p(target) = log(V - 1 + e^s) = ``loss``.
    """
    import tiny_models
    import torch

    tokenizer = train_tokenizer(directory)  # saved into the model folder
    vocab = len(tokenizer)
    loss = designed_loss(width, vocab) if loss is None else loss
    torch.manual_seed(width)
    model = tiny_models.gpt2(vocab=vocab, width=width)
    s = math.log(math.exp(loss) - (vocab - 1))
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.transformer.wte.weight[:, 0] = 0.0
        model.transformer.wte.weight[tokenizer.pad_token_id, 0] = s
    model.save_pretrained(directory)
    return directory


def one_line_error(kind: type[Exception], call) -> str:
    """The message of the ``kind`` error ``call()`` raises, checked to be one typed line."""
    import pytest

    from llmgeom.errors import LlmgeomError

    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, LlmgeomError) and message and "\n" not in message
    return message
