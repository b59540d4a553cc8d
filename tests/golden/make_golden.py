"""The golden run: tiny, seeded, offline inputs and the ``llmgeom`` commands run on them.

The JSON these commands wrote with llmgeom 0.1 (the version before the 1.0 refactor, issue 16)
is committed in ``tests/golden/v0_1/``; ``test_previous_version.py`` rebuilds the same inputs,
runs the same commands with the current code and compares. Regenerate the fixtures only on
purpose (they are the *previous version's* numbers)::

    PYTHONPATH=$PWD python tests/golden/make_golden.py tests/golden/v0_1

run in a checkout of the previous version (commit 9ecdd3c, with this folder copied in) when the
environment changes numbers or hashes that are not llmgeom's (a new transformers, torch or
tokenizers release).

Inputs are written from numpy's seeded generator and constants in this file, not from the
test helpers or from ``transformers``' random initialisation, so that nothing but llmgeom
itself can change them. Everything runs through the CLI (``llmgeom.cli.main``), the interface
kept stable across the refactor, with paths relative to the inputs folder (the working folder
while the commands run), so records hold the same ``source`` strings wherever they are made.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# ------------------------------------------------------------------------------ the inputs

TXT_CORPUS = """\
The cat sat on the mat. The dog sat on the log.
A bird sang in the tree, and the cat looked up.

It was a bright cold day in April, and the clocks were striking thirteen.

All happy families are alike; each unhappy family is unhappy in its own way.
The quick brown fox jumps over the lazy dog. The lazy dog did not move at all.

In the beginning the universe was created. This has made a lot of people very angry.
"""

JSONL_DOCUMENTS = (
    "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about.",
    "She sells sea shells by the sea shore; the shells she sells are surely sea shells.",
    "The cat and the dog and the bird sat in the tree on a bright cold day.",
)

SPECIAL_TOKENS = ("<unk>", "<pad>", "<bos>", "<eos>")

#: Width-loss table for ``fit loss``: L = C / m^ALPHA + L0(family, corpus), times seeded noise.
LOSS_LAW = {"C": 40.0, "alpha": 0.9}
LOSS_OFFSETS = {("gpt2", "wiki"): 3.1, ("gpt2", "c4"): 3.4, ("pythia", "wiki"): 3.0,
                ("pythia", "c4"): 3.3}  # fmt: skip
LOSS_WIDTHS = (64, 128, 256, 512, 1024, 2048)

#: Overlap zoo for ``fit overlap``: (folder, config.json model_type, head tensor, rows, width).
ZOO = (
    ("gpt2-w8", "gpt2", "transformer.wte.weight", 160, 8),
    ("gpt2-w16", "gpt2", "transformer.wte.weight", 200, 16),
    ("gpt2-w32", "gpt2", "transformer.wte.weight", 240, 32),
    ("pythia-w8", "gpt_neox", "embed_out.weight", 150, 8),
    ("pythia-w16", "gpt_neox", "embed_out.weight", 180, 16),
    ("pythia-w32", "gpt_neox", "embed_out.weight", 220, 32),
)

#: config.json's name for d_model, by model_type.
WIDTH_KEY = {"gpt2": "n_embd", "gpt_neox": "hidden_size"}

TOY_TOML = """\
# configs/toy-quick.toml at toy size: the same three runs (strong and two weak), seconds.
name = "golden"
n = 60
m = [4, 8, 16]
steps = 300
batch = 64
lr = 1e-2
warmup = 30
final_lr_fraction = 0.05
family = "power"
density = 1.0
seed = 0
eval_samples = 512
threads = 1

[[runs]]
gamma = -1.0
alpha = 1.0

[[runs]]
gamma = 0.1111111111111111
alpha = 2.0

[[runs]]
gamma = 0.3333333333333333
alpha = 2.0
"""


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _write_tokenizer(folder: Path, words: list[str]) -> int:
    """A word-level tokenizer over ``words`` (after the special tokens), <bos> prepended;
    saved with ``save_pretrained``. Returns its length."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    raw.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", bos_token="<bos>",
        eos_token="<eos>", model_max_length=64,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)
    return len(vocab)


def _write_language_model(folder: Path) -> None:
    """A one-layer GPT-2 (width 16, tied head) with every parameter drawn from a seeded
    generator in name order, and its tokenizer, both saved with ``save_pretrained``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    words = sorted({w for text in (TXT_CORPUS, *JSONL_DOCUMENTS) for w in text.split()})
    vocab = _write_tokenizer(folder, words[::2])  # half the words: <unk> occurs too
    config = GPT2Config(
        vocab_size=vocab, n_embd=16, n_layer=1, n_head=2, n_positions=64,
        bos_token_id=SPECIAL_TOKENS.index("<bos>"), eos_token_id=SPECIAL_TOKENS.index("<eos>"),
    )  # fmt: skip
    model = GPT2LMHeadModel(config)
    rng = _rng(1)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            values = rng.standard_normal(tuple(param.shape)) * 0.3
            param.copy_(torch.from_numpy(values.astype(np.float32)))
    model.save_pretrained(folder)


def _write_head_checkpoint(folder: Path, model_type: str, tensor: str, rows: int, width: int,
                           seed: int) -> None:  # fmt: skip
    """config.json (so the family is known) and model.safetensors holding only the head."""
    import safetensors.numpy

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": model_type, "vocab_size": rows, WIDTH_KEY[model_type]: width}
    if model_type == "gpt_neox":
        config["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(config, sort_keys=True))
    head = _rng(seed).standard_normal((rows, width)).astype(np.float32)
    safetensors.numpy.save_file({tensor: head}, str(folder / "model.safetensors"))


def _loss_table() -> str:
    rng = _rng(2)
    lines = ["model,family,corpus,m,loss"]
    for (family, corpus), offset in LOSS_OFFSETS.items():
        for m in LOSS_WIDTHS:
            law = LOSS_LAW["C"] / m ** LOSS_LAW["alpha"] + offset
            loss = law * (1.0 + 0.003 * rng.standard_normal())
            lines.append(f"{family}-{m},{family},{corpus},{m},{loss!r}")
    return "\n".join(lines) + "\n"


def write_inputs(root: Path) -> None:
    """Write every input of the golden run into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus").mkdir()
    (root / "corpus" / "wiki.txt").write_text(TXT_CORPUS)
    jsonl = "".join(json.dumps({"text": t}) + "\n" for t in JSONL_DOCUMENTS)
    (root / "corpus" / "c4.jsonl").write_text(jsonl)
    _write_language_model(root / "tiny-gpt2")
    (root / "heads").mkdir()
    np.save(root / "heads" / "head.npy", _rng(0).standard_normal((300, 24)).astype(np.float32))
    for seed, (name, model_type, tensor, rows, width) in enumerate(ZOO, start=10):
        _write_head_checkpoint(root / "zoo" / name, model_type, tensor, rows, width, seed)
    (root / "losses.csv").write_text(_loss_table())
    (root / "toy-golden.toml").write_text(TOY_TOML)


# ------------------------------------------------------------------------------ the commands

#: The golden commands, in order (freq first: measure --weights reads its counts). Paths are
#: relative to the inputs folder; every output goes under ``out/``.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("freq", "tiny-gpt2", "--corpus", "corpus/wiki.txt", "--corpus", "corpus/c4.jsonl",
     "--tokens", "0", "--out", "out/freq", "--no-progress"),
    ("loss", "tiny-gpt2", "--corpus", "corpus/wiki.txt", "--corpus", "corpus/c4.jsonl",
     "--device", "cpu", "--out", "out/loss", "--no-progress"),
    ("measure", "heads/head.npy", "--pairs", "exact", "--bins", "20", "--memory-budget", "40kB",
     "--device", "cpu", "--out", "out/measure-exact", "--no-progress"),
    ("measure", "heads/head.npy", "--pairs", "gram", "--device", "cpu",
     "--out", "out/measure-gram", "--no-progress"),
    ("measure", "tiny-gpt2", "--pairs", "exact", "--bins", "20", "--device", "cpu",
     "--weights", "out/freq/tiny-gpt2.wiki.counts.npz", "--out", "out/measure-weighted",
     "--no-progress"),
    *(
        ("measure", f"zoo/{name}", "--pairs", "gram", "--device", "cpu", "--out", "out/zoo",
         "--no-progress")
        for name, *_ in ZOO
    ),
    ("fit", "overlap", "out/zoo", "--bootstrap", "200", "--seed", "0", "--out", "out/fit-overlap"),
    ("fit", "loss", "losses.csv", "--bootstrap", "100", "--seed", "0", "--out", "out/fit-loss"),
    ("fit", "loss", "losses.csv", "--loss", "huber", "--bootstrap", "20", "--seed", "0",
     "--out", "out/fit-loss"),
    ("fit", "chinchilla", "--out", "out/fit-chinchilla"),
    ("toy", "run", "--config", "toy-golden.toml", "--device", "cpu", "--no-plots",
     "--no-progress", "--out", "out/toy"),
)  # fmt: skip


@contextlib.contextmanager
def _torch_threads() -> Iterator[None]:
    """The toy trainer sets torch's thread count and leaves it: put it back."""
    import torch

    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_commands(root: Path) -> Path:
    """Run :data:`COMMANDS` in ``root`` (quietly); return the output folder ``root / "out"``.

    A command that fails raises ``RuntimeError`` with its stderr.
    """
    from llmgeom.cli import main

    with contextlib.chdir(root), _torch_threads():
        for argv in COMMANDS:
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(list(argv))
            if code != 0:
                raise RuntimeError(f"llmgeom {' '.join(argv)} exited {code}: {stderr.getvalue()}")
    return root / "out"


#: What the inputs folder's absolute path is replaced with in the committed JSON (a few
#: records name the tokenizer folder by its absolute path); the test replaces it the same way.
INPUTS_PLACEHOLDER = "<inputs>"


def json_outputs(out: Path) -> list[Path]:
    """The JSON files under ``out``, relative to it, sorted."""
    return sorted(p.relative_to(out) for p in out.rglob("*.json"))


def read_output(path: Path, root: Path) -> str:
    """The text of an output file with ``root``'s absolute path replaced by
    :data:`INPUTS_PLACEHOLDER` (JSON escapes nothing in a POSIX temporary folder's path)."""
    text = path.read_text()
    for form in {str(root.resolve()), str(root)}:
        text = text.replace(form, INPUTS_PLACEHOLDER)
    return text


def main(argv: list[str]) -> int:
    """Write the inputs into a scratch folder, run the commands, write the JSON to ``argv[0]``."""
    import tempfile

    target = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "golden"
        write_inputs(root)
        out = run_commands(root)
        for rel in json_outputs(out):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_text(read_output(out / rel, root))
            print(f"wrote {target / rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
